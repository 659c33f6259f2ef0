/* ledger.h - the decisions every serving node must agree on about the held bundle: which
 * bundle is current, every key id ever used, the fetch slots and who took them, and why
 * the last bundle went. Behind an ops table (the shape of knot-resolver's storage API):
 * the caller holds { ops, state } and never knows which implementation it has.
 * ledger-local.c is the one-node implementation; ledger-coord.c the one over etcd, through
 * pkishare-coordd (metadata only, never the ciphertext: proto/coord.md).
 *
 * Not here: the bytes (held.h, each node's own) and their deadline (local: a lease is not
 * a deadline), join tokens (tokens.h). The ledger never sees a secret: ids, counts,
 * names. Every operation is atomic on its own (the local one has a lock of its own).
 * claim may wait (a round trip to another system): it is never called under the held
 * state's lock, nor on the serving thread (serve/fetchq.c calls it, off that thread).
 * A ledger whose claim waits (claim_waits) asks another system for announce too: store.c
 * then calls announce without its lock as well. retire, key_id_seen, view, fetch_log and
 * key_ids never wait (a ledger that asks elsewhere answers them from what it last heard,
 * and queues retire's write: flush waits for it); store.c calls them under its lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "bundle.h"
#include "key.h"
#include "token.h"

#define STORE_MAX_SEEN_KEYS 4096
#define STORE_MAX_FETCH_LOG 64
#define STORE_ID_MAX 96
#define STORE_CERT_ID_LEN 64 /* a client certificate's id (SHA-256 of issuer and serial), hex */

/* One fetch of the current bundle, for tamper evidence. */
struct store_fetch_record {
	int64_t at;
	char client[STORE_ID_MAX];
	char cert[STORE_CERT_ID_LEN + 1]; /* "" if unknown */
	char source[16];		  /* "client-ca" or "enrolled" */
	char peer[STORE_ID_MAX];
};

/* Why the last bundle went. */
enum store_gone {
	STORE_GONE_NEVER = 0, /* nothing was ever uploaded */
	STORE_GONE_EXPIRED,
	STORE_GONE_DELETED,
	STORE_GONE_USED_UP,
	STORE_GONE_REPLACED,
	STORE_GONE_LOST, /* held before a restart, unusable after it (persist.c says why) */
};
/* "never-uploaded", "expired", "deleted", "used-up", "replaced", "lost-at-restart". */
const char *store_gone_name(enum store_gone g);

/* A bundle announced as the current one. */
struct ledger_bundle {
	const char *id, *key_id;
	const char *sha256;   /* of the sealed bytes, hex (for peers to check a copy against) */
	uint64_t bytes;	      /* their size */
	int64_t expires_at;   /* the sealed expiresAt */
	uint64_t max_fetches; /* 0: unlimited */
	bool has_external;    /* carries external etcd files */
	bool allow_drop_external;
};

/* Who asks for a fetch slot. */
struct ledger_claimant {
	const char *client, *cert, *source, *peer; /* cert: NULL or "" if unknown */
};

enum ledger_claim_result {
	LEDGER_CLAIM_OK,    /* a slot (or a repeat by the same certificate) */
	LEDGER_CLAIM_OTHER, /* another bundle is current: nothing counted */
	LEDGER_CLAIM_GONE,  /* no current bundle: ret->gone says why */
};

struct ledger_claim {
	enum ledger_claim_result result;
	uint64_t fetch_no; /* this fetch's number; a repeat's first fetch's */
	bool repeat;	   /* the same client-ca certificate again: not counted */
	bool last;	   /* this claim took the last slot: the bundle is used up */
	char current[BUNDLE_ID_HEX_LEN + 1]; /* with OTHER: the current bundle's id */
	enum store_gone gone;		     /* with GONE */
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t gone_at;
	char claim_id[33]; /* a ledger that names its claims (etcd's slots): this one's */
};

/* What the ledger says, copied (never a secret). */
struct ledger_view {
	bool current; /* a bundle is current */
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	uint64_t fetches, max_fetches;
	size_t n_fetch_log; /* the records themselves: fetch_log */
	enum store_gone gone;
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t gone_at;
	bool last_had_external;
	size_t n_seen;
};

