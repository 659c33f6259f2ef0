/* store.h - the held state, by concept: the bytes this node holds (held.h), the decisions
 * every serving node must agree on (ledger.h, an ops table), join tokens (tokens.h), and
 * the reaper thread that wipes what passes its deadline. This file joins them for the
 * routes and the admin API: a fetch takes a reference to the held bytes, then claims a
 * slot from the ledger, then serves; every change is written through persist.h before it
 * is acknowledged. It never sees plaintext or a certificate key. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "held.h"
#include "ledger.h"
#include "secret.h"
#include "tokens.h"

struct persist;
struct persist_record;

struct store {
	pthread_mutex_t lock;	  /* held and tokens, and the order of saves */
	pthread_mutex_t put_lock; /* uploads one at a time, when announce waits (taken first) */
	bool ledger_changed;	  /* the ledger heard of another node's doing: the reaper looks */
	void (*on_change)(void *arg); /* and this is called (store_on_cluster_change) */
	void *on_change_arg;
	pthread_cond_t wake; /* CLOCK_MONOTONIC */
	pthread_t reaper;
	bool reaper_running;
	bool stopping;

	struct held held;     /* the bytes this node holds */
	struct ledger ledger; /* the decisions (its own lock; claim may wait: never under ours) */
	struct tokens tokens; /* join tokens */

	/* Where every change is written before it is acknowledged (persist.h); NULL: nowhere.
	 * record: the buffer a save fills (persist's own format, persist.h). */
	struct persist *persist;
	struct persist_record *record;
	struct store_fetch_record *record_log; /* room beside it, for the fetch log */
};

/* With the one-node ledger (ledger-local.c). */
int store_init(struct store *s);
/* Coordination on: decisions by etcd through pkishare-coordd (ledger-coord.c), in place of
 * the one-node ledger; before store_attach. Its thread starts with the reaper. */
int store_coordinate(struct store *s, const struct ledger_coord_config *cfg);
/* Where coordination stands (all zero, on false, with the one-node ledger). */
void store_coord_state(struct store *s, struct ledger_coord_state *ret);
/* Coordination: 1 with ret_node if pin (sha256:HEX) is another registered node's serving
 * key, else 0 (never waits: the serving thread asks it in the handshake). */
int store_peer_of(struct store *s, const char *pin, char ret_node[LEDGER_TEXT_MAX + 1]);
/* Coordination: a connection to registered node node (pkishare-coordd opens it) into
 * *ret_fd, its record in ret. Waits: never on the serving thread. 0, or <0 with why. */
int store_peer_connect(struct store *s, const char *node, struct ledger_holder *ret, int *ret_fd,
		       char *why, size_t why_len);
/* Coordination: bundle id, uploaded on this node, is held by no node (this node restarted
 * without it before any copy was made): retired in the cluster as lost, so that joiners
 * are told so rather than "not held here" everywhere. 0, or -EALREADY (held here, or no
 * longer the cluster's current bundle). */
int store_retire_lost(struct store *s, const char *id);
/* Coordination: this node's serving key is now the one whose pin is serving_pin (a reload);
 * true if it changed (registered again). */
bool store_coord_identity(struct store *s, const char *serving_pin);
/* Wait up to timeout_ms until the ledger's queued writes (a delete) reached the other
 * nodes' view: 0, or -ENOLINK (not yet; they are retried). */
int store_flush(struct store *s, int timeout_ms);
/* Stop the reaper, wipe everything. */
void store_done(struct store *s);
/* Take back what systemd kept for this process (persist_start), if anything usable, and
 * write every change through p from now on (before the reaper starts). */
void store_attach(struct store *s, struct persist *p);
/* Write nothing any more (kill -9 in the unit tests; shutdown). */
void store_detach(struct store *s);
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
	STORE_FETCH_OTHER,	 /* want_id given, and another bundle is held: nothing counted */
	STORE_FETCH_ABANDONED,	 /* store_fetch_unless_gone: the client left during its claim,
				  * the slot was given back (nothing counted) */
	STORE_FETCH_NOT_HERE,	 /* coordination: the cluster's current bundle (ret_id) is
				  * not held on this node (not yet copied) */
	STORE_FETCH_UNAVAILABLE, /* the ledger could not decide (coordination: coordd or
				  * etcd's quorum did not answer in time): nothing served */
};

/* Take a reference to the held bytes, then claim a fetch slot from the ledger (which may
 * wait: never called on the serving thread, serve/fetchq.c runs it), and return the
 * reference (drop it with held_blob_unref). The count is atomic with its check. The fetch that
 * reaches max_fetches wipes the held bundle: its bytes then live until this reference is dropped.
 * ret_id gets the bundle id (or the id of the one that is gone), ret_fetch_no the fetch's number. A
 * client-ca certificate (cert: its id, the SHA-256 of its issuer and serial number, hex; the same
 * certificate, however encoded, not merely the same CN) that already fetched this bundle gets the
 * same bytes again without a new count (*ret_repeat true, ret_fetch_no its first fetch's number):
 * max_fetches bounds the identities that receive the bundle, so a re-run join does not lock out the
 * next node (docs/design.md, "What counts as a fetch"). Enrolled names are chosen by whoever holds
 * the token and are always counted. want_id (NULL: whatever is held) names the bundle the
 * client planned on: when another one is held, STORE_FETCH_OTHER with the held one's id
 * in ret_id, decided under the same lock as the count, so such a refusal never counts. */
