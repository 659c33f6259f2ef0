/* test-kubeadm.c - kubeadm's AES-256-GCM entries against Python cryptography's vectors,
 * the Secret round trip, and the errors (short entry, flipped byte, wrong key, swapped
 * or emptied entries). */
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "key.h"
#include "kubeadm.h"
#include "secret.h"
#include "test.h"
#include "util.h"
#include "x509.h"

/* A real shared PKI (P-256 for speed): every key pair matches. */
static void make_pki(struct pki_set *set)
{
	static const char *const cas[] = {"ca", "front-proxy-ca", "etcd/ca"};
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = NULL;
		X509 *c = NULL;
		struct secret *kp = NULL, *cp = NULL;
		char name[64];
		struct cert_spec spec = {.cn = cas[i], .is_ca = true, .days = 1};
		CHECK(x509_key_new(KEY_TYPE_P256, &k) == 0);
		CHECK(x509_cert_new(&spec, k, NULL, NULL, &c) == 0);
		CHECK(x509_key_pem(k, &kp) == 0 && x509_cert_pem(c, &cp) == 0);
		snprintf(name, sizeof(name), "%s.key", cas[i]);
		pki_set_add(set, name, 0600, kp);
		snprintf(name, sizeof(name), "%s.crt", cas[i]);
		pki_set_add(set, name, 0644, cp);
		EVP_PKEY_free(k);
		X509_free(c);
	}
	EVP_PKEY *sa = NULL;
	struct secret *kp = NULL, *pp = NULL;
	CHECK(x509_key_new(KEY_TYPE_P256, &sa) == 0);
	CHECK(x509_key_pem(sa, &kp) == 0 && x509_pubkey_pem(sa, &pp) == 0);
	pki_set_add(set, "sa.key", 0600, kp);
	pki_set_add(set, "sa.pub", 0644, pp);
	EVP_PKEY_free(sa);
}

/* The Secret of set with data[a] and data[b] swapped, or data[a] emptied (b NULL). */
static struct secret *tamper(const struct secret *json, const char *a, const char *b)
{
	json_t *root = json_loadb((const char *)json->data, json->len, 0, NULL);
	json_t *data = json_object_get(root, "data");
	json_t *va = json_incref(json_object_get(data, a));
	if (b) {
		json_object_set(data, a, json_object_get(data, b));
		json_object_set(data, b, va);
	} else {
		json_object_set_new(data, a, json_string(""));
	}
	json_decref(va);
	char *text = json_dumps(root, 0);
	struct secret *out = secret_dup(text, strlen(text));
	secret_json_free(text); /* jansson allocates through secret's wiping allocator */
	json_decref(root);
	return out;
}

