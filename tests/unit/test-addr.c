/* test-addr.c - the one parser of server addresses (addr_parse) and addr_join. */
#include <string.h>

#include "addr.h"
#include "macro.h"
#include "test.h"
#include "util.h"

int main(void)
{
	char host[ADDR_HOST_MAX], detail[DETAIL_MAX], buf[ADDR_TEXT_MAX + ADDR_HOST_MAX];
	uint16_t port;
	const struct {
		const char *in, *host;
		unsigned port;
	} good[] = {
	    {"cp1", "cp1", 9443},
	    {"cp1.example.com:8443", "cp1.example.com", 8443},
	    {"10.0.0.11", "10.0.0.11", 9443},
	    {"10.0.0.11:1", "10.0.0.11", 1},
	    {"[2001:db8::1]:9444", "2001:db8::1", 9444},
	    {"[2001:db8::1]", "2001:db8::1", 9443},
	    {"2001:db8::1", "2001:db8::1", 9443},
	    {"::1", "::1", 9443},
	    {"https://cp1:65535", "cp1", 65535},
	    {"HTTPS://cp1.example.com/", "cp1.example.com", 9443},
	    {"https://[fd00::10]:9443/", "fd00::10", 9443},
	    {"under_score-ok.example", "under_score-ok.example", 9443},
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		memset(host, 0, sizeof(host));
		port = 0;
		CHECK_EQ_INT(addr_parse(good[i].in, ADDR_DEFAULT_PORT, host, &port, detail), 0);
		CHECK(!strcmp(host, good[i].host));
		CHECK_EQ_INT(port, good[i].port);
	}
	CHECK_EQ_INT(addr_parse("cp1", 6443, host, &port, detail), 0);
	CHECK_EQ_INT(port, 6443);

	const char *bad[] = {
	    "",		  ":9443",	  "cp1:",	   "cp1:0",	 "cp1:65536",
	    "cp1:-1",	  "cp1:+80",	  "cp1:80x",	   "cp1:123456", "[::1",
	    "[::1]x",	  "[::1]:",	  "[cp1]:9443",	   "[1.2.3.4]",	 "1:2:3",
	    "http://cp1", "ftp://cp1",	  "cp1/v1/bundle", "https://",	 "https://cp1/v1",
	    "cp 1",	  "cp1..example", ".cp1",	   "-cp1",	 "cp1:9443:1",
	    "cp1\n",	  "a@b",	  "://cp1",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		strcpy(host, "untouched");
		port = 7;
		int r = addr_parse(bad[i], ADDR_DEFAULT_PORT, host, &port, detail);
		CHECK_EQ_INT(r, -22);
		if (r == 0)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		CHECK(!strcmp(host, "untouched") && port == 7); /* out-params untouched */
		CHECK(detail[0] != 0);
	}
	/* A label of 64 characters, and a name past 253. */
	char longname[400];
	memset(longname, 'a', 64);
	longname[64] = 0;
	CHECK(addr_parse(longname, 1, host, &port, detail) < 0);
	memset(longname, 'a', 63);
	longname[63] = 0;
	CHECK_EQ_INT(addr_parse(longname, 1, host, &port, detail), 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	for (size_t i = 50; i < sizeof(longname) - 1; i += 50)
		longname[i] = '.';
	CHECK(addr_parse(longname, 1, host, &port, detail) < 0);
	/* Messages say what was expected. */
	addr_parse("cp1:0", ADDR_DEFAULT_PORT, host, &port, detail);
	CHECK(strstr(detail, "port must be a number from 1 to 65535") != NULL);
	addr_parse("http://cp1", ADDR_DEFAULT_PORT, host, &port, detail);
	CHECK(strstr(detail, "only https://") != NULL);

	addr_join("2001:db8::1", 9443, buf, sizeof(buf));
	CHECK(!strcmp(buf, "[2001:db8::1]:9443"));
	addr_join("10.0.0.1", 9443, buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.0.0.1:9443"));
	addr_join("cp1", 1, buf, sizeof(buf));
	CHECK(!strcmp(buf, "cp1:1"));
	return test_done("addr");
}
