/* kubeadm.c - kubeadm's certificate Secret format with OpenSSL's AES-256-GCM.
 *
 * Plaintext only in guarded memory; a failed decryption returns nothing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "cleanup.h"
#include "error.h"
#include "key.h"
#include "kubeadm.h"
#include "util.h"
#include "x509.h"

#define B64 sodium_base64_VARIANT_ORIGINAL

static void set_detail(char *detail, const char *what)
{
	if (detail)
		str_copy(detail, DETAIL_MAX, what);
}

int kubeadm_encrypt(const uint8_t *key, const uint8_t *pt, size_t len, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *out =
	    secret_new(len + KUBEADM_NONCE_BYTES + KUBEADM_TAG_BYTES);
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, finl = 0;

	if (!out || !ctx || len > INT32_MAX)
		return -EIO;
	if (RAND_bytes(out->data, KUBEADM_NONCE_BYTES) != 1)
		return -EIO;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out->data) != 1 ||
	    EVP_EncryptUpdate(ctx, out->data + KUBEADM_NONCE_BYTES, &outl, pt, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out->data + KUBEADM_NONCE_BYTES + outl, &finl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KUBEADM_TAG_BYTES,
				out->data + KUBEADM_NONCE_BYTES + outl + finl) != 1)
		return -EIO;
	out->len = KUBEADM_NONCE_BYTES + (size_t)outl + (size_t)finl + KUBEADM_TAG_BYTES;
	*ret = TAKE_PTR(out);
	return 0;
}

int kubeadm_decrypt(const uint8_t *key, const uint8_t *in, size_t len, struct secret **ret)
{
	if (len < KUBEADM_NONCE_BYTES + KUBEADM_TAG_BYTES)
		return -PKS_E_KUBEADM_SHORT;
	size_t ct_len = len - KUBEADM_NONCE_BYTES - KUBEADM_TAG_BYTES;
	_cleanup_(secret_freep) struct secret *out = secret_new(ct_len);
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, finl = 0;
	uint8_t tag[KUBEADM_TAG_BYTES];

	if (!out || !ctx || ct_len > INT32_MAX)
		return -ENOMEM;
	memcpy(tag, in + len - KUBEADM_TAG_BYTES, KUBEADM_TAG_BYTES);
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	    EVP_DecryptUpdate(ctx, out->data, &outl, in + KUBEADM_NONCE_BYTES, (int)ct_len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KUBEADM_TAG_BYTES, tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out->data + outl, &finl) == 1) {
		out->len = (size_t)outl + (size_t)finl;
		*ret = TAKE_PTR(out);
		return 0;
	}
	/* GCM decrypts before it authenticates: wipe what was produced. */
	secret_wipe(out->data, out->cap);
	return -PKS_E_AUTH;
}

/* kubeadm's Secret data key for a file name in the PKI directory: '/' becomes '-'. */
static void secret_key_of(const char *name, char out[PKI_NAME_MAX])
{
	str_copy(out, PKI_NAME_MAX, name);
	for (char *p = out; *p; p++)
		if (*p == '/')
			*p = '-';
}

static const struct pki_known *known_for_secret_key(const char *skey)
{
	for (size_t i = 0; i < pki_shared_files_count; i++) {
		char mapped[PKI_NAME_MAX];
		secret_key_of(pki_shared_files[i].name, mapped);
		if (strcmp(mapped, skey) == 0)
			return &pki_shared_files[i];
	}
	return NULL;
}

static int external_index(const char *skey)
{
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
		if (strcmp(kubeadm_external_keys[i], skey) == 0)
			return i;
	return -1;
}

