/* test-signer.c - the enrollment CA behind its one call (daemon core, signer.c): what it
 * issues verifies against the CA it names, for the key it was given and nothing else;
 * renewal and retirement keep every issued certificate verifiable until it lapses; bad
 * names and keys are refused before anything is signed. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "error.h"
#include "signer.h"
#include "test.h"
#include "x509.h"

#define NOW 1700000000
#define LIFE (30 * 24 * 3600)
#define TTL 600

static EVP_PKEY *key(enum key_type type)
{
	EVP_PKEY *k = NULL;
	CHECK_EQ_INT(x509_key_new(type, &k), 0);
	return k;
}

/* k's public key as DER SubjectPublicKeyInfo (OPENSSL_free it), length in *n. */
static unsigned char *spki(EVP_PKEY *k, size_t *n)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	*n = len > 0 ? (size_t)len : 0;
	return der;
}

static X509 *pem_cert(const struct secret *pem)
{
	X509 *c = NULL;
	CHECK_EQ_INT(x509_cert_load(pem->data, pem->len, &c), 0);
	return c;
}

static X509 *ca_now(struct signer *s, int which)
{
	struct secret *cur = NULL, *prev = NULL;
	CHECK_EQ_INT(signer_cas(s, &cur, &prev), 0);
	struct secret *want = which == 0 ? cur : prev;
	X509 *c = want ? pem_cert(want) : NULL;
	secret_free(cur);
	secret_free(prev);
	return c;
}

static void issued_certificate_is_a_client_certificate_for_that_key(void)
{
	struct signer *s = NULL;
	CHECK_EQ_INT(signer_new(LIFE, TTL, NOW, &s), 0);
	_cleanup_(evp_pkey_freep) EVP_PKEY *k = key(KEY_TYPE_P256);
	size_t n;
	unsigned char *der = spki(k, &n);
	struct secret *pem = NULL;
	CHECK_EQ_INT(signer_issue(s, der, n, "node-2", &pem), 0);
	_cleanup_(x509_freep) X509 *c = pem ? pem_cert(pem) : NULL;
	_cleanup_(x509_freep) X509 *ca = ca_now(s, 0);
	CHECK(c && ca);
	if (c && ca) {
		CHECK(X509_verify(c, X509_get0_pubkey(ca)) == 1);
		CHECK(X509_check_issued(ca, c) == X509_V_OK);
		CHECK(EVP_PKEY_eq(X509_get0_pubkey(c), k) == 1);
		char cn[80] = "";
		X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
		CHECK(!strcmp(cn, "node-2"));
		CHECK(X509_get_extended_key_usage(c) & XKU_SSL_CLIENT);
		CHECK(!(X509_get_extended_key_usage(c) & XKU_SSL_SERVER));
		CHECK(X509_check_ca(c) == 0);
		/* Valid the certificate lifetime the signer was given from now, not the
		 * CA's (notBefore is set back for clocks a little behind). */
		int days = 0, secs = 0;
		CHECK(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c)));
		CHECK(days == 0 && secs >= TTL - 5 && secs <= TTL + 5);
		CHECK(X509_check_ca(ca) >= 1);
		char cacn[80] = "";
		X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cacn,
					  sizeof(cacn));
		CHECK(!strncmp(cacn, "pkishared enrollment CA ", 24) && strlen(cacn) == 36);
	}
	secret_free(pem);
	OPENSSL_free(der);
	signer_free(s);
}

static void two_signers_have_different_names(void)
{
	struct signer *a = NULL, *b = NULL;
	CHECK_EQ_INT(signer_new(LIFE, TTL, NOW, &a), 0);
	CHECK_EQ_INT(signer_new(LIFE, TTL, NOW, &b), 0);
	_cleanup_(x509_freep) X509 *ca = ca_now(a, 0);
	_cleanup_(x509_freep) X509 *cb = ca_now(b, 0);
	CHECK(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_subject_name(cb)) != 0);
	signer_free(a);
	signer_free(b);
}

