/* ratelimit.c - failures per peer address per minute (see ratelimit.h).
 *
 * A fixed table: when it is full the oldest window is reused, so a flood of addresses
 * costs memory no more than RATELIMIT_SLOTS entries. */
#include <string.h>

#include "addr.h"
#include "ratelimit.h"
#include "util.h"

void ratelimit_init(struct ratelimit *rl)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
}

void ratelimit_done(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

int64_t ratelimit_wait_ms(struct ratelimit *rl, const char *peer, unsigned limit)
{
	char addr[64];
	int64_t now = time_mono_ms(), wait = 0;
	addr_host_part(peer, addr, sizeof(addr));
	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < RATELIMIT_SLOTS; i++)
		if (rl->slot[i].failures && strcmp(rl->slot[i].addr, addr) == 0) {
			int64_t end = rl->slot[i].window_start_ms + RATELIMIT_WINDOW_MS;
			if (now >= end)
				rl->slot[i].failures = 0;
			else if (rl->slot[i].failures >= limit)
				wait = end - now;
			break;
		}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void ratelimit_fail(struct ratelimit *rl, const char *peer)
{
	char addr[64];
	int64_t now = time_mono_ms();
	size_t victim = 0;
	addr_host_part(peer, addr, sizeof(addr));
	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < RATELIMIT_SLOTS; i++) {
		if (rl->slot[i].failures && strcmp(rl->slot[i].addr, addr) == 0) {
			if (now >= rl->slot[i].window_start_ms + RATELIMIT_WINDOW_MS) {
				rl->slot[i].failures = 0;
				rl->slot[i].window_start_ms = now;
			}
			rl->slot[i].failures++;
			pthread_mutex_unlock(&rl->lock);
			return;
		}
		/* Reuse an empty slot, else the oldest window. */
		if (!rl->slot[i].failures ||
		    (rl->slot[victim].failures &&
		     rl->slot[i].window_start_ms < rl->slot[victim].window_start_ms))
			victim = i;
	}
	str_copy(rl->slot[victim].addr, sizeof(rl->slot[victim].addr), addr);
	rl->slot[victim].failures = 1;
	rl->slot[victim].window_start_ms = now;
	pthread_mutex_unlock(&rl->lock);
}
