/* testhook.c - test-only delays (see testhook.h): compiled to nothing without
 * PKISHARE_TEST_HOOKS. */
#include <pthread.h>
#include <stdlib.h>

#include "config.h"
#include "testhook.h"
#include "util.h"

#if PKISHARE_TEST_HOOKS
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int64_t claim_delay_ms, watch_delay_ms;
static bool claim_set;

static void read_env(void)
{
	const char *v = getenv("PKISHARE_TEST_CLAIM_DELAY_MS");
	uint64_t n;
	if (v && uint_parse(v, 600000, &n) == 0) {
		claim_delay_ms = (int64_t)n;
		claim_set = true;
	}
	v = getenv("PKISHARE_TEST_WATCH_DELAY_MS");
	if (v && uint_parse(v, 600000, &n) == 0)
		watch_delay_ms = (int64_t)n;
}

int64_t testhook_watch_delay_ms(void)
{
	pthread_once(&once, read_env);
	return watch_delay_ms;
}

bool testhook_claim_set(void)
{
	pthread_once(&once, read_env);
	return claim_set;
}

int64_t testhook_claim_delay_ms(void)
{
	pthread_once(&once, read_env);
	return claim_delay_ms;
}

bool testhook_built(void)
{
	return true;
}
#else
int64_t testhook_claim_delay_ms(void)
{
	return 0;
}

int64_t testhook_watch_delay_ms(void)
{
	return 0;
}

bool testhook_claim_set(void)
{
	return false;
}

bool testhook_built(void)
{
	return false;
}
#endif
