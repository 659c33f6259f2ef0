/* bundle.h - the sealed bundle: JSON encoding (proto/bundle.md), sealing a PKI set into
 * it and opening it again. The daemon only parses (never opens); clients seal and open. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "key.h"
#include "pkidir.h"
#include "profile.h"
#include "secret.h"

#define BUNDLE_API_VERSION "pkishare.io/v1"
#define BUNDLE_KIND "SealedBundle"
#define BUNDLE_CIPHER "xchacha20poly1305"
#define BUNDLE_ID_BYTES 16
#define BUNDLE_ID_HEX_LEN (2 * BUNDLE_ID_BYTES)
/* Eight files of at most a few KiB each, base64: 1 MiB leaves ample room. */
#define BUNDLE_MAX_BYTES (1024 * 1024)

struct bundle {
	char id[BUNDLE_ID_HEX_LEN + 1];
	int64_t created_at;
	int64_t expires_at;
	char key_id[KEY_ID_HEX_LEN + 1];
	struct pki_set files; /* sealed entries: nonce || ciphertext || tag, sorted by name */
	char *profile;	      /* canonical profile JSON (profile.h), NULL if none */
};

/* Seal every entry of plain (shared files only) under key into bundle JSON. id may be
 * NULL (random); profile may be NULL (none). ret_id (may be NULL) receives the id. */
int bundle_seal(const struct pki_set *plain, const uint8_t *key, const char *id, int64_t created_at,
		int64_t expires_at, const struct profile *profile, struct secret **ret_json,
		char ret_id[BUNDLE_ID_HEX_LEN + 1]);

/* Parse and validate bundle JSON without opening anything. Strict: unknown or duplicate
 * fields, unknown file names, wrong modes and bad base64 are all refused. detail (may be
 * NULL) says which field. */
int bundle_parse(const char *json, size_t len, struct bundle *ret, char *detail);

enum {
	BUNDLE_OPEN_ALLOW_EXPIRED = 1 << 0, /* for inspecting an old bundle, never for join */
};

/* Open every entry. Checks expiry against now, the key id, then authenticates each
 * entry; all or nothing. ret receives plaintext entries (sorted). */
int bundle_open(const struct bundle *b, const uint8_t *key, int64_t now, unsigned flags,
		struct pki_set *ret, char *detail);

/* Release the sealed entries. Accepts a zeroed struct. */
void bundle_done(struct bundle *b);
