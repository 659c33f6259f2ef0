/* seal.h - the native sealing construction (proto/sealing.md): XChaCha20-Poly1305 per
 * entry, random 24-byte nonce, associated data binding the bundle's header and the whole
 * name list. Output and input are nonce(24) || ciphertext || tag(16). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define SEAL_NONCE_BYTES 24
#define SEAL_TAG_BYTES 16
#define SEAL_OVERHEAD (SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
#define SEAL_CONTEXT "pkishare.io/v1 SealedBundle xchacha20poly1305"

/* What the associated data binds besides the entry itself. */
struct seal_header {
	const char *id;
	int64_t created_at;
	int64_t expires_at;
	const char *const *names; /* sorted bytewise, no duplicates */
	size_t n_names;
	const char *profile; /* canonical profile JSON (profile.h), NULL if the bundle has none */
};

/* Build the associated data for entry name/mode into a malloc'd buffer (not secret). */
int seal_aad(const struct seal_header *h, const char *name, unsigned mode, uint8_t **ret,
	     size_t *ret_len);

/* Seal pt under key with aad. nonce may be NULL (random) or SEAL_NONCE_BYTES (vectors). */
int seal_encrypt(const uint8_t *key, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t pt_len, const uint8_t *nonce, struct secret **ret);

/* Open; returns -PKS_E_AUTH on any failure and leaves nothing behind. */
int seal_decrypt(const uint8_t *key, const uint8_t *aad, size_t aad_len, const uint8_t *sealed,
		 size_t sealed_len, struct secret **ret);
