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

#include "bundle.h"
#include "secret.h"

#include "token.h"

#define STORE_MAX_SEEN_KEYS 4096
#define STORE_MAX_TOKENS 64
#define STORE_MAX_FETCH_LOG 64
#define STORE_ID_MAX 96
/* The longest lifetime a bundle or a token may have: --max-ttl's bound, and the bound a
 * restored deadline is checked against (one owner, so a lifetime the daemon accepts is
 * one its restore accepts). */
#define STORE_MAX_TTL_S ((int64_t)1000 * 24 * 3600)

/* A join token as the daemon keeps it: the id and a hash of the secret, never the secret. */
struct store_token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t expires_at;  /* wall clock, for display */
	int64_t deadline_ms; /* monotonic, enforced */
	uint64_t uses_left;  /* 0: unlimited */
	uint64_t used;
};

/* A join token whose last use was spent, kept (in memory only, never persisted) until its
 * deadline so that it is told apart from an unknown one: "used up by NODE at T". */
#define STORE_MAX_SPENT_TOKENS 64
struct store_spent_token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t deadline_ms; /* the token's own */
	int64_t at;	     /* wall clock: when its last use was spent */
	char client[64];     /* the node its last use enrolled */
};

/* One fetch of the held bundle, for tamper evidence. */
#define STORE_CERT_ID_LEN 64 /* a client certificate's id (SHA-256 of issuer and serial), hex */

struct store_fetch_record {
	int64_t at;
	char client[STORE_ID_MAX];
	char cert[STORE_CERT_ID_LEN + 1]; /* "" if unknown */
	char source[16];		  /* "client-ca" or "enrolled" */
	char peer[STORE_ID_MAX];
};

enum store_gone {
	STORE_GONE_NEVER = 0, /* nothing was ever uploaded */
	STORE_GONE_EXPIRED,
	STORE_GONE_DELETED,
	STORE_GONE_USED_UP,
	STORE_GONE_REPLACED,
	STORE_GONE_LOST, /* held before a restart, unusable after it (persist.c says why) */
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
	struct store_spent_token spent[STORE_MAX_SPENT_TOKENS]; /* a ring, oldest overwritten */
	size_t n_spent;

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
 * ttl_ms from now, and never past meta's expiresAt by the wall clock either. A key id seen before
 * is -EEXIST; a full key-id history (STORE_MAX_SEEN_KEYS) is -ENOSPC, since forgetting any
 * id would let its key be used again. A bundle without external etcd files after one that had them
 * is -EXDEV unless allow_drop_external (kubeadm#1886). ret_replaced receives the id of a bundle
 * this upload wiped
 * ("" if none). */
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
	STORE_FETCH_LOST,
	STORE_FETCH_OTHER, /* want_id given, and another bundle is held: nothing counted */
};

/* Count a fetch (atomically with the check) and return a reference to the held bundle
 * (drop it with store_blob_unref). The fetch that reaches max_fetches wipes the held
 * bundle: its bytes then live until this reference is dropped. ret_id gets the bundle id
 * (or the id of the one that is gone), ret_fetch_no the fetch's number. A client-ca
 * certificate (cert: its id, the SHA-256 of its issuer and serial number, hex; the same
 * certificate, however encoded, not merely the same CN) that already fetched this bundle gets the
 * same bytes again without a new count (*ret_repeat true, ret_fetch_no its first fetch's number):
 * max_fetches bounds the identities that receive the bundle, so a re-run join does not lock out the
 * next node (docs/design.md, "What counts as a fetch"). Enrolled names are chosen by whoever holds
 * the token and are always counted. want_id (NULL: whatever is held) names the bundle the
 * client planned on: when another one is held, STORE_FETCH_OTHER with the held one's id
 * in ret_id, decided under the same lock as the count, so such a refusal never counts. */
enum store_fetch store_fetch(struct store *s, const char *want_id, const char *client,
			     const char *cert, const char *source, const char *peer,
			     struct store_blob **ret_blob, char ret_id[BUNDLE_ID_HEX_LEN + 1],
			     uint64_t *ret_fetch_no, bool *ret_repeat, int64_t *ret_gone_at);

/* Wipe the held bundle now. -ENOENT if none. */
int store_delete(struct store *s, char ret_id[BUNDLE_ID_HEX_LEN + 1]);

/* What the store holds, copied under its lock: never a secret (ids, times, counts, token
 * ids without their hashes). The store knows its state, not its callers' formats:
 * status.c renders these as the admin API's JSON, metrics.c reads them as they are. */
struct store_bundle_view {
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	int64_t created_at, expires_at; /* wall clock */
	int64_t expires_in_s;		/* by the enforced (monotonic) deadline, >= 0 */
	uint64_t fetches, max_fetches;
	uint64_t bytes; /* the sealed bundle's size, for a joiner's free-space check */
	size_t n_fetch_log;
	struct store_fetch_record fetch_log[STORE_MAX_FETCH_LOG];
	char *profile; /* canonical JSON, or NULL; freed by store_view_done */
};
struct store_token_view {
	char id[TOKEN_ID_LEN + 1];
	int64_t expires_at;
	uint64_t uses_left, used;
};
struct store_kept_view {
	bool under; /* the store writes through a persist (persist.h) */
	bool kept;
	const char *memory; /* "memfd_secret", "memfd" or "none" */
	int64_t held_since;
	uint64_t restores;
	bool refused;
	char note[320];
};
struct store_view {
	bool held;
	struct store_bundle_view bundle; /* when held */
	enum store_gone gone;		 /* what became of the last bundle */
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t gone_at;
	size_t n_seen; /* key ids in the history, of STORE_MAX_SEEN_KEYS */
	size_t n_tokens;
	struct store_token_view tokens[STORE_MAX_TOKENS];
	struct store_kept_view kept;
};
/* Fill ret (a bundle past its deadline is wiped first, as for a fetch). */
void store_view(struct store *s, struct store_view *ret);
void store_view_done(struct store_view *v);
/* "never-uploaded", "expired", "deleted", "used-up", "replaced", "lost-at-restart". */
const char *store_gone_name(enum store_gone g);

/* systemctl stop: wipe what was kept for the next start (persist.h); nothing is kept
 * from now on. */
void store_forget_persisted(struct store *s);

/* Tokens. add: -EEXIST (id in use), -ENOSPC (too many). delete: -ENOENT. */
int store_token_add(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    int64_t ttl_s, uint64_t uses);
int store_token_delete(struct store *s, const char *id);
/* Check a presented token and consume one use for client (the enrolled node's name),
 * atomically. -ENOENT unknown id, -EACCES wrong secret (compared in constant time),
 * -ETIMEDOUT expired, -ESTALE used up (the id and secret of a token whose last use was
 * spent since this daemon started). A token whose last use this was is removed and
 * remembered as spent until its deadline. */
int store_token_use(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    const char *client);
/* The same checks without consuming a use: answer cheaply before any costly work. With
 * -ESTALE, ret_spent (may be NULL) receives who spent the last use and when. */
int store_token_check(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		      struct store_spent_token *ret_spent);
