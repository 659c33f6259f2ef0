/* tokens.h - join tokens as the daemon keeps them: the id and a keyed hash of the secret
 * (never the secret), a deadline, uses, and the operator's description; and the tokens
 * whose last use was spent (in memory only), so one is told apart from an unknown one.
 *
 * Plain data and functions, no lock of its own: the held state (store.h) calls them under
 * its lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "token.h"

#define STORE_MAX_TOKENS 64
#define STORE_MAX_SPENT_TOKENS 64

struct store_token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t expires_at;  /* wall clock, for display */
	int64_t deadline_ms; /* monotonic, enforced */
	uint64_t uses_left;  /* 0: unlimited */
	uint64_t used;
	char description[API_TOKEN_DESCRIPTION_MAX + 1]; /* printable ASCII, "" if none */
};

/* A join token whose last use was spent, kept (in memory only, never persisted) until its
 * deadline so that it is told apart from an unknown one: "used up by NODE at T". */
struct store_spent_token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t deadline_ms; /* monotonic: the record is kept until then (a used-up token:
			      * its own deadline; an expired one: a day after it expired) */
	int64_t at;	     /* wall clock: when its last use was spent, or when it expired */
	char client[64];     /* the node its last use enrolled ("" for an expired one) */
	bool expired;	     /* it expired (else its last use was spent) */
};
/* How long an expired token is told apart from an unknown one. */
#define TOKENS_EXPIRED_KEPT_MS ((int64_t)24 * 3600 * 1000)

struct tokens {
	struct store_token t[STORE_MAX_TOKENS];
	size_t n;
	struct store_spent_token spent[STORE_MAX_SPENT_TOKENS]; /* a ring, oldest overwritten */
	size_t n_spent;
};

/* Is text a description a token may carry? lib/token's one rule (token_description_ok). */
bool tokens_description_ok(const char *text);
/* -EEXIST (id in use), -ENOSPC (too many), -EINVAL (a description tokens_description_ok
 * refuses). */
int tokens_add(struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
	       int64_t ttl_s, uint64_t uses, const char *description);
/* -ENOENT if none. */
int tokens_delete(struct tokens *t, const char *id);
/* As store_token_check / store_token_use (store.h). */
int tokens_check(const struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		 struct store_spent_token *ret_spent);
int tokens_use(struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
	       const char *client);
/* Drop the tokens past their deadline (saying so in the audit log): how many went. */
size_t tokens_expire(struct tokens *t, int64_t now_ms);
/* The earliest deadline (monotonic), INT64_MAX if none. */
int64_t tokens_next_deadline(const struct tokens *t);
/* Wipe everything. */
void tokens_wipe(struct tokens *t);