int main(int argc, char **argv)
{
	char path[1024];
	CHECK(secret_init() == 0);
	CHECK(argc > 1);
	if (argc < 2)
		return test_done("test-kubeadm");
	snprintf(path, sizeof(path), "%s/kubeadm.json", argv[1]);
	json_t *v = json_load_file(path, 0, NULL);
	CHECK(v != NULL);
	if (!v)
		return test_done("test-kubeadm");
	size_t klen;
	unsigned char *key = test_unhex(json_string_value(json_object_get(v, "key")), &klen);
	json_t *e;
	size_t i;
	json_array_foreach (json_object_get(v, "entries"), i, e) {
		size_t plen, slen;
		unsigned char *pt =
		    test_unhex(json_string_value(json_object_get(e, "plaintext")), &plen);
		unsigned char *sealed =
		    test_unhex(json_string_value(json_object_get(e, "sealed")), &slen);
		struct secret *out = NULL;
		CHECK_EQ_INT(kubeadm_decrypt(key, sealed, slen, &out), 0);
		CHECK(out && out->len == plen && memcmp(out->data, pt, plen) == 0);
		secret_free(out);
		out = NULL;
		sealed[slen / 2] ^= 1;
		CHECK_EQ_INT(kubeadm_decrypt(key, sealed, slen, &out), -PKS_E_AUTH);
		CHECK(out == NULL);
		CHECK_EQ_INT(kubeadm_decrypt(key, sealed, 27, &out), -PKS_E_KUBEADM_SHORT);
		/* Our encryption opens with our decryption, with a fresh nonce each time. */
		struct secret *a = NULL, *b = NULL;
		CHECK_EQ_INT(kubeadm_encrypt(key, pt, plen, &a), 0);
		CHECK_EQ_INT(kubeadm_encrypt(key, pt, plen, &b), 0);
		CHECK(a->len == plen + 28 && memcmp(a->data, b->data, 12) != 0);
		CHECK_EQ_INT(kubeadm_decrypt(key, a->data, a->len, &out), 0);
		CHECK(out && out->len == plen && memcmp(out->data, pt, plen) == 0);
		secret_free(out);
		secret_free(a);
		secret_free(b);
		free(pt);
		free(sealed);
	}
	/* Secret round trip, and refusals. */
	struct pki_set plain = {0}, back = {0};
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	make_pki(&plain);
	struct secret *json = NULL;
	char detail[DETAIL_MAX];
	CHECK_EQ_INT(kubeadm_secret_build(&plain, NULL, key, 0, &json), 0);
	CHECK_EQ_INT(
	    kubeadm_secret_open((const char *)json->data, json->len, key, &back, ext, detail), 0);
	CHECK_EQ_INT(back.n, plain.n);
	const struct pki_entry *etcd = pki_set_find(&back, "etcd/ca.key");
	const struct pki_entry *etcd0 = pki_set_find(&plain, "etcd/ca.key");
	CHECK(etcd && etcd0 && etcd->mode == 0600 && etcd->data->len == etcd0->data->len &&
	      memcmp(etcd->data->data, etcd0->data->data, etcd->data->len) == 0);
	pki_set_clear(&back);
	/* Swapped keys open (each entry is authentic) but do not pair: refused. */
	struct secret *bad = tamper(json, "ca.key", "front-proxy-ca.key");
	CHECK_EQ_INT(
	    kubeadm_secret_open((const char *)bad->data, bad->len, key, &back, ext, detail),
	    -PKS_E_PAIR);
	CHECK(strstr(detail, "ca.key") != NULL);
	CHECK_EQ_INT(back.n, 0);
	secret_free(bad);
	bad = tamper(json, "sa.pub", "ca.crt");
	CHECK(kubeadm_secret_open((const char *)bad->data, bad->len, key, &back, ext, detail) < 0);
	CHECK_EQ_INT(back.n, 0);
	secret_free(bad);
	/* An emptied required entry: refused, naming it. */
	bad = tamper(json, "sa.key", NULL);
	CHECK_EQ_INT(
	    kubeadm_secret_open((const char *)bad->data, bad->len, key, &back, ext, detail),
	    -PKS_E_MISSING);
	CHECK(strstr(detail, "sa.key") != NULL);
	secret_free(bad);
	uint8_t other[KEY_BYTES];
	memset(other, 7, sizeof(other));
	CHECK_EQ_INT(
	    kubeadm_secret_open((const char *)json->data, json->len, other, &back, ext, detail),
	    -PKS_E_AUTH);
	CHECK_EQ_INT(back.n, 0);
	const char *not_secret = "{\"kind\":\"ConfigMap\",\"data\":{}}";
	CHECK_EQ_INT(kubeadm_secret_open(not_secret, strlen(not_secret), key, &back, ext, detail),
		     -PKS_E_BUNDLE_FORMAT);
	const char *empty = "{\"kind\":\"Secret\",\"data\":{}}";
	CHECK_EQ_INT(kubeadm_secret_open(empty, strlen(empty), key, &back, ext, detail),
		     -PKS_E_MISSING);
	secret_free(json);
	pki_set_clear(&plain);
	free(key);
	json_decref(v);
	return test_done("test-kubeadm");
}