/* Every private key must belong to the certificate (or public key) beside it. */
static int pairs_check(const struct pki_set *set, struct secret *const ext[KUBEADM_EXT_COUNT],
		       char *detail)
{
	static const char *const pairs[][2] = {{"ca.key", "ca.crt"},
					       {"front-proxy-ca.key", "front-proxy-ca.crt"},
					       {"etcd/ca.key", "etcd/ca.crt"},
					       {"sa.key", "sa.pub"}};
	for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
		const struct pki_entry *k = pki_set_find(set, pairs[i][0]);
		const struct pki_entry *p = pki_set_find(set, pairs[i][1]);
		if (!k && !p)
			continue;
		int r = k && p ? x509_pair_check(k->data->data, k->data->len, p->data->data,
						 p->data->len)
			       : -PKS_E_MISSING;
		if (r < 0) {
			if (detail)
				snprintf(detail, DETAIL_MAX, "%s and %s", pairs[i][0], pairs[i][1]);
			return r;
		}
	}
	const struct secret *ek = ext[KUBEADM_EXT_KEY], *ec = ext[KUBEADM_EXT_CERT];
	if ((ek || ec) &&
	    (!ek || !ec || x509_pair_check(ek->data, ek->len, ec->data, ec->len) < 0)) {
		set_detail(detail, EXT_ETCD_KEY_NAME " and " EXT_ETCD_CERT_NAME);
		return -PKS_E_PAIR;
	}
	return 0;
}

/* The Secret in json: the document itself or, in a List (pkishare export's: the Secret
 * and its RBAC), its first Secret; it must have a data map. */
static int secret_load(const char *json, size_t len, json_t **ret, char *detail)
{
	json_error_t jerr;
	if (len > KUBEADM_SECRET_MAX_BYTES) {
		set_detail(detail, "Secret larger than 1 MiB");
		return -PKS_E_TOO_BIG;
	}
	_cleanup_(json_decrefp) json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "not JSON: line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
		return -PKS_E_BUNDLE_FORMAT;
	}
	const char *kind = json_string_value(json_object_get(root, "kind"));
	if (kind && !strcmp(kind, "List")) {
		size_t i;
		json_t *item, *secret = NULL;
		json_array_foreach (json_object_get(root, "items"), i, item) {
			const char *k = json_string_value(json_object_get(item, "kind"));
			if (k && !strcmp(k, "Secret")) {
				secret = json_incref(item);
				break;
			}
		}
		json_decref(root);
		root = secret;
		if (!root) {
			set_detail(detail, "the List holds no Secret");
			return -PKS_E_BUNDLE_FORMAT;
		}
		kind = json_string_value(json_object_get(root, "kind"));
	}
	if (!kind || strcmp(kind, "Secret") != 0 ||
	    !json_is_object(json_object_get(root, "data"))) {
		set_detail(detail, "expected a Secret with a data map, as 'kubectl get secret "
				   "kubeadm-certs -n kube-system -o json' prints it");
		return -PKS_E_BUNDLE_FORMAT;
	}
	*ret = TAKE_PTR(root);
	return 0;
}

/* What the entries of a Secret opened into. */
struct opened {
	struct pki_set set;
	struct secret *ext[KUBEADM_EXT_COUNT];
	bool has_local_etcd, has_ext_etcd;
};

static void opened_done(struct opened *o)
{
	pki_set_clear(&o->set);
	ext_etcd_freep(&o->ext);
}

/* One entry's base64 (blen bytes at b64, not empty), decoded and decrypted under key. */
static int entry_decrypt(const char *skey, const char *b64, size_t blen, const uint8_t *key,
			 struct secret **ret, char *detail)
{
	_cleanup_(secret_freep) struct secret *raw = secret_new(blen / 4 * 3 + 3);
	const char *end = NULL;
	size_t raw_len = 0;
	if (!raw)
		return -ENOMEM;
	if (sodium_base642bin(raw->data, raw->cap, b64, blen, NULL, &raw_len, &end, B64) != 0 ||
	    end != b64 + blen) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "data[%s] is not valid base64", skey);
		return -PKS_E_BUNDLE_FORMAT;
	}
	int r = kubeadm_decrypt(key, raw->data, raw_len, ret);
	if (r < 0 && detail)
		snprintf(detail, DETAIL_MAX, "data[%s]", skey);
	return r;
}

/* One data entry: a known key whose value is a string (an empty one is a file kubeadm
 * found missing on disk), opened into o. */
