/* test-api.c - the wire contract's reason table: every reason has one name, and each
 * name reads back as its reason (the daemon writes names, the client compares enums). */
#include <string.h>

#include "api.h"
#include "test.h"

static void api_every_reason_has_a_distinct_name_that_parses_back(void)
{
	for (unsigned i = 1; i < API_R_COUNT; i++) {
		const char *n = api_reason_name((enum api_reason)i);
		CHECK(n && strcmp(n, "unknown") != 0);
		CHECK_EQ_INT(api_reason_parse(n), i);
		for (unsigned j = 1; j < i; j++)
			CHECK(strcmp(n, api_reason_name((enum api_reason)j)) != 0);
	}
}

static void api_unknown_names_are_unknown(void)
{
	CHECK_EQ_INT(api_reason_parse(NULL), API_R_UNKNOWN);
	CHECK_EQ_INT(api_reason_parse("no-such-reason"), API_R_UNKNOWN);
	CHECK_EQ_INT(api_reason_parse("unknown"), API_R_UNKNOWN);
	CHECK(strcmp(api_reason_name((enum api_reason)999), "unknown") == 0);
}

static const struct test_case cases[] = {
    TEST(api_every_reason_has_a_distinct_name_that_parses_back),
    TEST(api_unknown_names_are_unknown),
};

int main(void)
{
	return test_run("api", cases, TEST_ELEMENTS(cases));
}
