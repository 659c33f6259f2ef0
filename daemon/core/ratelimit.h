/* ratelimit.h - failures counted per peer address over a one-minute window, to slow down
 * token guessing and clients that keep presenting refused certificates.
 *
 * Holds addresses only, never what was presented. Thread-safe (its own lock). */
#pragma once

#include <pthread.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 256
#define RATELIMIT_WINDOW_MS 60000 /* failures per minute, then refusals until it is over */

struct ratelimit {
	pthread_mutex_t lock;
	struct {
		char addr[64];
		unsigned failures;
		int64_t window_start_ms;
	} slot[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *rl);
void ratelimit_done(struct ratelimit *rl);
/* Milliseconds until the address of peer ("addr:port" or "[v6]:port") may try again
 * (0: it may now), given limit failures per window. */
int64_t ratelimit_wait_ms(struct ratelimit *rl, const char *peer, unsigned limit);
/* Record one failure for the address of peer. */
void ratelimit_fail(struct ratelimit *rl, const char *peer);