static void bad_names_and_keys_are_refused_before_signing(void)
{
	struct signer *s = NULL;
	CHECK_EQ_INT(signer_new(LIFE, TTL, NOW, &s), 0);
	_cleanup_(evp_pkey_freep) EVP_PKEY *k = key(KEY_TYPE_P256);
	size_t n;
	unsigned char *der = spki(k, &n);
	struct secret *pem = NULL;
	CHECK_EQ_INT(signer_issue(s, der, n, "", &pem), -EINVAL);
	CHECK_EQ_INT(signer_issue(s, der, n, "a b", &pem), -EINVAL);
	CHECK_EQ_INT(signer_issue(s, der, n, "node\n2", &pem), -EINVAL);
	char long_name[SIGNER_CN_MAX + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	CHECK_EQ_INT(signer_issue(s, der, n, long_name, &pem), -EINVAL);
	long_name[SIGNER_CN_MAX] = 0;
	CHECK(signer_name_ok(long_name));
	CHECK(signer_name_ok("cp-2.example:x_y"));
	CHECK_EQ_INT(signer_issue(s, der, n - 1, "node-2", &pem), -EINVAL);
	CHECK_EQ_INT(signer_issue(s, NULL, 0, "node-2", &pem), -EINVAL);
	/* Trailing bytes after the key are not a key. */
	unsigned char padded[512];
	memcpy(padded, der, n);
	padded[n] = 0;
	CHECK_EQ_INT(signer_issue(s, padded, n + 1, "node-2", &pem), -EINVAL);
	CHECK(pem == NULL);
	OPENSSL_free(der);

	/* A key outside the leaf policy (P-384 here) is refused as weak. */
	_cleanup_(evp_pkey_freep) EVP_PKEY *p384 = NULL;
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	CHECK(kc && EVP_PKEY_keygen_init(kc) == 1 &&
	      EVP_PKEY_CTX_set_group_name(kc, "secp384r1") == 1 && EVP_PKEY_keygen(kc, &p384) == 1);
	EVP_PKEY_CTX_free(kc);
	der = spki(p384, &n);
	CHECK_EQ_INT(signer_issue(s, der, n, "node-2", &pem), -PKS_E_WEAK_KEY);
	CHECK(pem == NULL);
	OPENSSL_free(der);
	signer_free(s);
}

static void renewal_keeps_issued_certificates_verifiable_until_they_lapse(void)
{
	struct signer *s = NULL;
	int64_t life = 100 * TTL;
	CHECK_EQ_INT(signer_new(life, TTL, NOW, &s), 0);
	CHECK_EQ_INT(signer_tick(s, NOW + 1), 0);
	CHECK_EQ_INT(signer_tick(s, NOW + life - 2 * TTL - 1), 0);
	_cleanup_(x509_freep) X509 *first = ca_now(s, 0);
	CHECK(ca_now(s, 1) == NULL);

	/* Two cert-ttl before the end: renewed; the first CA is now the previous one. */
	int64_t t = NOW + life - 2 * TTL;
	CHECK_EQ_INT(signer_tick(s, t), SIGNER_RENEWED);
	_cleanup_(x509_freep) X509 *cur = ca_now(s, 0);
	_cleanup_(x509_freep) X509 *prev = ca_now(s, 1);
	CHECK(cur && prev && X509_cmp(prev, first) == 0 && X509_cmp(cur, first) != 0);
	CHECK_EQ_INT(signer_tick(s, t + 1), 0);

	/* What the new one issues verifies against it. */
	_cleanup_(evp_pkey_freep) EVP_PKEY *k = key(KEY_TYPE_P256);
	size_t n;
	unsigned char *der = spki(k, &n);
	struct secret *pem = NULL;
	CHECK_EQ_INT(signer_issue(s, der, n, "node-3", &pem), 0);
	_cleanup_(x509_freep) X509 *c = pem ? pem_cert(pem) : NULL;
	CHECK(c && X509_verify(c, X509_get0_pubkey(cur)) == 1);
	secret_free(pem);
	OPENSSL_free(der);

	/* The previous one is trusted until every certificate it issued has lapsed. */
	CHECK_EQ_INT(signer_tick(s, t + TTL), 0);
	CHECK_EQ_INT(signer_tick(s, t + TTL + 1), SIGNER_RETIRED);
	CHECK(ca_now(s, 1) == NULL);
	_cleanup_(x509_freep) X509 *still = ca_now(s, 0);
	CHECK(still && X509_cmp(still, cur) == 0);
	signer_free(s);
}

static void nonsense_lifetimes_are_refused(void)
{
	struct signer *s = NULL;
	CHECK_EQ_INT(signer_new(0, TTL, NOW, &s), -EINVAL);
	CHECK_EQ_INT(signer_new(LIFE, -1, NOW, &s), -EINVAL);
	CHECK(s == NULL);
	CHECK(signer_free(NULL) == NULL);
}

static const struct test_case cases[] = {
    TEST(issued_certificate_is_a_client_certificate_for_that_key),
    TEST(two_signers_have_different_names),
    TEST(bad_names_and_keys_are_refused_before_signing),
    TEST(renewal_keeps_issued_certificates_verifiable_until_they_lapse),
    TEST(nonsense_lifetimes_are_refused),
};

int main(void)
{
	secret_init();
	return test_run("signer", cases, TEST_ELEMENTS(cases));
}
