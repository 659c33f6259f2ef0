/* store.h - the one place the sealed bundle is held: guarded memory, a lock shared with
 * the reaper thread, monotonic deadlines, fetch counting and key-id history.
 *
 * Kept behind this small interface so that an etcd-backed store (DESIGN.md, "Growing
 * past one node") can replace it. The store never sees plaintext or a certificate key. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "bundle.h"
#include "secret.h"

#include "token.h"

#define STORE_MAX_SEEN_KEYS 4096
#define STORE_MAX_TOKENS 64
#define STORE_MAX_FETCH_LOG 64
#define STORE_ID_MAX 96

/* A join token as the daemon keeps it: the id and a hash of the secret, never the secret. */
struct store_token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t expires_at;  /* wall clock, for display */
	int64_t deadline_ms; /* monotonic, enforced */
	uint64_t uses_left;  /* 0: unlimited */
	uint64_t used;
};

/* One fetch of the held bundle, for tamper evidence. */
struct store_fetch_record {
	int64_t at;
	char client[STORE_ID_MAX];
	char source[16]; /* "client-ca" or "enrolled" */
	char peer[STORE_ID_MAX];
};

enum store_gone {
	STORE_GONE_NEVER = 0, /* nothing was ever uploaded */
	STORE_GONE_EXPIRED,
	STORE_GONE_DELETED,
	STORE_GONE_USED_UP,
	STORE_GONE_REPLACED,
};

/* The held sealed bundle, shared by reference with responses still being sent, so a
 * fetch allocates nothing: the store drops its reference when it wipes the bundle, the
 * last reference wipes and frees the bytes. */
struct store_blob {
	_Atomic unsigned refs;
	struct secret *data;
};
/* Drop one reference (NULL is fine); returns NULL. */
struct store_blob *store_blob_unref(struct store_blob *b);

struct persist;

struct store {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC */
	pthread_t reaper;
	bool reaper_running;
	bool stopping;

	struct store_blob *held; /* the held sealed bundle, exactly as uploaded; NULL if none */
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	int64_t created_at, expires_at; /* wall clock, from the bundle (for display) */
	char *profile;	     /* the bundle's cluster profile, canonical JSON (authenticated by the
			      * clients that open it); NULL if none */
	int64_t deadline_ms; /* monotonic: the one that is enforced */
	uint64_t fetches, max_fetches; /* max_fetches 0: unlimited */

	/* What happened to the last bundle, to answer "expired" rather than "not found". */
	enum store_gone gone;
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t gone_at;

	bool last_had_external; /* the last accepted bundle carried external etcd files */

	char (*seen)[KEY_ID_HEX_LEN + 1];
	size_t n_seen;

	struct store_token tokens[STORE_MAX_TOKENS];
	size_t n_tokens;

	struct store_fetch_record fetch_log[STORE_MAX_FETCH_LOG];
	size_t n_fetch_log; /* records kept (the count itself is in fetches) */

	/* Where every change is written before it is acknowledged (persist.h); NULL: nowhere. */
	struct persist *persist;
};

int store_init(struct store *s);
/* Stop the reaper, wipe everything. */
void store_done(struct store *s);
/* Start the reaper thread, which wipes the bundle within a second of its deadline. */
int store_start_reaper(struct store *s);

/* Hold json (ownership taken, also on failure) as the bundle described by meta, for
 * ttl_ms from now. A key id seen before is -EEXIST. A bundle without external etcd files
 * after one that had them is -EXDEV unless allow_drop_external (kubeadm#1886). ret_replaced
 * receives the id of a bundle this upload wiped ("" if none). */
int store_put(struct store *s, struct secret *json, const struct bundle *meta, int64_t ttl_ms,
	      uint64_t max_fetches, bool allow_drop_external,
	      char ret_replaced[BUNDLE_ID_HEX_LEN + 1]);

/* Fetch results. */
enum store_fetch {
	STORE_FETCH_OK,
	STORE_FETCH_NONE,
	STORE_FETCH_EXPIRED,
	STORE_FETCH_USED_UP,
	STORE_FETCH_DELETED,
};

/* Count a fetch (atomically with the check) and return a reference to the held bundle
 * (drop it with store_blob_unref). The fetch that reaches max_fetches wipes the held
 * bundle: its bytes then live until this reference is dropped. ret_id gets the bundle id
 * (or the id of the one that is gone), ret_fetch_no the fetch's number. A client-ca
 * identity that already fetched this bundle gets the same bytes again without a new
 * count (*ret_repeat true, ret_fetch_no its first fetch's number): max_fetches bounds the
 * identities that receive the bundle, so a re-run join does not lock out the next node
 * (docs/design.md, "What counts as a fetch"). Enrolled names are chosen by whoever holds
 * the token and are always counted. */
enum store_fetch store_fetch(struct store *s, const char *client, const char *source,
			     const char *peer, struct store_blob **ret_blob,
			     char ret_id[BUNDLE_ID_HEX_LEN + 1], uint64_t *ret_fetch_no,
			     bool *ret_repeat, int64_t *ret_gone_at);

/* Wipe the held bundle now. -ENOENT if none. */
int store_delete(struct store *s, char ret_id[BUNDLE_ID_HEX_LEN + 1]);

/* A JSON description (never a secret) of the store: held bundle's id, key id, times,
 * fetches; or null and what happened to the last one. */
json_t *store_status(struct store *s);
/* The held bundle's public description with every fetch so far, or NULL if none. */
json_t *store_bundle_info(struct store *s);

/* systemctl stop: wipe what was kept for the next start (persist.h); nothing is kept
 * from now on. */
void store_forget_persisted(struct store *s);

/* Tokens. add: -EEXIST (id in use), -ENOSPC (too many). delete: -ENOENT. */
int store_token_add(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    int64_t ttl_s, uint64_t uses);
int store_token_delete(struct store *s, const char *id);
json_t *store_token_list(struct store *s);
/* Check a presented token and consume one use, atomically. -ENOENT unknown id,
 * -EACCES wrong secret (compared in constant time), -ETIMEDOUT expired. A token whose
 * last use this was is removed. */
int store_token_use(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES]);
/* The same checks without consuming a use: answer cheaply before any costly work. */
int store_token_check(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES]);