static int open_entry(struct opened *o, const char *skey, json_t *v, const uint8_t *key,
		      char *detail)
{
	int ei = external_index(skey);
	const struct pki_known *k = ei < 0 ? known_for_secret_key(skey) : NULL;
	if (!k && ei < 0) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "unknown data key \"%.64s\"", skey);
		return -PKS_E_NAME;
	}
	if (k && !k->required && !k->external)
		o->has_local_etcd = true;
	if (ei >= 0)
		o->has_ext_etcd = true;
	if (!json_is_string(v) && !json_is_null(v)) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "data[%s] is not a string", skey);
		return -PKS_E_BUNDLE_FORMAT;
	}
	const char *b64 = json_is_string(v) ? json_string_value(v) : "";
	size_t blen = strlen(b64);
	if (blen == 0)
		return 0; /* kubeadm stores files missing on disk as empty entries */
	struct secret *pt = NULL;
	int r = entry_decrypt(skey, b64, blen, key, &pt, detail);
	if (r < 0)
		return r;
	if (ei >= 0) {
		o->ext[ei] = pt;
		return 0;
	}
	r = pki_set_add(&o->set, k->name, k->mode, pt);
	if (r < 0)
		set_detail(detail, skey);
	return r;
}

/* kubeadm's join requires every key it would have uploaded; kubeadm accepts emptied
 * required entries and swapped keys; we do not. */
static int opened_check(const struct opened *o, json_t *data, char *detail)
{
	for (size_t i = 0; i < pki_shared_files_count; i++) {
		const struct pki_known *k = &pki_shared_files[i];
		char mapped[PKI_NAME_MAX];
		secret_key_of(k->name, mapped);
		if (k->required && !json_object_get(data, mapped)) {
			if (detail)
				snprintf(detail, DETAIL_MAX,
					 "the Secret lacks the required key \"%s\"", mapped);
			return -PKS_E_MISSING;
		}
	}
	for (size_t i = 0; i < pki_shared_files_count; i++) {
		const struct pki_known *k = &pki_shared_files[i];
		char mapped[PKI_NAME_MAX];
		secret_key_of(k->name, mapped);
		if (k->required && !pki_set_find(&o->set, k->name)) {
			if (detail)
				snprintf(detail, DETAIL_MAX,
					 "the Secret's required entry \"%s\" is empty", mapped);
			return -PKS_E_MISSING;
		}
	}
	int r = pairs_check(&o->set, o->ext, detail);
	if (r < 0)
		return r;
	if (!o->has_local_etcd && !o->has_ext_etcd) {
		set_detail(detail, "the Secret has neither etcd-ca.* nor external-etcd-* keys");
		return -PKS_E_MISSING;
	}
	return 0;
}

int kubeadm_secret_open(const char *json, size_t len, const uint8_t *key, struct pki_set *ret,
			struct secret *ret_external[KUBEADM_EXT_COUNT], char *detail)
{
	_cleanup_(json_decrefp) json_t *root = NULL;
	_cleanup_(opened_done) struct opened o = {0};
	const char *skey;
	json_t *v;

	int r = secret_load(json, len, &root, detail);
	if (r < 0)
		return r;
	json_t *data = json_object_get(root, "data");
	json_object_foreach (data, skey, v) {
		r = open_entry(&o, skey, v, key, detail);
		if (r < 0)
			return r;
	}
	r = opened_check(&o, data, detail);
	if (r < 0)
		return r;
	pki_set_sort(&o.set);
	*ret = o.set;
	o.set.n = 0; /* handed out whole: opened_done must not free the entries */
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
		ret_external[i] = TAKE_PTR(o.ext[i]);
	return 0;
}

static int add_encrypted(json_t *data, const char *skey, const struct secret *pt,
			 const uint8_t *key)
{
	_cleanup_(secret_freep) struct secret *ct = NULL;
	int r = kubeadm_encrypt(key, pt->data, pt->len, &ct);
	if (r < 0)
		return r;
	size_t n = sodium_base64_ENCODED_LEN(ct->len, B64);
	_cleanup_(secret_freep) struct secret *b64 = secret_new(n);
	if (!b64)
		return -ENOMEM;
	sodium_bin2base64((char *)b64->data, n, ct->data, ct->len, B64);
	return json_object_set_new(data, skey, json_string((const char *)b64->data)) == 0 ? 0
											  : -ENOMEM;
}

/* kubeadm's Role and RoleBinding kubeadm:kubeadm-certs: the bootstrap token's group may
 * get this one Secret. */
