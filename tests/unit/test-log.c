/* test-log.c - the daemon's one logging path (log.c, core): log_quote for values a peer
 * controls, and stderr lines that no value can split or forge a field on. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static void plain_words_stay_as_they_are(void)
{
	char out[LOG_QUOTE_MAX];
	CHECK(!strcmp(log_quote("node-2.example:9443", out, sizeof(out)), "node-2.example:9443"));
	CHECK(!strcmp(log_quote("/v1/bundle", out, sizeof(out)), "/v1/bundle"));
}

static void anything_else_is_quoted_and_escaped(void)
{
	char out[LOG_QUOTE_MAX];
	CHECK(!strcmp(log_quote("", out, sizeof(out)), "\"\""));
	CHECK(!strcmp(log_quote("a b", out, sizeof(out)), "\"a b\""));
	CHECK(!strcmp(log_quote("x\" result=ok", out, sizeof(out)), "\"x\\\" result=ok\""));
	CHECK(!strcmp(log_quote("a\\b", out, sizeof(out)), "\"a\\\\b\""));
	CHECK(!strcmp(log_quote("l1\nl2", out, sizeof(out)), "\"l1\\x0al2\""));
	CHECK(!strcmp(log_quote("\x1b[31m\xc3\xa9", out, sizeof(out)), "\"\\x1b[31m\\xc3\\xa9\""));
}

static void long_values_are_cut_with_an_ellipsis(void)
{
	char in[600], out[32];
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = 0;
	log_quote(in, out, sizeof(out));
	CHECK(strlen(out) < sizeof(out));
	CHECK(out[0] == '"' && !strcmp(out + strlen(out) - 4, "...\""));
	/* An escape is never cut in half. */
	memset(in, '\n', 40);
	in[40] = 0;
	log_quote(in, out, sizeof(out));
	CHECK(strstr(out, "\\x0a...\"") != NULL);
	char tiny[4] = "xyz";
	log_quote("abc", tiny, sizeof(tiny));
	CHECK(tiny[0] == 0);
}

static void level_names_parse_in_any_case(void)
{
	CHECK_EQ_INT(log_level_parse("error"), LOG_ERR);
	CHECK_EQ_INT(log_level_parse("WARNING"), LOG_WARNING);
	CHECK_EQ_INT(log_level_parse("notice"), LOG_NOTICE);
	CHECK_EQ_INT(log_level_parse("info"), LOG_INFO);
	CHECK_EQ_INT(log_level_parse("Debug"), LOG_DEBUG);
	CHECK_EQ_INT(log_level_parse("verbose"), -1);
	CHECK_EQ_INT(log_level_parse(""), -1);
}

/* What log_msg and log_audit write to stderr while fn runs. */
static char *captured(void (*fn)(void))
{
	static char buf[4096];
	FILE *f = tmpfile();
	int saved = dup(2);
	fflush(stderr);
	dup2(fileno(f), 2);
	/* log_setup looks at what stderr is (a pipe gets a descriptor of its own). */
	log_setup(LOG_INFO);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_setup(LOG_INFO);
	rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void write_lines(void)
{
	log_msg(LOG_INFO, "value %s\npkishared: error: forged", "x");
	log_msg(LOG_DEBUG, "below the threshold");
	log_audit(&(struct audit){.event = AUDIT_FETCH,
				  .peer = "192.0.2.1:5000",
				  .client = "n result=ok",
				  .result = "forbidden"},
		  "refused");
}

static void stderr_lines_cannot_be_split_or_forged(void)
{
	unsetenv("JOURNAL_STREAM");
	log_setup(LOG_INFO);
	char *out = captured(write_lines);
	CHECK(!strcmp(out, "pkishared: info: value x\\x0apkishared: error: forged\n"
			   "pkishared: audit: event=fetch peer=192.0.2.1:5000 client=\"n "
			   "result=ok\" source=- bundle=- result=forbidden: refused\n"));
	if (strchr(out, 'x') == NULL || strstr(out, "threshold"))
		fprintf(stderr, "  got: %s", out);
}

static const struct test_case cases[] = {
    TEST(plain_words_stay_as_they_are),		  TEST(anything_else_is_quoted_and_escaped),
    TEST(long_values_are_cut_with_an_ellipsis),	  TEST(level_names_parse_in_any_case),
    TEST(stderr_lines_cannot_be_split_or_forged),
};

int main(void)
{
	return test_run("log", cases, TEST_ELEMENTS(cases));
}
