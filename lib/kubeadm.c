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
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, finl = 0, r = -EIO;

	if (!out || !ctx || len > INT32_MAX)
		goto done;
	if (RAND_bytes(out->data, KUBEADM_NONCE_BYTES) != 1)
		goto done;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out->data) != 1 ||
	    EVP_EncryptUpdate(ctx, out->data + KUBEADM_NONCE_BYTES, &outl, pt, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out->data + KUBEADM_NONCE_BYTES + outl, &finl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KUBEADM_TAG_BYTES,
				out->data + KUBEADM_NONCE_BYTES + outl + finl) != 1)
		goto done;
	out->len = KUBEADM_NONCE_BYTES + (size_t)outl + (size_t)finl + KUBEADM_TAG_BYTES;
	*ret = TAKE_PTR(out);
	r = 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int kubeadm_decrypt(const uint8_t *key, const uint8_t *in, size_t len, struct secret **ret)
{
	if (len < KUBEADM_NONCE_BYTES + KUBEADM_TAG_BYTES)
		return -PKS_E_KUBEADM_SHORT;
	size_t ct_len = len - KUBEADM_NONCE_BYTES - KUBEADM_TAG_BYTES;
	_cleanup_(secret_freep) struct secret *out = secret_new(ct_len);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, finl = 0, r = -PKS_E_AUTH;
	uint8_t tag[KUBEADM_TAG_BYTES];

	if (!out || !ctx || ct_len > INT32_MAX) {
		EVP_CIPHER_CTX_free(ctx);
		return -ENOMEM;
	}
	memcpy(tag, in + len - KUBEADM_TAG_BYTES, KUBEADM_TAG_BYTES);
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	    EVP_DecryptUpdate(ctx, out->data, &outl, in + KUBEADM_NONCE_BYTES, (int)ct_len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KUBEADM_TAG_BYTES, tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out->data + outl, &finl) == 1) {
		out->len = (size_t)outl + (size_t)finl;
		*ret = TAKE_PTR(out);
		r = 0;
	} else {
		/* GCM decrypts before it authenticates: wipe what was produced. */
		secret_wipe(out->data, out->cap);
	}
	EVP_CIPHER_CTX_free(ctx);
	return r;
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

int kubeadm_secret_open(const char *json, size_t len, const uint8_t *key, struct pki_set *ret,
			struct secret *ret_external[KUBEADM_EXT_COUNT], char *detail)
{
	struct pki_set set = {0};
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	bool has_local_etcd = false, has_ext_etcd = false;
	json_error_t jerr;
	const char *skey;
	json_t *v;
	int r = 0;

	if (len > KUBEADM_SECRET_MAX_BYTES) {
		set_detail(detail, "Secret larger than 1 MiB");
		return -PKS_E_TOO_BIG;
	}
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "not JSON: line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
		return -PKS_E_BUNDLE_FORMAT;
	}
	const char *kind = json_string_value(json_object_get(root, "kind"));
	if (kind && !strcmp(kind, "List")) { /* pkishare export's: the Secret and its RBAC */
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
	json_t *data = json_object_get(root, "data");
	if (!kind || strcmp(kind, "Secret") != 0 || !json_is_object(data)) {
		json_decref(root);
		set_detail(detail, "expected a Secret with a data map, as 'kubectl get secret "
				   "kubeadm-certs -n kube-system -o json' prints it");
		return -PKS_E_BUNDLE_FORMAT;
	}
	json_object_foreach (data, skey, v) {
		int ei = external_index(skey);
		const struct pki_known *k = ei < 0 ? known_for_secret_key(skey) : NULL;
		if (!k && ei < 0) {
			if (detail)
				snprintf(detail, DETAIL_MAX, "unknown data key \"%.64s\"", skey);
			r = -PKS_E_NAME;
			break;
		}
		if (k && !k->required && !k->external)
			has_local_etcd = true;
		if (ei >= 0)
			has_ext_etcd = true;
		if (!json_is_string(v) && !json_is_null(v)) {
			if (detail)
				snprintf(detail, DETAIL_MAX, "data[%s] is not a string", skey);
			r = -PKS_E_BUNDLE_FORMAT;
			break;
		}
		const char *b64 = json_is_string(v) ? json_string_value(v) : "";
		size_t blen = strlen(b64), raw_len = 0;
		if (blen == 0)
			continue; /* kubeadm stores files missing on disk as empty entries */
		_cleanup_(secret_freep) struct secret *raw = secret_new(blen / 4 * 3 + 3);
		const char *end = NULL;
		if (!raw) {
			r = -ENOMEM;
			break;
		}
		if (sodium_base642bin(raw->data, raw->cap, b64, blen, NULL, &raw_len, &end, B64) !=
			0 ||
		    end != b64 + blen) {
			if (detail)
				snprintf(detail, DETAIL_MAX, "data[%s] is not valid base64", skey);
			r = -PKS_E_BUNDLE_FORMAT;
			break;
		}
		struct secret *pt = NULL;
		r = kubeadm_decrypt(key, raw->data, raw_len, &pt);
		if (r < 0) {
			if (detail)
				snprintf(detail, DETAIL_MAX, "data[%s]", skey);
			break;
		}
		if (ei >= 0) {
			ext[ei] = pt;
		} else {
			r = pki_set_add(&set, k->name, k->mode, pt);
			if (r < 0) {
				set_detail(detail, skey);
				break;
			}
		}
	}
	if (r >= 0) {
		/* kubeadm's join requires every key it would have uploaded. */
		for (size_t i = 0; i < pki_shared_files_count && r >= 0; i++) {
			const struct pki_known *k = &pki_shared_files[i];
			char mapped[PKI_NAME_MAX];
			secret_key_of(k->name, mapped);
			if (k->required && !json_object_get(data, mapped)) {
				if (detail)
					snprintf(detail, DETAIL_MAX,
						 "the Secret lacks the required key \"%s\"",
						 mapped);
				r = -PKS_E_MISSING;
			}
		}
		/* kubeadm accepts emptied required entries and swapped keys; we do not. */
		for (size_t i = 0; i < pki_shared_files_count && r >= 0; i++) {
			const struct pki_known *k = &pki_shared_files[i];
			char mapped[PKI_NAME_MAX];
			secret_key_of(k->name, mapped);
			if (k->required && !pki_set_find(&set, k->name)) {
				if (detail)
					snprintf(detail, DETAIL_MAX,
						 "the Secret's required entry \"%s\" is empty",
						 mapped);
				r = -PKS_E_MISSING;
			}
		}
		r = r < 0 ? r : pairs_check(&set, ext, detail);
		if (r >= 0 && !has_local_etcd && !has_ext_etcd) {
			set_detail(detail,
				   "the Secret has neither etcd-ca.* nor external-etcd-* keys");
			r = -PKS_E_MISSING;
		}
	}
	json_decref(root);
	if (r < 0) {
		pki_set_clear(&set);
		for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
			secret_free(ext[i]);
		return r;
	}
	pki_set_sort(&set);
	*ret = set;
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
		ret_external[i] = ext[i];
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