static json_t *rbac_items(void)
{
	return json_pack("[{s:s, s:s, s:{s:s, s:s}, s:[{s:[s], s:[s], s:[s], s:[s]}]},"
			 " {s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}]",
			 "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "Role", "metadata",
			 "name", "kubeadm:kubeadm-certs", "namespace", "kube-system", "rules",
			 "apiGroups", "", "resources", "secrets", "resourceNames", "kubeadm-certs",
			 "verbs", "get", "apiVersion", "rbac.authorization.k8s.io/v1", "kind",
			 "RoleBinding", "metadata", "name", "kubeadm:kubeadm-certs", "namespace",
			 "kube-system", "roleRef", "apiGroup", "rbac.authorization.k8s.io", "kind",
			 "Role", "name", "kubeadm:kubeadm-certs", "subjects", "apiGroup",
			 "rbac.authorization.k8s.io", "kind", "Group", "name",
			 "system:bootstrappers:kubeadm:default-node-token");
}

int kubeadm_secret_build(const struct pki_set *plain,
			 const struct secret *const external[KUBEADM_EXT_COUNT], const uint8_t *key,
			 unsigned flags, struct secret **ret_json)
{
	json_t *data = json_object();
	int r = data ? 0 : -ENOMEM;
	for (size_t i = 0; r >= 0 && i < plain->n; i++) {
		char skey[PKI_NAME_MAX];
		const struct pki_known *k = pki_known_lookup(plain->e[i].name);
		if (k && k->external)
			continue; /* written from external[] below */
		if (!k) {
			r = -PKS_E_NAME;
			break;
		}
		secret_key_of(plain->e[i].name, skey);
		r = add_encrypted(data, skey, plain->e[i].data, key);
	}
	for (int i = 0; r >= 0 && i < KUBEADM_EXT_COUNT; i++)
		if (external && external[i])
			r = add_encrypted(data, kubeadm_external_keys[i], external[i], key);
		else if (flags & KUBEADM_BUILD_EXTERNAL)
			r = json_object_set_new(data, kubeadm_external_keys[i], json_string("")) ==
				    0
				? 0
				: -ENOMEM;
	json_t *root = r >= 0
			   ? json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:O}", "apiVersion", "v1",
				       "kind", "Secret", "metadata", "name", "kubeadm-certs",
				       "namespace", "kube-system", "type", "Opaque", "data", data)
			   : NULL;
	json_decref(data);
	if (r >= 0 && root && (flags & KUBEADM_BUILD_RBAC)) {
		json_t *items = rbac_items();
		if (!items) {
			json_decref(root);
			root = NULL;
		} else if (json_array_insert_new(items, 0, root) < 0) { /* root released */
			json_decref(items);
			root = NULL;
		} else {
			root = json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "List",
					 "items", items);
		}
	}
	if (r >= 0 && !root)
		r = -ENOMEM;
	if (r < 0) {
		json_decref(root);
		return r;
	}
	char *text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	struct secret *out = text ? secret_dup(text, strlen(text)) : NULL;
	if (out && secret_append(out, "\n", 1) < 0)
		out = secret_free(out);
	secret_json_free(text);
	if (!out)
		return -ENOMEM;
	*ret_json = out;
	return 0;
}

/* kubeadm's CA names, what each is called and which client certificates it signs. */
static const char *const ca_names[][3] = {
    {"kubernetes", "the cluster CA", "every kubelet's and component's client certificate"},
    {"front-proxy-ca", "the front-proxy CA",
     "front-proxy-client (the API server's aggregation client)"},
    {"etcd-ca", "the etcd CA", "apiserver-etcd-client and etcd's own certificates"},
};

static const char *const *ca_lookup(const char *cn)
{
	for (size_t i = 0; cn && i < ELEMENTSOF(ca_names); i++)
		if (!strcmp(cn, ca_names[i][0]))
			return ca_names[i];
	return NULL;
}

const char *kubeadm_ca_role(const char *cn)
{
	const char *const *n = ca_lookup(cn);
	return n ? n[1] : NULL;
}

const char *kubeadm_ca_signs(const char *cn)
{
	const char *const *n = ca_lookup(cn);
	return n ? n[2] : NULL;
}
