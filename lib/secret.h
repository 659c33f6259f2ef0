/* secret.h - the only door to guarded memory.
 *
 * Every key, token, plaintext PKI file and sealed bundle lives in memory from here:
 * libsodium's sodium_malloc (guard pages, canary, mlock, excluded from core dumps) and is
 * zeroed before it is released. No other file may call sodium_malloc, sodium_free,
 * sodium_mprotect_* or sodium_memzero. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* A growable byte buffer in guarded memory. len <= cap. */
struct secret {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* Initialise libsodium and route jansson's allocations through a wiping allocator.
 * Call once from main() before any other use. Returns 0 or -ENOMEM/-EIO. */
int secret_init(void);

/* Make the process non-dumpable and disable core files. Returns 0 or -errno. */
int secret_harden_process(void);

/* Can guarded memory be locked (kept out of swap)? 0, or -errno (EPERM: no CAP_IPC_LOCK
 * and a zero limit; ENOMEM/EAGAIN: RLIMIT_MEMLOCK too low). ret_limit gets the soft
 * RLIMIT_MEMLOCK in bytes. */
int secret_lock_check(uint64_t *ret_limit);

/* OpenSSL's secure heap, for the private keys OpenSSL itself holds (parsed from PEM or
 * generated: CA keys while they sign, node keys, the enrollment CA): a locked mapping,
 * excluded from core dumps, between guard pages, zeroed on free. Every process that
 * holds a private key calls it once from main(), before the first key; OpenSSL puts a key
 * in it only if it was set up before the key was made. Sized for the most a process
 * holds at once (three CA keys and an RSA-4096 key being generated, with their
 * temporaries, measured in unit.secret). 0 locked; 1 set up but not locked
 * (RLIMIT_MEMLOCK); -ENOMEM not set up (keys stay in ordinary heap). */
#define SECRET_OPENSSL_HEAP_BYTES (256 * 1024)
int secret_openssl_heap_init(size_t bytes);

/* A new empty buffer able to hold cap bytes without growing. NULL on ENOMEM. */
struct secret *secret_new(size_t cap);
/* Wipe and free; accepts NULL; returns NULL. */
struct secret *secret_free(struct secret *s);
static inline void secret_freep(struct secret **s)
{
	*s = secret_free(*s);
}
/* Append n bytes, growing into a fresh guarded allocation (the old one is wiped).
 * Returns 0 or -ENOMEM. A NUL byte is always kept after len (not counted). */
int secret_append(struct secret *s, const void *p, size_t n);
/* A guarded copy of n bytes. NULL on ENOMEM. */
struct secret *secret_dup(const void *p, size_t n);

/* Raw guarded allocation for fixed-size secrets (keys). Zero-filled. */
void *secret_mem(size_t n);
void secret_mem_free(void *p);
static inline void secret_mem_freep(void *p)
{
	secret_mem_free(*(void **)p);
}

/* Zero n bytes at p (never optimised away). */
void secret_wipe(void *p, size_t n);
/* Constant-time equality of two n-byte secrets. */
bool secret_equal(const void *a, const void *b, size_t n);

/* Read a whole regular file (not following a final symlink) of at most max bytes
 * straight into guarded memory. Returns 0, -PKS_E_SYMLINK (a symlink), -EINVAL (not a
 * regular file), -PKS_E_TOO_BIG (over max) or -errno (-ENOENT, ...). */
int secret_read_file(const char *path, size_t max, struct secret **ret);
/* Read all of fd until EOF, at most max bytes (-PKS_E_TOO_BIG past it). */
int secret_read_fd(int fd, size_t max, struct secret **ret);

/* Release text that jansson allocated (json_dumps): wiped, through jansson's allocator. */
void secret_json_free(void *p);

/* Wiping free callback, for libmicrohttpd responses built over a struct secret. */
void secret_free_cb(void *cls);
