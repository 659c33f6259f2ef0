/* test-kubeadm.c - kubeadm's AES-256-GCM entries against Python cryptography's vectors,
 * the Secret round trip, and the errors (short entry, flipped byte, wrong key, swapped
 * or emptied entries). One behaviour per case. */
#include <stdlib.h>
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

/* Python cryptography's vectors (kubeadm.json in the directory given as argv[1]) and their
 * key. */
static json_t *vectors;
static unsigned char *vkey;

typedef void (*vector_fn)(const unsigned char *pt, size_t plen, unsigned char *sealed, size_t slen);

static void for_each_vector(vector_fn fn)
{
	json_t *e;
	size_t i;
	json_array_foreach (json_object_get(vectors, "entries"), i, e) {
		size_t plen, slen;
		unsigned char *pt =
		    test_unhex(json_string_value(json_object_get(e, "plaintext")), &plen);
		unsigned char *sealed =
		    test_unhex(json_string_value(json_object_get(e, "sealed")), &slen);
		fn(pt, plen, sealed, slen);
		free(pt);
		free(sealed);
	}
}

static void opens(const unsigned char *pt, size_t plen, unsigned char *sealed, size_t slen)
{
	struct secret *out = NULL;
	CHECK_EQ_INT(kubeadm_decrypt(vkey, sealed, slen, &out), 0);
	CHECK(out && out->len == plen && memcmp(out->data, pt, plen) == 0);
	secret_free(out);
}
static void kubeadm_decrypt_opens_the_python_vectors(void)
{
	for_each_vector(opens);
}

static void flipped(const unsigned char *pt, size_t plen, unsigned char *sealed, size_t slen)
{
	(void)pt;
	(void)plen;
	struct secret *out = NULL;
	sealed[slen / 2] ^= 1;
	CHECK_EQ_INT(kubeadm_decrypt(vkey, sealed, slen, &out), -PKS_E_AUTH);
	CHECK(out == NULL);
}
static void kubeadm_decrypt_refuses_a_flipped_byte_and_returns_nothing(void)
{
	for_each_vector(flipped);
}

static void short_entry(const unsigned char *pt, size_t plen, unsigned char *sealed, size_t slen)
{
	(void)pt;
	(void)plen;
	(void)slen;
	struct secret *out = NULL;
	CHECK_EQ_INT(kubeadm_decrypt(vkey, sealed, 27, &out), -PKS_E_KUBEADM_SHORT);
}
static void kubeadm_decrypt_refuses_a_short_entry(void)
{
	for_each_vector(short_entry);
}

/* Our encryption opens with our decryption, with a fresh nonce each time. */
static void round_trip(const unsigned char *pt, size_t plen, unsigned char *sealed, size_t slen)
{
	(void)sealed;
	(void)slen;
	_cleanup_(secret_freep) struct secret *a = NULL, *b = NULL, *out = NULL;
	CHECK_EQ_INT(kubeadm_encrypt(vkey, pt, plen, &a), 0);
	CHECK_EQ_INT(kubeadm_encrypt(vkey, pt, plen, &b), 0);
	CHECK(a && b);
	if (!a || !b)
		return;
	CHECK(a->len == plen + 28 && memcmp(a->data, b->data, 12) != 0);
	CHECK_EQ_INT(kubeadm_decrypt(vkey, a->data, a->len, &out), 0);
	CHECK(out && out->len == plen && memcmp(out->data, pt, plen) == 0);
}
static void kubeadm_encrypt_opens_with_decrypt_and_a_fresh_nonce(void)
{
	for_each_vector(round_trip);
}

/* A shared PKI (make_pki) and its Secret under vkey. */
struct secret_fixture {
	struct pki_set plain;
	struct secret *json;
};

static void fixture_start(struct secret_fixture *f)
{
	*f = (struct secret_fixture){0};
	make_pki(&f->plain);
	CHECK_EQ_INT(kubeadm_secret_build(&f->plain, NULL, vkey, 0, &f->json), 0);
}

static void fixture_end(struct secret_fixture *f)
{
	pki_set_clear(&f->plain);
	f->json = secret_free(f->json);
}

static int open_secret(const struct secret *json, const uint8_t *key, struct pki_set *back,
		       char *detail)
{
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	return kubeadm_secret_open((const char *)json->data, json->len, key, back, ext, detail);
}

static void kubeadm_secret_round_trips_every_file_and_mode(void)
{
	struct secret_fixture f;
	struct pki_set back = {0};
	char detail[DETAIL_MAX];
	fixture_start(&f);
	CHECK_EQ_INT(open_secret(f.json, vkey, &back, detail), 0);
	CHECK_EQ_INT(back.n, f.plain.n);
	const struct pki_entry *etcd = pki_set_find(&back, "etcd/ca.key");
	const struct pki_entry *etcd0 = pki_set_find(&f.plain, "etcd/ca.key");
	CHECK(etcd && etcd0 && etcd->mode == 0600 && etcd->data->len == etcd0->data->len &&
	      memcmp(etcd->data->data, etcd0->data->data, etcd->data->len) == 0);
	pki_set_clear(&back);
	fixture_end(&f);
}

/* Swapped keys open (each entry is authentic) but do not pair: refused. */
static void kubeadm_secret_refuses_swapped_private_keys(void)
{
	struct secret_fixture f;
	struct pki_set back = {0};
	char detail[DETAIL_MAX];
	fixture_start(&f);
	_cleanup_(secret_freep) struct secret *bad = tamper(f.json, "ca.key", "front-proxy-ca.key");
	CHECK_EQ_INT(open_secret(bad, vkey, &back, detail), -PKS_E_PAIR);
	CHECK(strstr(detail, "ca.key") != NULL);
	CHECK_EQ_INT(back.n, 0);
	fixture_end(&f);
}

