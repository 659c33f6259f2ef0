/* test-addr.c - the one parser of addresses: a server as an operator writes it
 * (addr_parse), the daemon's listen address (addr_parse_listen), and their formatting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "macro.h"
#include "test.h"
#include "util.h"

static char host[ADDR_HOST_MAX], detail[DETAIL_MAX];
static uint16_t port;

static void server_forms_give_host_and_port(void)
{
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
	    {"cp1:000080", "cp1", 80},
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		memset(host, 0, sizeof(host));
		port = 0;
		CHECK_EQ_INT(addr_parse(good[i].in, ADDR_DEFAULT_PORT, host, &port, detail), 0);
		CHECK(!strcmp(host, good[i].host));
		CHECK_EQ_INT(port, good[i].port);
	}
}

static void server_without_port_takes_the_default_given(void)
{
	CHECK_EQ_INT(addr_parse("cp1", 6443, host, &port, detail), 0);
	CHECK_EQ_INT(port, 6443);
}

static void server_refuses_malformed_and_leaves_out_params(void)
{
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
		detail[0] = 0;
		int r = addr_parse(bad[i], ADDR_DEFAULT_PORT, host, &port, detail);
		CHECK_EQ_INT(r, -22);
		if (r == 0)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		CHECK(!strcmp(host, "untouched") && port == 7); /* out-params untouched */
		CHECK(detail[0] != 0);
	}
}

static void server_names_are_bounded_by_label_and_length(void)
{
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
}

static void server_messages_say_what_was_expected(void)
{
	addr_parse("cp1:0", ADDR_DEFAULT_PORT, host, &port, detail);
	CHECK(strstr(detail, "port must be a number from 1 to 65535") != NULL);
	addr_parse("http://cp1", ADDR_DEFAULT_PORT, host, &port, detail);
	CHECK(strstr(detail, "only https://") != NULL);
	addr_parse("cp1/x", ADDR_DEFAULT_PORT, host, &port, detail);
	CHECK(strstr(detail, "has a path; expected HOST, HOST:PORT") != NULL);
}

static void listen_takes_ip_and_port_with_port_zero(void)
{
	const struct {
		const char *in, *host;
		unsigned port;
	} good[] = {
	    {"0.0.0.0:9443", "0.0.0.0", 9443},
	    {"127.0.0.1:0", "127.0.0.1", 0},
	    {"[::]:9443", "::", 9443},
	    {"[::1]:0", "::1", 0},
	    {"10.0.0.1:65535", "10.0.0.1", 65535},
	    {"127.0.0.1:065535", "127.0.0.1", 65535}, /* leading zeros, as getaddrinfo took them */
	    {"127.0.0.1:0000000", "127.0.0.1", 0},
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		port = 7;
		CHECK_EQ_INT(addr_parse_listen(good[i].in, host, &port, detail), 0);
		CHECK(!strcmp(host, good[i].host));
		CHECK_EQ_INT(port, good[i].port);
	}
}

static void listen_refuses_names_schemes_and_a_missing_or_large_port(void)
{
	/* 127.0.0.1:99999 was bound (as 34463) by the old getaddrinfo-based parser. */
	const char *bad[] = {
	    "127.0.0.1:99999",
	    "127.0.0.1:65536",
	    "localhost:9443",
	    "cp1:9443",
	    "127.0.0.1",
	    "[::1]",
	    "::1",
	    ":9443",
	    "0.0.0.0:x",
	    "https://127.0.0.1:0",
	    "127.0.0.1:0/",
	    "",
	    "[::1]:",
	    "1.2.3:9443",
	    "[127.0.0.1]:1",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		strcpy(host, "untouched");
		port = 7;
		detail[0] = 0;
		int r = addr_parse_listen(bad[i], host, &port, detail);
		CHECK_EQ_INT(r, -22);
		if (r == 0)
			fprintf(stderr, "listen accepted: '%s'\n", bad[i]);
		CHECK(!strcmp(host, "untouched") && port == 7);
		CHECK(strstr(detail, "IPv4:PORT or [IPv6]:PORT") != NULL ||
		      strstr(detail, "from 0 to 65535") != NULL ||
		      strstr(detail, "IPv6 address") != NULL);
	}
	addr_parse_listen("localhost:9443", host, &port, detail);
	CHECK(strstr(detail, "is not an IP address") != NULL);
	addr_parse_listen("[::1]", host, &port, detail);
	CHECK(strstr(detail, "has no port") != NULL);
}

