/* secret.c - guarded memory (libsodium) and process hardening.
 *
 * Must never print, log or copy a secret anywhere but into another guarded buffer. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include "error.h"
#include "secret.h"

/* jansson copies every string it parses or builds (a bundle's base64, a token). Those
 * copies must be wiped too, so every jansson block carries its size in a header and is
 * zeroed before free(). */
struct json_block {
	size_t size;
	max_align_t align[];
};

static void *json_wiping_malloc(size_t n)
{
	struct json_block *b = malloc(sizeof(*b) + n);
	if (!b)
		return NULL;
	b->size = n;
	/* cppcheck-suppress memleak ; freed through json_wiping_free() */
	return b->align;
}

static void json_wiping_free(void *p)
{
	if (!p)
		return;
	struct json_block *b =
	    (struct json_block *)((char *)p - offsetof(struct json_block, align));
	sodium_memzero(b->align, b->size);
	free(b);
}

int secret_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	json_set_alloc_funcs(json_wiping_malloc, json_wiping_free);
	return 0;
}

int secret_harden_process(void)
{
	struct rlimit no_core = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	struct rlimit cur;
	/* Under systemd LimitCORE=0 already holds and setrlimit may be filtered out. */
	if (getrlimit(RLIMIT_CORE, &cur) == 0 && cur.rlim_cur == 0 && cur.rlim_max == 0)
		return 0;
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -errno;
	return 0;
}

int secret_lock_check(uint64_t *ret_limit)
{
	/* libsodium locks its guarded pages on a best-effort basis and says nothing when it
	 * cannot; find out once, with the amount a daemon holding a bundle needs. */
	static const size_t probe_len = 2 * 1024 * 1024;
	struct rlimit lim;
	*ret_limit = getrlimit(RLIMIT_MEMLOCK, &lim) == 0 ? (uint64_t)lim.rlim_cur : 0;
	void *p = sodium_malloc(probe_len);
	if (!p)
		return -ENOMEM;
	int r = sodium_mlock(p, probe_len) == 0 ? 0 : -errno;
	if (r == 0)
		sodium_munlock(p, probe_len);
	sodium_free(p);
	return r;
}

int secret_openssl_heap_init(size_t bytes)
{
	if (CRYPTO_secure_malloc_initialized())
		return 0;
	/* A minimum block of 32 bytes: a P-256 scalar fits in one. */
	switch (CRYPTO_secure_malloc_init(bytes, 32)) {
	case 1:
		return 0;
	case 2:
		return 1;
	default:
		return -ENOMEM;
	}
}

struct secret *secret_new(size_t cap)
{
	struct secret *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* One spare byte for the terminating NUL, so text secrets can be used as strings. */
	s->data = sodium_malloc(cap + 1);
	if (!s->data) {
		free(s);
		return NULL;
	}
	sodium_memzero(s->data, cap + 1);
	s->cap = cap;
	return s;
}

struct secret *secret_free(struct secret *s)
{
	if (!s)
		return NULL;
	if (s->data) {
		sodium_memzero(s->data, s->cap + 1);
		sodium_free(s->data);
	}
	free(s);
	return NULL;
}

int secret_append(struct secret *s, const void *p, size_t n)
{
	if (n > s->cap - s->len) {
		size_t cap = s->cap ? s->cap : 64;
		while (cap - s->len < n) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		unsigned char *d = sodium_malloc(cap + 1);
		if (!d)
			return -ENOMEM;
		sodium_memzero(d, cap + 1);
		memcpy(d, s->data, s->len);
		sodium_memzero(s->data, s->cap + 1);
		sodium_free(s->data);
		s->data = d;
		s->cap = cap;
	}
	if (n)
		memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = 0;
	return 0;
}

struct secret *secret_dup(const void *p, size_t n)
{
	struct secret *s = secret_new(n);
	if (s && secret_append(s, p, n) < 0)
		return secret_free(s);
	return s;
}

void *secret_mem(size_t n)
{
	void *p = sodium_malloc(n);
	if (p)
		sodium_memzero(p, n);
	return p;
}

void secret_mem_free(void *p)
{
	/* sodium_free zeroes the region itself before unmapping it. */
	sodium_free(p);
}

void secret_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

bool secret_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

int secret_read_fd(int fd, size_t max, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *s = secret_new(4096);
	if (!s)
		return -ENOMEM;
	for (;;) {
		unsigned char buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			sodium_memzero(buf, sizeof(buf));
			return e;
		}
		if (r == 0)
			break;
		if (s->len + (size_t)r > max) {
			sodium_memzero(buf, sizeof(buf));
			return -PKS_E_TOO_BIG;
		}
		int e = secret_append(s, buf, (size_t)r);
		sodium_memzero(buf, sizeof(buf));
		if (e < 0)
			return e;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

int secret_read_file(const char *path, size_t max, struct secret **ret)
{
	struct stat st;
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return errno == ELOOP ? -PKS_E_SYMLINK : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((size_t)st.st_size > max)
		return -PKS_E_TOO_BIG;
	return secret_read_fd(fd, max, ret);
}

void secret_json_free(void *p)
{
	json_free_t free_fn = NULL;
	json_get_alloc_funcs(NULL, &free_fn);
	if (free_fn)
		free_fn(p);
	else
		free(p);
}

void secret_free_cb(void *cls)
{
	secret_free(cls);
}
