/* test-secret.c - OpenSSL's secure heap (secret_openssl_heap_init): once set up, the private
 * keys OpenSSL holds, parsed from PEM or generated, live in it and leave it when freed,
 * and three CA keys with node keys generated and signed while they are loaded fit in it.
 * (RSA-4096, kubeadm's largest, fits too; it is left out here because its generation
 * takes minutes under valgrind, which runs this test.) */
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "secret.h"
#include "test.h"
#include "x509.h"

/* Generate, serialise, free and reload a key; the secure heap's use must rise while
 * each one lives and fall back after. Returns the reloaded key. */
static EVP_PKEY *roundtrip(enum key_type type)
{
	EVP_PKEY *key = NULL, *back = NULL;
	struct secret *pem = NULL;
	size_t before = CRYPTO_secure_used();
	CHECK_EQ_INT(x509_key_new(type, &key), 0);
	CHECK(CRYPTO_secure_used() > before);
	CHECK_EQ_INT(x509_key_pem(key, &pem), 0);
	EVP_PKEY_free(key);
	size_t gone = CRYPTO_secure_used();
	CHECK_EQ_INT(x509_key_load(pem->data, pem->len, &back), 0);
	CHECK(CRYPTO_secure_used() > gone);
	secret_free(pem);
	return back;
}

int main(void)
{
	CHECK(secret_init() == 0);
	/* (CRYPTO_secure_used() dereferences a lock that exists only after the set-up.) */
	CHECK(!CRYPTO_secure_malloc_initialized());
	/* 1: set up but not locked, where RLIMIT_MEMLOCK is small; still a secure heap. */
	int r = secret_openssl_heap_init(SECRET_OPENSSL_HEAP_BYTES);
	CHECK(r == 0 || r == 1);
	CHECK(CRYPTO_secure_malloc_initialized());
	CHECK_EQ_INT(secret_openssl_heap_init(SECRET_OPENSSL_HEAP_BYTES), 0);
	/* OpenSSL's random generators keep their state in the secure heap from their first
	 * use: start counting after it. */
	unsigned char warm[16];
	CHECK(RAND_bytes(warm, sizeof(warm)) == 1 && RAND_priv_bytes(warm, sizeof(warm)) == 1);
	size_t idle = CRYPTO_secure_used();

	/* What pkishare join holds: the three CA keys, then each node key generated and
	 * signed with while they are loaded. */
	EVP_PKEY *ca[3];
	X509 *ca_cert[3];
	struct cert_spec ca_spec = {.cn = "ca", .is_ca = true, .days = 1};
	for (int i = 0; i < 3; i++) {
		ca[i] = roundtrip(i == 0 ? KEY_TYPE_RSA2048 : KEY_TYPE_P256);
		CHECK_EQ_INT(x509_cert_new(&ca_spec, ca[i], NULL, NULL, &ca_cert[i]), 0);
	}
	size_t held = CRYPTO_secure_used();
	printf("three CA keys (RSA-2048, 2 x P-256): %zu bytes of the secure heap's %d\n",
	       held - idle, SECRET_OPENSSL_HEAP_BYTES);
	enum key_type types[] = {KEY_TYPE_P384, KEY_TYPE_P256};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		EVP_PKEY *node = roundtrip(types[i]);
		X509 *cert = NULL;
		struct cert_spec spec = {.cn = "node", .client_auth = true, .days = 1};
		CHECK(node != NULL);
		CHECK_EQ_INT(x509_cert_new(&spec, node, ca_cert[i % 3], ca[i % 3], &cert), 0);
		X509_free(cert);
		EVP_PKEY_free(node);
	}
	CHECK_EQ_INT(CRYPTO_secure_used(), held);
	for (int i = 0; i < 3; i++) {
		X509_free(ca_cert[i]);
		EVP_PKEY_free(ca[i]);
	}
	CHECK_EQ_INT(CRYPTO_secure_used(), idle);
	return test_done("secret");
}
