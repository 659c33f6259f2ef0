/* test-util.c - durations as Go and kubeadm write them, canonical times, safe names,
 * bounded strings and numbers. */
#include <string.h>

#include "error.h"
#include "macro.h"
#include "test.h"
#include "util.h"

static void durations_in_go_and_kubeadm_form_parse(void)
{
	const struct {
		const char *in;
		int64_t s;
	} good[] = {
	    {"90s", 90},       {"15m", 900},   {"2h", 7200},
	    {"1h30m0s", 5400}, {"1.5h", 5400}, {"0.5m", 30},
	    {"2h0m0s", 7200},  {".5h", 1800},  {"24000h", 24000LL * 3600},
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		int64_t s = 0;
		CHECK_EQ_INT(duration_parse(good[i].in, &s), 0);
		CHECK_EQ_INT(s, good[i].s);
	}
}

static void durations_are_bounded_by_1000_days_unless_told(void)
{
	int64_t s;
	CHECK_EQ_INT(duration_parse("24001h", &s), -PKS_E_DURATION);
	CHECK_EQ_INT(duration_parse_max("87600h", DURATION_LIMIT_SECONDS, &s), 0);
	CHECK_EQ_INT(s, 87600LL * 3600);
}

static void malformed_durations_are_refused_and_leave_the_output(void)
{
	const char *bad[] = {"",
			     "h",
			     "0s",
			     "-5m",
			     "5",
			     "5d",
			     "5 m",
			     "99999999999h",
			     "0.5s",
			     "1.000000001s",
			     "100ms",
			     "1h30",
			     "0",
			     ".",
			     "1..5h",
			     "+1h",
			     "1h-5m",
			     "1e3s",
			     "inf",
			     "1h ",
			     "9223372036854775807h",
			     "1.5"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int64_t s = 42;
		CHECK_EQ_INT(duration_parse(bad[i], &s), -PKS_E_DURATION);
		CHECK_EQ_INT(s, 42);
	}
}

static void durations_format_as_go_prints_them(void)
{
	const struct {
		int64_t s;
		const char *out;
	} cases[] = {
	    {7200, "2h"}, {5400, "1h30m"}, {3601, "1h0m1s"}, {90061, "25h1m1s"}, {45, "45s"}};
	char buf[64];
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		duration_format(cases[i].s, buf, sizeof(buf));
		CHECK(!strcmp(buf, cases[i].out));
	}
}

static void times_are_rfc3339_utc_only(void)
{
	char t[RFC3339_LEN];
	int64_t s;
	time_format(1790000000, t);
	CHECK(!strcmp(t, "2026-09-21T14:13:20Z"));
	CHECK_EQ_INT(time_parse(t, &s), 0);
	CHECK_EQ_INT(s, 1790000000);
	CHECK(time_parse("2026-09-21T14:13:20+00:00", &s) < 0);
	CHECK(time_parse("2026-9-21T14:13:20Z", &s) < 0);
	CHECK(time_parse("2026-02-30T14:13:20Z", &s) < 0);
	CHECK(time_parse(NULL, &s) < 0);
}

static void safe_names_are_one_level_of_plain_components(void)
{
	CHECK(name_is_safe("ca.key"));
	CHECK(name_is_safe("etcd/ca.key"));
	const char *unsafe[] = {"",	   "..",       ".",    "../ca.key", "etcd/../ca.key",
				"/ca.key", "etcd/",    "a//b", "a/b/c",	    "ca key",
				"ca\nkey", "ca.key\\x"};
	for (size_t i = 0; i < ELEMENTSOF(unsafe); i++)
		CHECK(!name_is_safe(unsafe[i]));
	char longname[70];
	memset(longname, 'a', 65);
	longname[65] = 0;
	CHECK(!name_is_safe(longname));
}

static void lower_hex_is_exact_in_length_and_case(void)
{
	CHECK(str_is_lower_hex("0af9", 4));
	CHECK(!str_is_lower_hex("0AF9", 4));
	CHECK(!str_is_lower_hex("0af", 4));
	CHECK(!str_is_lower_hex("0af9a", 4));
	CHECK(!str_is_lower_hex("0ag9", 4));
}

static void strings_are_cut_and_terminated(void)
{
	char small[4];
	str_copy(small, sizeof(small), "abcdef");
	CHECK(!strcmp(small, "abc"));
	str_copy(small, sizeof(small), "");
	CHECK(!strcmp(small, ""));
	CHECK(str_format(small, sizeof(small), "%d", 12345));
	CHECK(!strcmp(small, "123"));
	CHECK(!str_format(small, sizeof(small), "%s", "ab"));
	CHECK(!strcmp(small, "ab"));
}

static void printable_replaces_control_and_non_ascii_bytes(void)
{
	char s[] = "ok \x1b[31mred\x7f\xc3\xa9 ~";
	str_printable(s);
	CHECK(!strcmp(s, "ok ?[31mred??? ~"));
}

static void unsigned_numbers_are_bounded(void)
{
	uint64_t u = 7;
	CHECK_EQ_INT(uint_parse("3", 10, &u), 0);
	CHECK_EQ_INT(u, 3);
	CHECK(uint_parse("11", 10, &u) < 0);
	CHECK(uint_parse("-1", 10, &u) < 0);
	CHECK(uint_parse("", 10, &u) < 0);
	CHECK(uint_parse("1x", 10, &u) < 0);
	CHECK(uint_parse("99999999999999999999999", UINT64_MAX, &u) < 0);
	CHECK_EQ_INT(u, 3);
	CHECK(uint_parse("9", 5, &u) < 0);
	CHECK_EQ_INT(uint_parse("18446744073709551615", UINT64_MAX, &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK(uint_parse("18446744073709551616", UINT64_MAX, &u) < 0);
}

static void clocks_move_forward(void)
{
	CHECK(time_now() > 1700000000);
	int64_t a = time_mono_ms(), b = time_mono_ms();
	CHECK(b >= a && a > 0);
}

static const struct test_case cases[] = {
    TEST(durations_in_go_and_kubeadm_form_parse),
    TEST(durations_are_bounded_by_1000_days_unless_told),
    TEST(malformed_durations_are_refused_and_leave_the_output),
    TEST(durations_format_as_go_prints_them),
    TEST(times_are_rfc3339_utc_only),
    TEST(safe_names_are_one_level_of_plain_components),
    TEST(lower_hex_is_exact_in_length_and_case),
    TEST(strings_are_cut_and_terminated),
    TEST(printable_replaces_control_and_non_ascii_bytes),
    TEST(unsigned_numbers_are_bounded),
    TEST(clocks_move_forward),
};

int main(void)
{
	return test_run("util", cases, TEST_ELEMENTS(cases));
}