static void kubeadm_secret_refuses_a_certificate_swapped_with_a_public_key(void)
{
	struct secret_fixture f;
	struct pki_set back = {0};
	char detail[DETAIL_MAX];
	fixture_start(&f);
	_cleanup_(secret_freep) struct secret *bad = tamper(f.json, "sa.pub", "ca.crt");
	CHECK(open_secret(bad, vkey, &back, detail) < 0);
	CHECK_EQ_INT(back.n, 0);
	fixture_end(&f);
}

static void kubeadm_secret_refuses_an_emptied_required_entry_naming_it(void)
{
	struct secret_fixture f;
	struct pki_set back = {0};
	char detail[DETAIL_MAX];
	fixture_start(&f);
	_cleanup_(secret_freep) struct secret *bad = tamper(f.json, "sa.key", NULL);
	CHECK_EQ_INT(open_secret(bad, vkey, &back, detail), -PKS_E_MISSING);
	CHECK(strstr(detail, "sa.key") != NULL);
	fixture_end(&f);
}

static void kubeadm_secret_under_another_key_is_refused_as_auth(void)
{
	struct secret_fixture f;
	struct pki_set back = {0};
	char detail[DETAIL_MAX];
	uint8_t other[KEY_BYTES];
	memset(other, 7, sizeof(other));
	fixture_start(&f);
	CHECK_EQ_INT(open_secret(f.json, other, &back, detail), -PKS_E_AUTH);
	CHECK_EQ_INT(back.n, 0);
	fixture_end(&f);
}

static void kubeadm_secret_open_refuses_what_is_not_a_secret(void)
{
	struct pki_set back = {0};
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	char detail[DETAIL_MAX];
	const char *not_secret = "{\"kind\":\"ConfigMap\",\"data\":{}}";
	CHECK_EQ_INT(kubeadm_secret_open(not_secret, strlen(not_secret), vkey, &back, ext, detail),
		     -PKS_E_BUNDLE_FORMAT);
}

static void kubeadm_secret_open_refuses_a_secret_without_entries(void)
{
	struct pki_set back = {0};
	struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	char detail[DETAIL_MAX];
	const char *empty = "{\"kind\":\"Secret\",\"data\":{}}";
	CHECK_EQ_INT(kubeadm_secret_open(empty, strlen(empty), vkey, &back, ext, detail),
		     -PKS_E_MISSING);
}

static void ca_roles_by_kubeadm_names(void)
{
	CHECK(!strcmp(kubeadm_ca_role("kubernetes"), "the cluster CA"));
	CHECK(!strcmp(kubeadm_ca_role("front-proxy-ca"), "the front-proxy CA"));
	CHECK(!strcmp(kubeadm_ca_role("etcd-ca"), "the etcd CA"));
	CHECK(kubeadm_ca_role("pkishare-node-identity-ca") == NULL);
	CHECK(kubeadm_ca_role("Kubernetes") == NULL); /* kubeadm's names, exactly */
	CHECK(kubeadm_ca_role("") == NULL);
	CHECK(kubeadm_ca_role(NULL) == NULL);
	/* What each signs, per CA: not every kubeadm client certificate for every CA. */
	CHECK(strstr(kubeadm_ca_signs("kubernetes"), "every kubelet's") != NULL);
	CHECK(!strcmp(kubeadm_ca_signs("front-proxy-ca"),
		      "front-proxy-client (the API server's aggregation client)"));
	CHECK(strstr(kubeadm_ca_signs("etcd-ca"), "apiserver-etcd-client") != NULL);
	CHECK(strstr(kubeadm_ca_signs("etcd-ca"), "kubelet") == NULL);
	CHECK(kubeadm_ca_signs("Kubernetes") == NULL);
	CHECK(kubeadm_ca_signs(NULL) == NULL);
}

static const struct test_case cases[] = {
    TEST(ca_roles_by_kubeadm_names),
    TEST(kubeadm_decrypt_opens_the_python_vectors),
    TEST(kubeadm_decrypt_refuses_a_flipped_byte_and_returns_nothing),
    TEST(kubeadm_decrypt_refuses_a_short_entry),
    TEST(kubeadm_encrypt_opens_with_decrypt_and_a_fresh_nonce),
    TEST(kubeadm_secret_round_trips_every_file_and_mode),
    TEST(kubeadm_secret_refuses_swapped_private_keys),
    TEST(kubeadm_secret_refuses_a_certificate_swapped_with_a_public_key),
    TEST(kubeadm_secret_refuses_an_emptied_required_entry_naming_it),
    TEST(kubeadm_secret_under_another_key_is_refused_as_auth),
    TEST(kubeadm_secret_open_refuses_what_is_not_a_secret),
    TEST(kubeadm_secret_open_refuses_a_secret_without_entries),
};

int main(int argc, char **argv)
{
	char path[1024];
	if (argc < 2 || secret_init() != 0) {
		fprintf(stderr, "usage: test-kubeadm VECTORS_DIR\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/kubeadm.json", argv[1]);
	vectors = json_load_file(path, 0, NULL);
	if (!vectors) {
		fprintf(stderr, "test-kubeadm: cannot read %s\n", path);
		return 1;
	}
	size_t klen;
	vkey = test_unhex(json_string_value(json_object_get(vectors, "key")), &klen);
	int r = test_run("kubeadm", cases, TEST_ELEMENTS(cases));
	free(vkey);
	json_decref(vectors);
	return r;
}
