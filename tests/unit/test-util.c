/* test-util.c - durations, canonical times, safe names, pins. */
#include <string.h>

#include "error.h"
#include "macro.h"
#include "pin.h"
#include "test.h"
#include "util.h"

int main(void)
{
	int64_t s;
	char buf[64];
	uint8_t pin[PIN_BYTES];

	CHECK_EQ_INT(duration_parse("90s", &s), 0);
	CHECK_EQ_INT(s, 90);
	CHECK_EQ_INT(duration_parse("15m", &s), 0);
	CHECK_EQ_INT(s, 900);
	CHECK_EQ_INT(duration_parse("2h", &s), 0);
	CHECK_EQ_INT(s, 7200);
	/* Go's form, as kubeadm prints and takes it. */
	CHECK_EQ_INT(duration_parse("1h30m0s", &s), 0);
	CHECK_EQ_INT(s, 5400);
	CHECK_EQ_INT(duration_parse("1.5h", &s), 0);
	CHECK_EQ_INT(s, 5400);
	CHECK_EQ_INT(duration_parse("0.5m", &s), 0);
	CHECK_EQ_INT(s, 30);
	CHECK_EQ_INT(duration_parse("2h0m0s", &s), 0);
	CHECK_EQ_INT(s, 7200);
	CHECK_EQ_INT(duration_parse(".5h", &s), 0);
	CHECK_EQ_INT(s, 1800);
	CHECK_EQ_INT(duration_parse("24000h", &s), 0);
	CHECK_EQ_INT(duration_parse("24001h", &s), -PKS_E_DURATION); /* past 1000 days */
	CHECK_EQ_INT(duration_parse_max("87600h", DURATION_LIMIT_SECONDS, &s), 0);
	CHECK_EQ_INT(s, 87600LL * 3600);
	s = 42;
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
		s = 42;
		CHECK_EQ_INT(duration_parse(bad[i], &s), -PKS_E_DURATION);
		CHECK_EQ_INT(s, 42); /* untouched on failure */
	}
	duration_format(7200, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2h"));
	duration_format(5400, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1h30m"));
	duration_format(3601, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1h0m1s"));
	duration_format(90061, buf, sizeof(buf));
	CHECK(!strcmp(buf, "25h1m1s"));
	duration_format(45, buf, sizeof(buf));
	CHECK(!strcmp(buf, "45s"));

	char t[RFC3339_LEN];
	time_format(1790000000, t);
	CHECK(!strcmp(t, "2026-09-21T14:13:20Z"));
	CHECK_EQ_INT(time_parse(t, &s), 0);
	CHECK_EQ_INT(s, 1790000000);
	CHECK(time_parse("2026-09-21T14:13:20+00:00", &s) < 0);
	CHECK(time_parse("2026-9-21T14:13:20Z", &s) < 0);
	CHECK(time_parse("2026-02-30T14:13:20Z", &s) < 0);
	CHECK(time_parse(NULL, &s) < 0);

	CHECK(name_is_safe("ca.key"));
	CHECK(name_is_safe("etcd/ca.key"));
	const char *unsafe[] = {"",	   "..",       ".",    "../ca.key", "etcd/../ca.key",
				"/ca.key", "etcd/",    "a//b", "a/b/c",	    "ca key",
				"ca\nkey", "ca.key\\x"};
	for (size_t i = 0; i < ELEMENTSOF(unsafe); i++)
		CHECK(!name_is_safe(unsafe[i]));

	char detail[DETAIL_MAX];
	CHECK_EQ_INT(
	    pin_parse("sha256:c7e24144fe7526be2cb219ca7af1f790b992b06d71c5194dc9f6679262d23849",
		      pin, detail),
	    0);
	CHECK_EQ_INT(pin[0], 0xc7);
	char txt[PIN_TEXT_LEN + 1];
	pin_format(pin, txt);
	CHECK(!strcmp(txt,
		      "sha256:c7e24144fe7526be2cb219ca7af1f790b992b06d71c5194dc9f6679262d23849"));
	CHECK_EQ_INT(pin_parse("c7e24144fe7526be2cb219ca7af1f790b992b06d71c5194dc9f6679262d23849",
			       pin, detail),
		     -PKS_E_PIN_FORMAT);
	CHECK(strstr(detail, "prefix") != NULL);
	CHECK_EQ_INT(pin_parse("sha256:c7e2", pin, detail), -PKS_E_PIN_FORMAT);
	CHECK(strstr(detail, "found 4") != NULL);
	CHECK_EQ_INT(
	    pin_parse("sha256:z7e24144fe7526be2cb219ca7af1f790b992b06d71c5194dc9f6679262d23849",
		      pin, detail),
	    -PKS_E_PIN_FORMAT);

	uint64_t u;
	CHECK_EQ_INT(uint_parse("3", 10, &u), 0);
	CHECK_EQ_INT(u, 3);
	CHECK(uint_parse("11", 10, &u) < 0);
	CHECK(uint_parse("-1", 10, &u) < 0);
	CHECK(uint_parse("", 10, &u) < 0);
	return test_done("test-util");
}
