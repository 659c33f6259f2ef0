/* test-secret.c - guarded buffers (grow, copy, compare, wipe, read files and pipes into
 * them), the process hardening, and OpenSSL's secure heap (secret_openssl_heap_init):
 * once set up, the private
 * keys OpenSSL holds, parsed from PEM or generated, live in it and leave it when freed,
 * and three CA keys with node keys generated and signed while they are loaded fit in it.
 * (RSA-4096, kubeadm's largest, fits too; it is left out here because its generation
 * takes minutes under valgrind, which runs this test.) */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "error.h"
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

static void buffers_grow_and_keep_a_trailing_nul(void)
{
	_cleanup_(secret_freep) struct secret *s = secret_new(4);
	CHECK(s != NULL && s->len == 0);
	CHECK_EQ_INT(secret_append(s, "abc", 3), 0);
	CHECK_EQ_INT(secret_append(s, "defghijklmnop", 13), 0); /* past cap: grows */
	CHECK_EQ_INT(s->len, 16);
	CHECK(!memcmp(s->data, "abcdefghijklmnop", 16) && s->data[16] == 0);
	CHECK_EQ_INT(secret_append(s, NULL, 0), 0);
	CHECK_EQ_INT(s->len, 16);
	_cleanup_(secret_freep) struct secret *d = secret_dup("xyz", 3);
	CHECK(d && d->len == 3 && !strcmp((const char *)d->data, "xyz"));
	CHECK(secret_free(NULL) == NULL);
}

static void equal_compares_every_byte(void)
{
	CHECK(secret_equal("abcd", "abcd", 4));
	CHECK(!secret_equal("abcd", "abce", 4));
	CHECK(secret_equal("abcd", "abce", 3));
}

static void wipe_and_raw_memory_are_zero(void)
{
	char buf[8] = "secret!";
	secret_wipe(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK(buf[i] == 0);
	_cleanup_(secret_mem_freep) unsigned char *m = secret_mem(32);
	CHECK(m != NULL);
	for (size_t i = 0; m && i < 32; i++)
		CHECK(m[i] == 0);
}

static char dir[] = "/tmp/test-secret-XXXXXX";

static void read_file_takes_a_regular_file_within_max(void)
{
	char path[64];
	_cleanup_(secret_freep) struct secret *s = NULL;
	snprintf(path, sizeof(path), "%s/f", dir);
	FILE *f = fopen(path, "we");
	fputs("0123456789", f);
	fclose(f);
	CHECK_EQ_INT(secret_read_file(path, 10, &s), 0);
	CHECK(s && s->len == 10 && !strcmp((const char *)s->data, "0123456789"));
	struct secret *t = NULL;
	CHECK_EQ_INT(secret_read_file(path, 9, &t), -PKS_E_TOO_BIG);
	CHECK(t == NULL);
}

static void read_file_refuses_a_symlink_a_directory_and_nothing(void)
{
	char path[64], link[64];
	struct secret *s = NULL;
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(link, sizeof(link), "%s/l", dir);
	CHECK_EQ_INT(symlink(path, link), 0);
	CHECK_EQ_INT(secret_read_file(link, 100, &s), -PKS_E_SYMLINK);
	CHECK_EQ_INT(secret_read_file(dir, 100, &s), -EINVAL);
	snprintf(path, sizeof(path), "%s/none", dir);
	CHECK_EQ_INT(secret_read_file(path, 100, &s), -ENOENT);
	CHECK(s == NULL);
	unlink(link);
}

static void read_fd_reads_a_pipe_to_its_end_within_max(void)
{
	int p[2];
	_cleanup_(secret_freep) struct secret *s = NULL;
	struct secret *t = NULL;
	char big[10000];
	CHECK_EQ_INT(pipe(p), 0);
	memset(big, 'k', sizeof(big));
	CHECK_EQ_INT(write(p[1], big, 5000), 5000);
	close(p[1]);
	CHECK_EQ_INT(secret_read_fd(p[0], 5000, &s), 0);
	CHECK(s && s->len == 5000);
	close(p[0]);
	CHECK_EQ_INT(pipe(p), 0);
	CHECK_EQ_INT(write(p[1], big, 5001), 5001);
	close(p[1]);
	CHECK_EQ_INT(secret_read_fd(p[0], 5000, &t), -PKS_E_TOO_BIG);
	CHECK(t == NULL);
	close(p[0]);
}

static void hardening_makes_the_process_undumpable(void)
{
	CHECK_EQ_INT(secret_harden_process(), 0);
	CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

static size_t idle;

static void openssl_heap_sets_up_once(void)
{
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
	idle = CRYPTO_secure_used();
}

static void keys_of_a_join_live_in_the_secure_heap_and_leave_it(void)
{
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
}

/* In this order: the secure heap is set up before the first OpenSSL key. */
static const struct test_case cases[] = {
    TEST(buffers_grow_and_keep_a_trailing_nul),
    TEST(equal_compares_every_byte),
    TEST(wipe_and_raw_memory_are_zero),
    TEST(read_file_takes_a_regular_file_within_max),
    TEST(read_file_refuses_a_symlink_a_directory_and_nothing),
    TEST(read_fd_reads_a_pipe_to_its_end_within_max),
    TEST(hardening_makes_the_process_undumpable),
    TEST(openssl_heap_sets_up_once),
    TEST(keys_of_a_join_live_in_the_secure_heap_and_leave_it),
};

int main(void)
{
	char path[64];
	if (secret_init() != 0 || !mkdtemp(dir)) {
		fprintf(stderr, "test-secret: cannot set up\n");
		return 1;
	}
	int r = test_run("secret", cases, TEST_ELEMENTS(cases));
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
	return r;
}