static void join_brackets_ipv6_only(void)
{
	char buf[ADDR_TEXT_MAX + ADDR_HOST_MAX];
	addr_join("2001:db8::1", 9443, buf, sizeof(buf));
	CHECK(!strcmp(buf, "[2001:db8::1]:9443"));
	addr_join("10.0.0.1", 9443, buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.0.0.1:9443"));
	addr_join("cp1", 1, buf, sizeof(buf));
	CHECK(!strcmp(buf, "cp1:1"));
}

static void format_shows_mapped_ipv4_as_ipv4(void)
{
	char buf[ADDR_TEXT_MAX];
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(9443)};
	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	addr_format((struct sockaddr *)&in, buf, sizeof(buf));
	CHECK(!strcmp(buf, "192.0.2.1:9443"));
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
	addr_format((struct sockaddr *)&in6, buf, sizeof(buf));
	CHECK(!strcmp(buf, "192.0.2.7:1"));
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	addr_format((struct sockaddr *)&in6, buf, sizeof(buf));
	CHECK(!strcmp(buf, "[2001:db8::1]:1"));
	addr_format(NULL, buf, sizeof(buf));
	CHECK(!strcmp(buf, "unknown"));
	struct sockaddr un = {.sa_family = AF_UNIX};
	addr_format(&un, buf, sizeof(buf));
	CHECK(!strcmp(buf, "unix"));
}

static void net_groups_ipv4_by_24_and_ipv6_by_64(void)
{
	uint8_t a[ADDR_NET_LEN], b[ADDR_NET_LEN];
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	addr_net((struct sockaddr *)&in, a);
	inet_pton(AF_INET, "192.0.2.254", &in.sin_addr);
	addr_net((struct sockaddr *)&in, b);
	CHECK(memcmp(a, b, ADDR_NET_LEN) == 0);
	/* An IPv4 client of a dual-stack socket is in its IPv4 /24. */
	inet_pton(AF_INET6, "::ffff:192.0.2.77", &in6.sin6_addr);
	addr_net((struct sockaddr *)&in6, b);
	CHECK(memcmp(a, b, ADDR_NET_LEN) == 0);
	inet_pton(AF_INET, "192.0.3.1", &in.sin_addr);
	addr_net((struct sockaddr *)&in, b);
	CHECK(memcmp(a, b, ADDR_NET_LEN) != 0);
	inet_pton(AF_INET6, "2001:db8:0:1::1", &in6.sin6_addr);
	addr_net((struct sockaddr *)&in6, a);
	inet_pton(AF_INET6, "2001:db8:0:1:ffff::9", &in6.sin6_addr);
	addr_net((struct sockaddr *)&in6, b);
	CHECK(memcmp(a, b, ADDR_NET_LEN) == 0);
	inet_pton(AF_INET6, "2001:db8:0:2::1", &in6.sin6_addr);
	addr_net((struct sockaddr *)&in6, b);
	CHECK(memcmp(a, b, ADDR_NET_LEN) != 0);
	/* 192.0.2.0/24 and an IPv6 /64 that starts with the same bytes differ by family. */
	inet_pton(AF_INET6, "c000:200::", &in6.sin6_addr);
	addr_net((struct sockaddr *)&in6, b);
	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	addr_net((struct sockaddr *)&in, a);
	CHECK(memcmp(a, b, ADDR_NET_LEN) != 0);
	addr_net(NULL, a);
	CHECK(a[0] == 0);
}

static void host_part_drops_the_port(void)
{
	char buf[ADDR_TEXT_MAX];
	addr_host_part("192.0.2.1:9443", buf, sizeof(buf));
	CHECK(!strcmp(buf, "192.0.2.1"));
	addr_host_part("[2001:db8::1]:9443", buf, sizeof(buf));
	CHECK(!strcmp(buf, "[2001:db8::1]"));
	addr_host_part("unix", buf, sizeof(buf));
	CHECK(!strcmp(buf, "unix"));
}

static const struct test_case cases[] = {
    TEST(server_forms_give_host_and_port),
    TEST(server_without_port_takes_the_default_given),
    TEST(server_refuses_malformed_and_leaves_out_params),
    TEST(server_names_are_bounded_by_label_and_length),
    TEST(server_messages_say_what_was_expected),
    TEST(listen_takes_ip_and_port_with_port_zero),
    TEST(listen_refuses_names_schemes_and_a_missing_or_large_port),
    TEST(join_brackets_ipv6_only),
    TEST(format_shows_mapped_ipv4_as_ipv4),
    TEST(host_part_drops_the_port),
    TEST(net_groups_ipv4_by_24_and_ipv6_by_64),
};

int main(void)
{
	return test_run("addr", cases, TEST_ELEMENTS(cases));
}
