/* ledger.h - the decisions every serving node must agree on about the held bundle: which
 * bundle is current, every key id ever used, the fetch slots and who took them, and why
 * the last bundle went. Behind an ops table (the shape of knot-resolver's storage API):
 * the caller holds { ops, state } and never knows which implementation it has.
 * ledger-local.c is the one-node implementation; one over etcd (metadata only, never
 * the ciphertext: docs/design.md, "Growing past one node") would be another.
 *
 * Not here: the bytes (held.h, each node's own) and their deadline (local: a lease is not
 * a deadline), join tokens (tokens.h). The ledger never sees a secret: ids, counts,
 * names. Every operation is atomic on its own (the local one has a lock of its own).
 * claim may wait (a round trip to another system): it is never called under the held
 * state's lock, nor on the serving thread (serve/fetchq.c calls it, off that thread).
 * announce, retire, key_id_seen, view and key_ids are called under the held state's lock
 * today (store.c), so a ledger that must ask another system for those needs that lock
 * split first (docs/design.md, "Growing past one node"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "key.h"

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
	 * not the current one (nothing changed). */
	int (*retire)(struct ledger *l, const char *id, enum store_gone why);
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
