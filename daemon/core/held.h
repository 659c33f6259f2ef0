/* held.h - the bytes this node holds: the sealed bundle exactly as uploaded, in guarded
 * memory, shared by reference with responses still being sent, with the deadline this
 * node enforces (monotonic, local: never another system's lease).
 *
 * Plain data and functions, no lock of its own: the held state (store.h) calls them
 * under its lock. Never a plaintext or a key: the bytes are sealed. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "key.h"
#include "secret.h"

/* The longest lifetime a bundle or a token may have: --max-ttl's bound, and the bound a
 * restored deadline is checked against (one owner, so a lifetime the daemon accepts is
 * one its restore accepts). */
#define STORE_MAX_TTL_S ((int64_t)1000 * 24 * 3600)

/* The held sealed bundle, shared by reference: a fetch allocates nothing; the holder drops
 * its reference when it wipes the bundle, the last reference wipes and frees the bytes. */
struct held_blob {
	_Atomic unsigned refs;
	struct secret *data;
};
/* A blob of data (ownership taken, also on failure: NULL). */
struct held_blob *held_blob_new(struct secret *data);
/* Drop one reference (NULL is fine); returns NULL. */
struct held_blob *held_blob_unref(struct held_blob *b);

struct held {
	struct held_blob *blob; /* NULL: nothing held */
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	int64_t created_at, expires_at; /* wall clock, from the bundle (for display) */
	int64_t deadline_ms;		/* monotonic: the one that is enforced */
	char *profile; /* the bundle's cluster profile, canonical JSON; NULL if none */
};

/* Hold blob (its reference taken over) as the bundle meta describes, until deadline_ms.
 * The profile is copied (NULL: none, or out of memory: shown as none). */
void held_set(struct held *h, struct held_blob *blob, const struct bundle *meta,
	      int64_t deadline_ms);
/* Let the bytes go: the holder's reference is dropped (a response being sent keeps its
 * own), the description cleared. */
void held_wipe(struct held *h);
/* Past either deadline: the monotonic one, or the sealed expiresAt by the wall clock
 * (CLOCK_MONOTONIC stops while the machine is suspended). */
bool held_past_deadline(const struct held *h, int64_t now_ms, int64_t now_wall);
/* The monotonic time the bytes must go by (the earlier of the two deadlines as the wall
 * clock reads now); INT64_MAX if nothing is held. */
int64_t held_next_deadline(const struct held *h, int64_t now_ms, int64_t now_wall);
/* A new reference to the held bytes, or NULL if none. */
struct held_blob *held_ref(struct held *h);
