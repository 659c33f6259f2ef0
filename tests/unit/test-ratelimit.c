/* test-ratelimit.c - failures per address per minute (daemon core): one address's
 * failures never turn another away, and the port does not make a new address. */
#include "ratelimit.h"
#include "test.h"

static void ratelimit_turns_away_after_the_limit(void)
{
	struct ratelimit rl;
	ratelimit_init(&rl);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(ratelimit_wait_ms(&rl, "10.0.0.1:1000", 3), 0);
		ratelimit_fail(&rl, "10.0.0.1:1000");
	}
	int64_t w = ratelimit_wait_ms(&rl, "10.0.0.1:1000", 3);
	CHECK(w > 0 && w <= RATELIMIT_WINDOW_MS);
	ratelimit_done(&rl);
}

static void ratelimit_counts_the_address_not_the_port(void)
{
	struct ratelimit rl;
	ratelimit_init(&rl);
	for (int i = 0; i < 3; i++)
		ratelimit_fail(&rl, i % 2 ? "10.0.0.1:1" : "10.0.0.1:2");
	CHECK(ratelimit_wait_ms(&rl, "10.0.0.1:3", 3) > 0);
	for (int i = 0; i < 3; i++)
		ratelimit_fail(&rl, "[::1]:5");
	CHECK(ratelimit_wait_ms(&rl, "[::1]:6", 3) > 0);
	ratelimit_done(&rl);
}

static void ratelimit_keeps_other_addresses_out_of_it(void)
{
	struct ratelimit rl;
	ratelimit_init(&rl);
	for (int i = 0; i < 10; i++)
		ratelimit_fail(&rl, "10.0.0.1:1");
	CHECK_EQ_INT(ratelimit_wait_ms(&rl, "10.0.0.2:1", 3), 0);
	ratelimit_done(&rl);
}

static void ratelimit_survives_more_addresses_than_slots(void)
{
	struct ratelimit rl;
	char peer[64];
	ratelimit_init(&rl);
	for (int i = 0; i < RATELIMIT_SLOTS * 3; i++) {
		snprintf(peer, sizeof(peer), "10.1.%d.%d:1", i / 256, i % 256);
		ratelimit_fail(&rl, peer);
		CHECK(ratelimit_wait_ms(&rl, peer, 5) >= 0);
	}
	ratelimit_done(&rl);
}

static const struct test_case cases[] = {
    TEST(ratelimit_turns_away_after_the_limit),
    TEST(ratelimit_counts_the_address_not_the_port),
    TEST(ratelimit_keeps_other_addresses_out_of_it),
    TEST(ratelimit_survives_more_addresses_than_slots),
};

int main(void)
{
	return test_run("ratelimit", cases, TEST_ELEMENTS(cases));
}
