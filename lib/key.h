/* key.h - the certificate key: 32 random bytes shown as 64 lowercase hex characters
 * (kubeadm's format), and its public key id. Keys are always held in secret_mem(). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KEY_BYTES 32
#define KEY_HEX_LEN 64
#define KEY_ID_BYTES 8
#define KEY_ID_HEX_LEN 16

/* Fill key (KEY_BYTES, guarded memory) with fresh random bytes. */
void key_generate(uint8_t *key);

/* Parse 64 hex characters (either case) into key; blanks and line endings around them
 * (a paste) are trimmed, blanks inside are refused and named. On failure key is zeroed,
 * the return is -PKS_E_KEY_FORMAT and detail (DETAIL_MAX bytes, may be NULL) says what
 * was found, without repeating the input. */
int key_parse(const char *text, uint8_t *key, char *detail);

/* 64 lowercase hex characters + NUL into out (which should itself be guarded). */
void key_format(const uint8_t *key, char *out);

/* Key id: the first 8 bytes of BLAKE2b-256(key), as 16 lowercase hex characters + NUL.
 * Public: it identifies the key without revealing it. */
void key_id(const uint8_t *key, char out[KEY_ID_HEX_LEN + 1]);
