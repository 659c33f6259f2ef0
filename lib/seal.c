/* seal.c - XChaCha20-Poly1305 sealing of one entry, and the associated data layout.
 * Must never return partially decrypted data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "error.h"
#include "seal.h"

struct aad_buf {
	uint8_t *p;
	size_t len, cap;
};

static int put(struct aad_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap - b->len < n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int put_u32(struct aad_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return put(b, x, 4);
}

static int put_u64(struct aad_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (56 - 8 * i));
	return put(b, x, 8);
}

static int put_str(struct aad_buf *b, const char *s)
{
	size_t n = strlen(s);
	int r = put_u32(b, (uint32_t)n);
	return r < 0 ? r : put(b, s, n);
}

int seal_aad(const struct seal_header *h, const char *name, unsigned mode, uint8_t **ret,
	     size_t *ret_len)
{
	struct aad_buf b = {0};
	int r = put_str(&b, SEAL_CONTEXT);
	if (r >= 0)
		r = put_str(&b, h->id);
	if (r >= 0)
		r = put_u64(&b, (uint64_t)h->created_at);
	if (r >= 0)
		r = put_u64(&b, (uint64_t)h->expires_at);
	if (r >= 0)
		r = put_u32(&b, (uint32_t)h->n_names);
	for (size_t i = 0; r >= 0 && i < h->n_names; i++)
		r = put_str(&b, h->names[i]);
	if (r >= 0)
		r = put_str(&b, name);
	if (r >= 0)
		r = put_u32(&b, mode);
	if (r >= 0 && h->profile)
		r = put_str(&b, h->profile);
	if (r < 0) {
		free(b.p);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int seal_encrypt(const uint8_t *key, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t pt_len, const uint8_t *nonce, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *out = secret_new(pt_len + SEAL_OVERHEAD);
	unsigned long long clen = 0;

	if (!out)
		return -ENOMEM;
	if (nonce)
		memcpy(out->data, nonce, SEAL_NONCE_BYTES);
	else
		randombytes_buf(out->data, SEAL_NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out->data + SEAL_NONCE_BYTES, &clen, pt,
						       pt_len, aad, aad_len, NULL, out->data,
						       key) != 0)
		return -EIO;
	out->len = SEAL_NONCE_BYTES + (size_t)clen;
	*ret = TAKE_PTR(out);
	return 0;
}

int seal_decrypt(const uint8_t *key, const uint8_t *aad, size_t aad_len, const uint8_t *sealed,
		 size_t sealed_len, struct secret **ret)
{
	unsigned long long plen = 0;

	if (sealed_len < SEAL_OVERHEAD)
		return -PKS_E_AUTH;
	_cleanup_(secret_freep) struct secret *out = secret_new(sealed_len - SEAL_OVERHEAD);
	if (!out)
		return -ENOMEM;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		out->data, &plen, NULL, sealed + SEAL_NONCE_BYTES, sealed_len - SEAL_NONCE_BYTES,
		aad, aad_len, sealed, key) != 0) {
		/* libsodium leaves the output untouched on failure; wipe anyway. */
		secret_wipe(out->data, out->cap);
		return -PKS_E_AUTH;
	}
	out->len = (size_t)plen;
	*ret = TAKE_PTR(out);
	return 0;
}
