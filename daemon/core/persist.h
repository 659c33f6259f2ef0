/* persist.h - the held state outlives the process, never the boot, and never touches a
 * disk: it is kept in memory-only files handed to systemd's file descriptor store.
 *
 * Three kinds of file, each named in the store (FDNAME=):
 *   pkishared-key          32 random bytes: the MAC key of the other two
 *   pkishared-state        two slots, written alternately; each holds a record
 *                          (struct persist_record: everything the held state knows but
 *                          the bundle's bytes), a generation and a MAC
 *   pkishared-bundle-<id>-<n>  the sealed bundle exactly as uploaded, with its own MAC;
 *                          n counts every bundle file this state ever made, so no name
 *                          is used twice (FDSTOREREMOVE removes every file of a name)
 * Each is a memfd_secret(2) file where the kernel and the sandbox allow it (its pages are
 * out of the kernel's direct map and zeroed when freed), else a sealed memfd whose pages
 * are locked. The state is rewritten on every change before the change is acknowledged,
 * into the slot not last written, so a kill at any moment leaves one intact slot.
 *
 * The write-ordering rule: a file is made and handed to the store before the state that
 * names it is written, and dropped only after a state that no longer names it is
 * written. A kill between any two steps therefore leaves a newest slot whose files all
 * exist; files no slot names are left-overs, wiped at the next start. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "bundle.h"
#include "key.h"
#include "ledger.h"
#include "token.h"
#include "tokens.h"

/* The format of a slot and of a bundle file's head, written field by field (integers
 * little-endian, strings as a 16-bit length and their bytes), never a struct's memory:
 * a change of any structure of the daemon does not change it, and a change of the format
 * is a new number. 6: the first format written field by field (issue 31), with the
 * join tokens' descriptions. A state of any other format (5 was the last raw one) is not
 * read: the daemon starts empty and says why (docs/design.md). */
#define PERSIST_FORMAT_VERSION 6

/* The record a slot carries: persist's own, filled by the held state (store.c) from its
 * parts and given back to it at a restore. */
struct persist_fetch {
	int64_t at;
	char client[STORE_ID_MAX];
	char cert[STORE_CERT_ID_LEN + 1];
	char source[16];
	char peer[STORE_ID_MAX];
};
struct persist_token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t expires_at, deadline_ms;
	uint64_t uses_left, used;
	char description[API_TOKEN_DESCRIPTION_MAX + 1];
};
struct persist_record {
	/* The held bundle (held.h) and the ledger's word on it (ledger.h). */
	bool held;
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	int64_t created_at, expires_at, deadline_ms;
	uint64_t bundle_len;
	uint64_t fetches, max_fetches;
	size_t n_fetch_log;
	struct persist_fetch fetch_log[STORE_MAX_FETCH_LOG];
	/* The ledger's history. */
	uint8_t gone; /* enum store_gone */
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t gone_at;
	bool last_had_external;
	size_t n_seen;
	char seen[STORE_MAX_SEEN_KEYS][KEY_ID_HEX_LEN + 1];
	/* Join tokens (tokens.h). */
	size_t n_tokens;
	struct persist_token tokens[STORE_MAX_TOKENS];
};

/* A record's body as the slot holds it, after persist's own counters; written into
 * buf (cap bytes): the length, or -ENOBUFS. */
#define PERSIST_STR(n) (2 + (n))
#define PERSIST_BODY_MAX                                                                           \
	(4 * 8 + 1 + PERSIST_STR(BUNDLE_ID_HEX_LEN) + PERSIST_STR(KEY_ID_HEX_LEN) + 4 * 8 +        \
	 2 * 8 + 4 +                                                                               \
	 STORE_MAX_FETCH_LOG * (8 + PERSIST_STR(STORE_ID_MAX) + PERSIST_STR(STORE_CERT_ID_LEN) +   \
				PERSIST_STR(16) + PERSIST_STR(STORE_ID_MAX)) +                     \
	 1 + PERSIST_STR(BUNDLE_ID_HEX_LEN) + 8 + 1 + 4 +                                          \
	 STORE_MAX_SEEN_KEYS * PERSIST_STR(KEY_ID_HEX_LEN) + 4 +                                   \
	 STORE_MAX_TOKENS * (PERSIST_STR(TOKEN_ID_LEN) + TOKEN_HASH_BYTES + 4 * 8 +                \
			     PERSIST_STR(API_TOKEN_DESCRIPTION_MAX)))
