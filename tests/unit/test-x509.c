/* test-x509.c - the one narrow interface to key pairs and certificates (x509.c): what it
 * makes verifies with OpenSSL's own checks, PEM round trips, pairs, the key policy and
 * CSRs. */
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "error.h"
#include "test.h"
#include "x509.h"

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca, *leaf;

static void make_fixture(void)
{
	const char *dns[] = {"cp1.example"}, *ips[] = {"10.0.0.1"};
	struct cert_spec cs = {.cn = "test-ca", .is_ca = true, .days = 1};
	struct cert_spec ls = {.cn = "node-2",
			       .org = "system:masters",
			       .dns = dns,
			       .n_dns = 1,
			       .ips = ips,
			       .n_ips = 1,
			       .client_auth = true,
			       .seconds = 600};
	if (x509_key_new(KEY_TYPE_P256, &ca_key) < 0 ||
	    x509_key_new(KEY_TYPE_P256, &leaf_key) < 0 ||
	    x509_cert_new(&cs, ca_key, NULL, NULL, &ca) < 0 ||
	    x509_cert_new(&ls, leaf_key, ca, ca_key, &leaf) < 0) {
		fprintf(stderr, "cannot make the fixture\n");
		exit(1);
	}
}

static void ca_is_self_signed_and_a_ca(void)
{
	CHECK_EQ_INT(X509_verify(ca, ca_key), 1);
	CHECK_EQ_INT(X509_check_ca(ca), 1);
	CHECK_EQ_INT(X509_check_issued(ca, ca), X509_V_OK);
}

static void leaf_verifies_under_the_ca_with_openssl(void)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(vctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
	CHECK_EQ_INT(X509_verify_cert(vctx), 1);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	CHECK_EQ_INT(X509_check_ca(leaf), 0);
	CHECK_EQ_INT(X509_check_host(leaf, "cp1.example", 0, 0, NULL), 1);
	CHECK_EQ_INT(X509_check_ip_asc(leaf, "10.0.0.1", 0), 1);
	CHECK(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
	CHECK(!(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER));
}

static void validity_in_seconds_is_honoured(void)
{
	int days = 0, secs = 0;
	CHECK_EQ_INT(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)), 1);
	CHECK_EQ_INT(days * 86400 + secs, 600 + 300); /* notBefore is 5 minutes back */
}

static void pem_round_trips_in_guarded_memory(void)
{
	_cleanup_(secret_freep) struct secret *kpem = NULL, *cpem = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL;
	_cleanup_(x509_freep) X509 *c = NULL;
	CHECK_EQ_INT(x509_key_pem(leaf_key, &kpem), 0);
	CHECK(strstr((const char *)kpem->data, "-----BEGIN EC PRIVATE KEY-----") != NULL);
	CHECK_EQ_INT(x509_key_load(kpem->data, kpem->len, &k), 0);
	CHECK_EQ_INT(EVP_PKEY_eq(k, leaf_key), 1);
	CHECK_EQ_INT(x509_cert_pem(leaf, &cpem), 0);
	CHECK_EQ_INT(x509_cert_load(cpem->data, cpem->len, &c), 0);
	CHECK_EQ_INT(X509_cmp(c, leaf), 0);
	CHECK_EQ_INT(x509_key_load("garbage", 7, &k), -PKS_E_X509);
	CHECK_EQ_INT(x509_cert_load("garbage", 7, &c), -PKS_E_X509);
}

static void pair_check_tells_a_swapped_key(void)
{
	_cleanup_(secret_freep) struct secret *kpem = NULL, *cpem = NULL, *ca_pem = NULL,
					      *pub = NULL;
	x509_key_pem(leaf_key, &kpem);
	x509_cert_pem(leaf, &cpem);
	x509_cert_pem(ca, &ca_pem);
	x509_pubkey_pem(leaf_key, &pub);
	CHECK_EQ_INT(x509_pair_check(kpem->data, kpem->len, cpem->data, cpem->len), 0);
	CHECK_EQ_INT(x509_pair_check(kpem->data, kpem->len, pub->data, pub->len), 0);
	CHECK_EQ_INT(x509_pair_check(kpem->data, kpem->len, ca_pem->data, ca_pem->len),
		     -PKS_E_PAIR);
	CHECK_EQ_INT(x509_pair_check(kpem->data, kpem->len, "x", 1), -PKS_E_X509);
}

static void key_policy_takes_p256_and_rsa_2048_to_4096(void)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *rsa = NULL, *p384 = NULL, *small = NULL, *ed = NULL;
	CHECK_EQ_INT(x509_key_policy_check(leaf_key), 0);
	CHECK_EQ_INT(x509_key_new(KEY_TYPE_RSA2048, &rsa), 0);
	CHECK_EQ_INT(x509_key_policy_check(rsa), 0);
	CHECK_EQ_INT(x509_key_new(KEY_TYPE_P384, &p384), 0);
	CHECK_EQ_INT(x509_key_policy_check(p384), -PKS_E_WEAK_KEY);
	small = EVP_RSA_gen(1024);
	CHECK_EQ_INT(x509_key_policy_check(small), -PKS_E_WEAK_KEY);
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	CHECK_EQ_INT(x509_key_policy_check(ed), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_policy_check(NULL), -PKS_E_WEAK_KEY);
}

/* The policy on parameters, as the handshake reads them from a presented chain: the
 * client's own key strictly, one above it by what it costs to verify (what
 * tests/integration/hugekey.go attacks). */