enum store_fetch store_fetch(struct store *s, const char *want_id, const char *client,
			     const char *cert, const char *source, const char *peer,
			     struct held_blob **ret_blob, char ret_id[BUNDLE_ID_HEX_LEN + 1],
			     uint64_t *ret_fetch_no, bool *ret_repeat, int64_t *ret_gone_at);

/* store_fetch for a client that may leave while its claim waits: once the slot is
 * claimed, and before the bytes are let go (the last slot) or anything is written,
 * gone(arg) is asked (under the held state's lock: it must not wait); if the client is
 * gone, the slot is given back (ledger.h, release), a bundle that claim had used up is
 * current again, and STORE_FETCH_ABANDONED is returned (no reference, nothing counted). */
enum store_fetch store_fetch_unless_gone(struct store *s, const char *want_id, const char *client,
					 const char *cert, const char *source, const char *peer,
					 bool (*gone)(void *arg), void *arg,
					 struct held_blob **ret_blob,
					 char ret_id[BUNDLE_ID_HEX_LEN + 1], uint64_t *ret_fetch_no,
					 bool *ret_repeat, int64_t *ret_gone_at);

/* Whether store_fetch may wait (its ledger's claim asks another system): then it must not
 * run on the serving thread. */
bool store_fetch_waits(struct store *s);

/* Coordination: hold json (ownership taken, also on failure), a copy from another node of
 * the cluster's current bundle meta->id (the caller checked its digest against the one
 * in etcd), until the sealed expiresAt (a local monotonic deadline, never later; capped
 * at max_ttl_ms), announced nowhere: it was announced where it was uploaded. 0; -EALREADY
 * if it is held already; -ESTALE if it is no longer the cluster's current bundle. */
int store_hold_copy(struct store *s, struct secret *json, const struct bundle *meta,
		    int64_t max_ttl_ms);
/* Whether this node holds bundle id now. */
bool store_holds(struct store *s, const char *id);
/* Called (on the ledger's thread, without any lock) after each change the ledger heard of
 * (coordination: the copier wakes on it). */
void store_on_cluster_change(struct store *s, void (*fn)(void *arg), void *arg);

/* Coordination: a reference to the held bytes of bundle id for a peer's copy (not a
 * fetch: nothing counted), or NULL if they are not held here (or past their deadline). */
struct held_blob *store_peer_ref(struct store *s, const char *id);
/* Coordination: whether bundle id is the cluster's current one now, asked of etcd before a
 * peer gets a copy (waits: a worker's call). 0 if it is (or without coordination), -ESTALE
 * if not, -ENOLINK when etcd did not answer. */
int store_peer_current(struct store *s, const char *id);

/* Wipe the held bundle now. -ENOENT if none. With coordination, a bundle current in the
 * cluster but not held here is retired everywhere (ret_id its id); store_flush says
 * when the other nodes can know. */
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
	char description[API_TOKEN_DESCRIPTION_MAX + 1];
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
	size_t n_seen;			 /* key ids in the history, of STORE_MAX_SEEN_KEYS */
	struct ledger_view cluster;	 /* what the ledger says (with coordination: the cluster) */
	struct ledger_coord_state coord; /* where coordination stands (coord.on false: off) */
	size_t n_tokens;
	struct store_token_view tokens[STORE_MAX_TOKENS];
	struct store_kept_view kept;
};
/* The few counts a log line wants, without a whole view on the caller's stack. */
struct store_counts {
	bool held;
	char id[BUNDLE_ID_HEX_LEN + 1];
	size_t n_tokens, n_seen;
};
void store_counts(struct store *s, struct store_counts *ret);
/* Fill ret (a bundle past its deadline is wiped first, as for a fetch). */
void store_view(struct store *s, struct store_view *ret);
void store_view_done(struct store_view *v);

/* systemctl stop: wipe what was kept for the next start (persist.h); nothing is kept
 * from now on. */
void store_forget_persisted(struct store *s);

/* Whether join tokens are the cluster's (coordination): add, delete and use then wait for
 * etcd (never on the serving thread: enrollment suspends its connection for the use),
 * each may also answer -ENOLINK (coordination did not answer), and check reads what this
 * node last heard. */
bool store_tokens_wait(struct store *s);
/* With store_tokens_wait: what check reads, heard again unless heard since since_ms
 * (monotonic), for a token made on another node an instant ago. Waits (a worker's call);
 * readings are shared and rate-limited. 0, or -ENOLINK. Without: 0 at once. */
int store_tokens_refresh(struct store *s, int64_t since_ms);

/* Tokens. add: -EEXIST (id in use), -ENOSPC (too many), -EINVAL (a description that
 * tokens_description_ok refuses; NULL: none). delete: -ENOENT. */
int store_token_add(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    int64_t ttl_s, uint64_t uses, const char *description);
int store_token_delete(struct store *s, const char *id);
/* Check a presented token and consume one use for client (the enrolled node's name),
 * atomically. -ENOENT unknown id, -EACCES wrong secret (compared in constant time),
 * -ETIMEDOUT expired, -ESTALE used up (the id and secret of a token whose last use was
 * spent since this daemon started). A token whose last use this was is removed and
 * remembered as spent until its deadline. */
int store_token_use(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    const char *client);
/* The same checks without consuming a use: answer cheaply before any costly work. With
 * -ESTALE, ret_spent (may be NULL) receives who spent the last use and when; with
 * -ETIMEDOUT for a token the reaper already removed (remembered a day), its record
 * (expired set, at: when it expired). */
int store_token_check(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		      struct store_spent_token *ret_spent);