/* The counters persist keeps beside the record (its own). */
struct persist_counters {
	int64_t held_since;
	uint64_t restores, bundle_seq, file_seq;
};
long persist_record_encode(const struct persist_counters *c, const struct persist_record *r,
			   uint8_t *buf, size_t cap);
/* Read a body back, checking every length, count, string and id: 0, or -EBADMSG with
 * *ret_why saying what is wrong (nothing is trusted from a body that fails). */
int persist_record_decode(const uint8_t *buf, size_t len, struct persist_counters *ret_c,
			  struct persist_record *ret, const char **ret_why);

/* Files the held state may need in systemd's store at one moment: key, state, the held
 * bundle and its replacement while an upload is being committed. */
#define PERSIST_FILES_NEEDED 4

/* One memory-only file of ours: its descriptor, our mapping, its name in the store. */
struct persist_file {
	int fd;
	unsigned char *map;
	size_t len;
	char name[64];
};

struct persist {
	bool enabled;	/* under systemd: every change is written to the store */
	bool secretmem; /* memfd_secret, not a plain memfd */
	struct persist_file key, state, bundle;
	struct persist_file next_bundle; /* made by persist_bundle_put, in force after commit */
	/* Files no longer in force: wiped and taken out of the store after the next save,
	 * never before (a kill in between must find every file the last slot names). */
	struct persist_file retired[2];
	uint64_t file_seq;	       /* bundle files made so far: the next one's name */
	uint64_t bundle_seq, next_seq; /* the held bundle's and next_bundle's number */
	uint64_t generation;
	int64_t held_since; /* wall clock: when this state was first made */
	uint64_t restores;  /* restarts it has survived */
	bool restored;	    /* this process resumed a previous one's state */
	bool refused;	    /* there was a state, and (part of) it failed a check (why says) */
	char why[320];	    /* why the state was not restored (whole), or is not kept */
	long fdstore_max;   /* the unit's FileDescriptorStoreMax=; -1 if it cannot be learnt */
	/* Files from systemd, until persist_start looks at them. */
	struct persist_file given[8];
	size_t n_given;
};

void persist_init(struct persist *p);
/* A descriptor systemd handed back; true if it is one of ours (taken), false if not. */
bool persist_take_fd(struct persist *p, int fd, const char *name);
/* Take back the state systemd kept, if any and if it passes every check: 1 with ret
 * filled (and *ret_bundle the held bundle's bytes; NULL with ret->held set when the bundle
 * alone was unusable, p->why says why: the caller says it is lost); 0: start empty (p->why
 * says why, if there was a state). Without systemd (no NOTIFY_SOCKET) nothing is kept.
 * Never fails the start. The caller saves at once (the restore count). */
int persist_start(struct persist *p, struct persist_record *ret, struct secret **ret_bundle);
/* Write rec (called with the held state's lock held, after every change). */
void persist_save_locked(struct persist *p, const struct persist_record *rec);
/* Keep a new bundle's bytes in a file of their own, in the store but not yet in force
 * (store lock held): -errno on failure, and then nothing changed. */
int persist_bundle_put(struct persist *p, const char *id, const struct secret *data);
/* The file persist_bundle_put made is not wanted after all (a refused upload): wiped and
 * taken out of the store. */
void persist_bundle_cancel(struct persist *p);
/* The file persist_bundle_put made is now the held bundle's; the previous one is retired
 * (wiped at the next save). */
void persist_bundle_commit(struct persist *p);
/* The held bundle's file is no longer in force: it is wiped and taken out of the store
 * right after the next persist_save_locked (store lock held). */
void persist_bundle_retire(struct persist *p);
/* systemctl stop (not restart): wipe every file and take them all out of the store;
 * nothing is kept from then on. */
void persist_drop_all(struct persist *p);
/* Unmap and close this process's references (the store keeps its own). */
void persist_close(struct persist *p);
/* "memfd_secret", "memfd" or "none". */
const char *persist_kind(const struct persist *p);
/* Is the held state kept, and what became of the last one: the one answer the status,
 * the metrics, STATUS= and a joiner's refusal read (through the held state's view). */
struct persist_status {
	bool kept;	    /* every change is written to systemd's store */
	const char *memory; /* persist_kind */
	int64_t held_since;
	uint64_t restores;
	bool refused; /* a kept state (or part of it) failed a check at start */
	char note[320];
};
void persist_status(const struct persist *p, struct persist_status *ret);
