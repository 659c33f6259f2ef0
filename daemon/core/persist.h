/* persist.h - the held state outlives the process, never the boot, and never touches a
 * disk: it is kept in memory-only files handed to systemd's file descriptor store.
 *
 * Three kinds of file, each named in the store (FDNAME=):
 *   pkishared-key          32 random bytes: the MAC key of the other two
 *   pkishared-state        two slots, written alternately; each holds everything the
 *                          store knows but the bundle's bytes, a generation and a MAC
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

#include "store.h"

struct persist_slot;

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
/* Resume the state systemd kept, if any and if it passes every check, into s (before the
 * reaper starts); otherwise start empty and say why in p->why. Without systemd
 * (no NOTIFY_SOCKET) nothing is kept. Never fails the start. */
void persist_start(struct persist *p, struct store *s);
/* Write the store's state (called with the store's lock held, after every change). */
void persist_save_locked(struct persist *p, const struct store *s);
/* Keep a new bundle's bytes in a file of their own, in the store but not yet in force
 * (store lock held): -errno on failure, and then nothing changed. */
int persist_bundle_put(struct persist *p, const char *id, const struct secret *data);
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
