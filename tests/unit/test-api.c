/* test-api.c - the wire contract: every reason has one name, and each name reads back as
 * its reason (the daemon writes names, the client compares enums); every field name is
 * distinct and documented in proto/api.md (argv[1]: proto/vectors, beside it). */
#include <ctype.h>
#include <stdio.h>
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

static const char *vectors_dir = "proto/vectors";

static void api_field_names_are_distinct(void)
{
	size_t n = 0;
	for (; api_fields[n]; n++)
		for (size_t j = 0; j < n; j++)
			CHECK(strcmp(api_fields[n], api_fields[j]) != 0);
	CHECK(n >= 40);
}

/* name appears in doc as a whole word. */
static bool documented(const char *doc, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = strstr(doc, name); p; p = strstr(p + 1, name))
		if ((p == doc || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[len]))
			return true;
	return false;
}

static void api_every_field_is_documented_in_api_md(void)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/../api.md", vectors_dir);
	char *doc = test_slurp(path);
	CHECK(doc != NULL);
	for (size_t i = 0; doc && api_fields[i]; i++) {
		CHECK(documented(doc, api_fields[i]));
		if (!documented(doc, api_fields[i]))
			fprintf(stderr, "  proto/api.md does not name the field %s\n",
				api_fields[i]);
	}
	CHECK(doc && documented(doc, API_Q_MAX_FETCHES) &&
	      documented(doc, API_Q_DROP_EXTERNAL_ETCD));
	/* "id" is a field name too: the query parameter must be documented as one. */
	CHECK(doc && strstr(doc, "GET " API_ROUTE_BUNDLE "?" API_Q_ID "=") &&
	      strstr(doc, api_reason_name(API_R_OTHER_BUNDLE_HELD)));
	free(doc);
}

static const struct test_case cases[] = {
    TEST(api_field_names_are_distinct),
    TEST(api_every_field_is_documented_in_api_md),
    TEST(api_every_reason_has_a_distinct_name_that_parses_back),
    TEST(api_unknown_names_are_unknown),
};

int main(int argc, char **argv)
{
	if (argc > 1)
		vectors_dir = argv[1];
	return test_run("api", cases, TEST_ELEMENTS(cases));
}