/* Where a ledger that asks elsewhere stands (ledger-coord.c), for status; never a secret. */
#define LEDGER_HOLDERS_MAX 32
#define LEDGER_TEXT_MAX 96
struct ledger_holder {
	char node[LEDGER_TEXT_MAX + 1];
	char peer_address[LEDGER_TEXT_MAX + 1];
	char serving_pin[80]; /* sha256:HEX of its serving key */
};
struct ledger_coord_state {
	bool on;	/* coordination is on (false: the one-node ledger) */
	bool synced;	/* the ledger has heard from etcd since it started */
	bool reachable; /* the last call was answered */
	uint64_t revision;
	char node[LEDGER_TEXT_MAX + 1];
	char peer_address[LEDGER_TEXT_MAX + 1];
	char error[256]; /* the last failure, "" when none since */
	int64_t error_at;
	size_t pending;			  /* writes queued (retire), not yet answered */
	char origin[LEDGER_TEXT_MAX + 1]; /* the current bundle's uploading node */
	int64_t expires_at;
	uint64_t bytes;
	char current_id[BUNDLE_ID_HEX_LEN + 1]; /* the cluster's current bundle ("" none) */
	char sha256[65];			/* of its sealed bytes */
	size_t n_holders;
	struct ledger_holder holders[LEDGER_HOLDERS_MAX];
	size_t n_nodes; /* the registered serving nodes, this one included once registered */
	char nodes[LEDGER_HOLDERS_MAX][LEDGER_TEXT_MAX + 1];
};

/* A join token as a ledger that keeps them lists it (never its hash). */
#define LEDGER_TOKENS_MAX 64
struct ledger_token {
	char id[TOKEN_ID_LEN + 1];
	int64_t expires_at;
	uint64_t uses_left; /* 0: unlimited */
	uint64_t used;
	char description[API_TOKEN_DESCRIPTION_MAX + 1];
};

struct ledger;

