/* test-httpresp.c - the HTTP response parser (httpresp.c): what it takes from a server's
 * answer, and the answers it refuses. The fuzzer (fuzz-httpresp) covers the rest. */
#include <errno.h>
#include <string.h>

#include "httpresp.h"
#include "test.h"

static int parse(const char *raw, struct http_response *ret)
{
	return http_response_parse((const uint8_t *)raw, strlen(raw), ret);
}

static void status_date_and_body_are_read(void)
{
	struct http_response r = {0};
	CHECK_EQ_INT(parse("HTTP/1.1 404 Not Found\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			   "Content-Length: 4\r\n\r\n{}\r\nextra",
			   &r),
		     0);
	CHECK_EQ_INT(r.status, 404);
	CHECK_EQ_INT(r.date, 784111777);
	CHECK(r.body && r.body->len == 4 && memcmp(r.body->data, "{}\r\n", 4) == 0);
	http_response_done(&r);
	CHECK(r.body == NULL);
}

static void a_date_in_another_form_is_no_date(void)
{
	struct http_response r = {0};
	CHECK_EQ_INT(parse("HTTP/1.0 200 OK\r\nDate: 1994-11-06T08:49:37Z\r\n\r\nbody", &r), 0);
	CHECK_EQ_INT(r.date, 0);
	CHECK(r.body && r.body->len == 4);
	http_response_done(&r);
}

static void malformed_answers_are_refused(void)
{
	static const char *const bad[] = {
	    "HTTP/2 200 OK\r\n\r\n",
	    "HTTP/1.1 2x0 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nno end of headers",
	};
	for (size_t i = 0; i < TEST_ELEMENTS(bad); i++) {
		struct http_response r = {0};
		CHECK_EQ_INT(parse(bad[i], &r), -EPROTO);
		CHECK(r.body == NULL);
	}
}

static const struct test_case cases[] = {
    TEST(status_date_and_body_are_read),
    TEST(a_date_in_another_form_is_no_date),
    TEST(malformed_answers_are_refused),
};

int main(void)
{
	if (secret_init() < 0)
		return 1;
	return test_run("httpresp", cases, TEST_ELEMENTS(cases));
}