static void key_facts_check_the_leaf_strictly_and_a_ca_by_cost(void)
{
	struct key_facts p256 = {.kind = KEY_KIND_EC, .curve = KEY_CURVE_P256};
	struct key_facts p384 = {.kind = KEY_KIND_EC, .curve = KEY_CURVE_P384};
	struct key_facts odd = {.kind = KEY_KIND_EC, .curve = KEY_CURVE_OTHER};
	struct key_facts ed = {.kind = KEY_KIND_EDDSA};
	struct key_facts rsa = {
	    .kind = KEY_KIND_RSA, .bits = 4096, .e_bits = 17, .e_is_f4 = true, .e_odd = true};
	struct key_facts rsa8k = rsa, e3 = rsa, huge_e = rsa, even_e = rsa, other = {0};
	rsa8k.bits = 8192;
	e3.e_bits = 2;
	e3.e_is_f4 = false;
	huge_e.e_bits = 16384;
	huge_e.e_is_f4 = false;
	even_e.e_odd = false;
	even_e.e_is_f4 = false;

	CHECK_EQ_INT(x509_key_facts_check(&p256, true), 0);
	CHECK_EQ_INT(x509_key_facts_check(&rsa, true), 0);
	CHECK_EQ_INT(x509_key_facts_check(&p384, true), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&ed, true), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&rsa8k, true), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&e3, true), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&p384, false), 0);
	CHECK_EQ_INT(x509_key_facts_check(&ed, false), 0);
	CHECK_EQ_INT(x509_key_facts_check(&rsa8k, false), 0);
	CHECK_EQ_INT(x509_key_facts_check(&e3, false), 0);
	CHECK_EQ_INT(x509_key_facts_check(&huge_e, false), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&even_e, false), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&odd, false), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_key_facts_check(&other, false), -PKS_E_WEAK_KEY);
	rsa8k.bits = 8193;
	CHECK_EQ_INT(x509_key_facts_check(&rsa8k, false), -PKS_E_WEAK_KEY);
}

static void csr_round_trips_with_its_cn(void)
{
	_cleanup_(secret_freep) struct secret *pem = NULL;
	_cleanup_(x509_req_freep) X509_REQ *req = NULL;
	char cn[64];
	CHECK_EQ_INT(x509_csr_new(leaf_key, "node-3", &pem), 0);
	CHECK_EQ_INT(x509_csr_load(pem->data, pem->len, &req, cn, sizeof(cn)), 0);
	CHECK(!strcmp(cn, "node-3"));
	CHECK_EQ_INT(X509_REQ_verify(req, leaf_key), 1);
}

static void csr_refuses_a_weak_key_bad_cn_and_a_short_buffer(void)
{
	_cleanup_(secret_freep) struct secret *pem = NULL, *pem2 = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *p384 = NULL;
	X509_REQ *req = NULL;
	char cn[64];
	x509_key_new(KEY_TYPE_P384, &p384);
	CHECK_EQ_INT(x509_csr_new(p384, "node-3", &pem), 0);
	CHECK_EQ_INT(x509_csr_load(pem->data, pem->len, &req, cn, sizeof(cn)), -PKS_E_WEAK_KEY);
	CHECK_EQ_INT(x509_csr_new(leaf_key, "node\x01", &pem2), 0);
	CHECK_EQ_INT(x509_csr_load(pem2->data, pem2->len, &req, cn, sizeof(cn)), -PKS_E_X509);
	CHECK_EQ_INT(x509_csr_load("junk", 4, &req, cn, sizeof(cn)), -PKS_E_X509);
	CHECK(req == NULL); /* never written on failure */
}

/* keyEncipherment only for an RSA subject key (RFC 5480 lists what an EC key may have). */
static void key_encipherment_only_for_rsa_keys(void)
{
	CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
	CHECK(X509_get_key_usage(ca) == (KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN));
	_cleanup_(evp_pkey_freep) EVP_PKEY *rsa = NULL;
	_cleanup_(x509_freep) X509 *rleaf = NULL, *rca = NULL;
	struct cert_spec ls = {.cn = "node-r", .server_auth = true, .days = 1};
	struct cert_spec cs = {.cn = "rsa-ca", .is_ca = true, .days = 1};
	CHECK_EQ_INT(x509_key_new(KEY_TYPE_RSA2048, &rsa), 0);
	CHECK_EQ_INT(x509_cert_new(&ls, rsa, ca, ca_key, &rleaf), 0);
	CHECK_EQ_INT(x509_cert_new(&cs, rsa, NULL, NULL, &rca), 0);
	CHECK(rleaf && X509_get_key_usage(rleaf) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
	CHECK(rca && X509_get_key_usage(rca) ==
			 (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_CERT_SIGN));
}

static const struct test_case cases[] = {
    TEST(ca_is_self_signed_and_a_ca),
    TEST(key_encipherment_only_for_rsa_keys),
    TEST(leaf_verifies_under_the_ca_with_openssl),
    TEST(validity_in_seconds_is_honoured),
    TEST(pem_round_trips_in_guarded_memory),
    TEST(pair_check_tells_a_swapped_key),
    TEST(key_policy_takes_p256_and_rsa_2048_to_4096),
    TEST(key_facts_check_the_leaf_strictly_and_a_ca_by_cost),
    TEST(csr_round_trips_with_its_cn),
    TEST(csr_refuses_a_weak_key_bad_cn_and_a_short_buffer),
};

int main(void)
{
	secret_init();
	make_fixture();
	int r = test_run("x509", cases, TEST_ELEMENTS(cases));
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	return r;
}
