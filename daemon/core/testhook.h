/* testhook.h - delays that only a test build has (meson -Dtest_hooks; on by default for
 * debug and debugoptimized builds, never in a plain build such as the Debian package's,
 * nor release or minsize): each is read once from the environment at start and logged
 * loudly when set. In a build without them every hook answers "none". */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* PKISHARE_TEST_CLAIM_DELAY_MS: every fetch's claim (ledger.h) waits this long first, as a
 * claim that asks another system would (integration.slow-claim). 0: none. */
int64_t testhook_claim_delay_ms(void);
/* The variable is set (even to 0): the one-node ledger's claim then counts as one that
 * may wait, so fetches take the suspend-and-resume path (serve/fetchq.c). */
bool testhook_claim_set(void);
/* PKISHARE_TEST_WATCH_DELAY_MS: the coordinated ledger's thread reads a change the watch
 * reported only this long after, as a slow watch would (e2e.multinode: a token made on
 * another node an instant ago). 0: none. */
int64_t testhook_watch_delay_ms(void);
/* Whether this build honours the hooks at all. */
bool testhook_built(void);