struct ledger_ops {
	const char *name;
	/* Make b the current bundle (the previous one, if any, goes as "replaced"; its id in
	 * ret_replaced, "" if none). -EEXIST: its key id was used before; -ENOSPC: the key-id
	 * history is full (forgetting an id would let its key be used again); -EXDEV: it
	 * drops external etcd files the last one had, without allow_drop_external. On a
	 * refusal nothing changed. */
	int (*announce)(struct ledger *l, const struct ledger_bundle *b,
			char ret_replaced[BUNDLE_ID_HEX_LEN + 1]);
	/* Claim a fetch slot of bundle id for who, atomically with the check: two claimants
	 * can never both take the last slot. A client-ca certificate that already has a slot
	 * of this bundle gets it again, not counted. */
	int (*claim)(struct ledger *l, const char *id, const struct ledger_claimant *who,
		     struct ledger_claim *ret);
	/* Whether claim may wait (a round trip to another system): the serving side then
	 * suspends the connection and claims off its thread; a claim that cannot wait is made
	 * inline, which costs no thread hop (about 9 syscalls a fetch, measured). */
	bool (*claim_waits)(struct ledger *l);
	/* Give back a slot that claim gave who for bundle id (c: what it returned) and that
	 * was never delivered (the client left before its answer): the count goes down by
	 * one, who's fetch record goes, and a claim that had used the bundle up (c->last)
	 * makes it current again, provided nothing happened to it since (no announce,
	 * retire or load). A repeat or a refused claim gives nothing back (0). -ENOENT: the
	 * bundle is no longer the one claimed for (nothing changed). Called under the held
	 * state's lock today (store.c), as retire is. */
	int (*release)(struct ledger *l, const char *id, const struct ledger_claimant *who,
		       const struct ledger_claim *c);
	/* Bundle id is no longer current, for why (expired, deleted, lost). -ENOENT if id is
	 * not the current one (nothing changed). Never waits: a ledger that asks elsewhere
	 * changes what it says at once and queues the write (flush). */
	int (*retire)(struct ledger *l, const char *id, enum store_gone why);
	/* Optional (NULL: every write is done when it returns). Wait up to timeout_ms until
	 * every queued write was answered: 0, or -ENOLINK (not yet: the other system did not
	 * answer; the writes stay queued and are retried). */
	int (*flush)(struct ledger *l, int timeout_ms);
	/* 1 if key_id was ever announced, 0 if not. */
	int (*key_id_seen)(struct ledger *l, const char *key_id);
	void (*view)(struct ledger *l, struct ledger_view *ret);
	/* The current bundle's fetch records, in order: n copied into ret, at most max. */
	size_t (*fetch_log)(struct ledger *l, struct store_fetch_record *ret, size_t max);
	/* The key ids in the history, in order (for persist): n copied into ret, at most max. */
	size_t (*key_ids)(struct ledger *l, char (*ret)[KEY_ID_HEX_LEN + 1], size_t max);
	/* Replace everything with what a restore read (the one-node ledger's own state: an
	 * implementation that keeps its state elsewhere ignores it). */
	int (*load)(struct ledger *l, const struct ledger_view *v,
		    const struct store_fetch_record *fetch_log,
		    const char (*key_ids)[KEY_ID_HEX_LEN + 1], size_t n_key_ids);
	/* Optional (NULL: the one-node ledger): where coordination stands, for status. */
	void (*state)(struct ledger *l, struct ledger_coord_state *ret);
	/* Optional (NULL: nothing to tell). This node now holds the bytes of bundle id ("":
	 * none): peers may copy them from it. Never waits. */
	void (*holding)(struct ledger *l, const char *id);
	/* Optional (NULL: no peers). This node's serving key is now serving_pin's (a reload):
	 * registered again, and as a holder too. true if it changed. Never waits. */
	bool (*identity)(struct ledger *l, const char *serving_pin);
	/* Optional (NULL: no peers). 1 with ret_node if pin (sha256:HEX) is the serving key of
	 * another registered node (a peer), 0 if not. Never waits. */
	int (*peer_of)(struct ledger *l, const char *pin, char ret_node[LEDGER_TEXT_MAX + 1]);
	/* Optional (NULL: no peers). A connection to registered node node, opened by whoever
	 * may (pkishare-coordd), into *ret_fd (the caller closes it), with the node's record in
	 * ret. Waits. 0, or <0 with why. */
	int (*connect)(struct ledger *l, const char *node, struct ledger_holder *ret, int *ret_fd,
		       char *why, size_t why_len);
	/* Optional (NULL: whatever is held is current). Whether bundle id is the current one
	 * now, asked of the other system (not what this node last heard: a node cut off from
	 * it must not hand a replaced bundle to a peer that is cut off too). Waits. 0 if it
	 * is, -ESTALE if not, -ENOLINK when it did not answer. */
	int (*current)(struct ledger *l, const char *id);
	/* Optional, all six or none (NULL: join tokens are this node's, tokens.c). Join
	 * tokens kept where every node sees them, their uses counted once whichever node
	 * enrolls. add, delete and use wait (never on the serving thread); check and list
	 * read what the ledger last heard (check is asked before costly work, in the
	 * handshake's thread). Codes as store_token_add/delete/check/use (store.h), and
	 * -ENOLINK when the other system did not answer (nothing known to have changed). */
	int (*token_add)(struct ledger *l, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			 int64_t expires_at, uint64_t uses, const char *description);
	int (*token_delete)(struct ledger *l, const char *id);
	int (*token_check)(struct ledger *l, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			   int64_t *ret_at, char *ret_client, size_t client_len, bool *ret_expired);
	int (*token_use)(struct ledger *l, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			 const char *client);
	size_t (*token_list)(struct ledger *l, struct ledger_token *ret, size_t max);
	/* With the five above. What check reads, heard again from the other system unless a
	 * reading begun at or after since_ms (monotonic) already landed: for a token made on
	 * another node an instant ago, which this node's mirror may not have yet. Readings
	 * are shared by whoever waits for one and begin at most every few hundred ms, so that
	 * unknown tokens cost the other system little. Waits. 0, or -ENOLINK. */
	int (*token_refresh)(struct ledger *l, int64_t since_ms);
	/* Optional (NULL: the ledger changes only through these calls). Call changed(arg)
	 * (on the ledger's own thread, without its lock) whenever what view says may have
	 * changed by another node's doing. */
	void (*watch)(struct ledger *l, void (*changed)(void *arg), void *arg);
	void (*done)(struct ledger *l);
};

struct ledger {
	const struct ledger_ops *ops;
	void *state;
};

/* The one-node ledger (ledger-local.c): in this process's memory, kept across restarts
 * by persist.c through the held state (store.h). */
extern const struct ledger_ops ledger_local_ops;
int ledger_local_open(struct ledger *l);

/* The ledger over etcd, through pkishare-coordd's socket (ledger-coord.c; proto/coord.md).
 * open sets it up, start starts its thread (after store_attach, with the reaper). */
struct ledger_coord_config {
	const char *socket;	  /* coordd's unix socket */
	const char *node;	  /* this node's name */
	const char *peer_address; /* HOST:PORT where peers reach this node ("" none) */
	const char *serving_pin;  /* sha256:HEX of the serving key ("" none) */
};
extern const struct ledger_ops ledger_coord_ops;
int ledger_coord_open(struct ledger *l, const struct ledger_coord_config *cfg);
int ledger_coord_start(struct ledger *l);
