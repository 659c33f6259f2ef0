/* test-coordmsg.c - the messages between pkishared and pkishare-coordd (coordmsg.c,
 * proto/coord.md): every operation round-trips, every field is checked for its form on
 * both sides, a request of another version says so with its cookie, replies to another call
 * are told apart, and results read back as they were written. */
#include <errno.h>
#include <string.h>

#include "coordmsg.h"
#include "secret.h"
#include "test.h"

#define COOKIE "0123456789abcdef0123456789abcdef"
#define ID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEYID "bbbbbbbbbbbbbbbb"
#define SHA "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static struct coord_request announce(void)
{
	struct coord_request r = {.op = COORD_ANNOUNCE, .timeout_ms = 1500};
	strcpy(r.cookie, COOKIE);
	strcpy(r.args.id, ID);
	strcpy(r.args.key_id, KEYID);
	strcpy(r.args.sha256, SHA);
	r.args.bytes = 123456;
	r.args.expires_at = 1800000000;
	r.args.max_fetches = 3;
	r.args.has_external = true;
	strcpy(r.args.origin, "cp-1");
	return r;
}

static struct coord_request claim(void)
{
	struct coord_request r = {.op = COORD_CLAIM, .timeout_ms = 2000};
	strcpy(r.cookie, COOKIE);
	strcpy(r.args.id, ID);
	strcpy(r.args.claim_id, "dddddddddddddddddddddddddddddddd");
	strcpy(r.args.client, "cp-2");
	strcpy(r.args.source, "enrolled");
	strcpy(r.args.peer, "10.0.0.2:51234");
	return r;
}

static void every_operation_round_trips(void)
{
	struct coord_request reqs[COORD_OP_N];
	for (int op = 0; op < COORD_OP_N; op++) {
		reqs[op] = (struct coord_request){.op = (enum coord_op)op, .timeout_ms = 100};
		strcpy(reqs[op].cookie, COOKIE);
	}
	reqs[COORD_ANNOUNCE] = announce();
	reqs[COORD_CLAIM] = claim();
	strcpy(reqs[COORD_RETIRE].args.id, ID);
	strcpy(reqs[COORD_RETIRE].args.reason, "deleted");
	strcpy(reqs[COORD_KEYID_SEEN].args.key_id, KEYID);
	strcpy(reqs[COORD_HOLD].args.id, ID);
	strcpy(reqs[COORD_HOLD].args.node, "cp-3");
	strcpy(reqs[COORD_HOLD].args.peer_address, "10.0.0.3:9443");
	strcpy(reqs[COORD_HOLD].args.serving_pin, "sha256:" SHA);
	strcpy(reqs[COORD_RELEASE].args.id, ID);
	strcpy(reqs[COORD_RELEASE].args.node, "cp-3");
	strcpy(reqs[COORD_HOLDERS].args.id, ID);
	reqs[COORD_WAIT].args.since = 77;
	strcpy(reqs[COORD_REGISTER].args.node, "cp-2");
	strcpy(reqs[COORD_REGISTER].args.peer_address, "[fd00::2]:9443");
	strcpy(reqs[COORD_REGISTER].args.serving_pin, "sha256:" SHA);
	strcpy(reqs[COORD_CONNECT].args.node, "cp-2");
	strcpy(reqs[COORD_TOKEN_ADD].args.token_id, "abc123");
	strcpy(reqs[COORD_TOKEN_ADD].args.secret_hash, SHA);
	reqs[COORD_TOKEN_ADD].args.expires_at = 1800000000;
	reqs[COORD_TOKEN_ADD].args.uses = 3;
	strcpy(reqs[COORD_TOKEN_ADD].args.description, "for cp-4, by alice");
	strcpy(reqs[COORD_TOKEN_USE].args.token_id, "abc123");
	strcpy(reqs[COORD_TOKEN_USE].args.secret_hash, SHA);
	strcpy(reqs[COORD_TOKEN_USE].args.client, "cp-4");
	strcpy(reqs[COORD_TOKEN_DELETE].args.token_id, "abc123");
	strcpy(reqs[COORD_UNCLAIM].args.id, ID);
	strcpy(reqs[COORD_UNCLAIM].args.claim_id, "0123456789abcdef0123456789abcdef");
	for (int op = 0; op < COORD_OP_N; op++) {
		char buf[COORD_MSG_MAX], why[128];
		int n = coordmsg_request_build(&reqs[op], buf, sizeof(buf));
		CHECK(n > 0);
		struct coord_request back;
		CHECK_EQ_INT(coordmsg_request_parse(buf, (size_t)n, &back, why, sizeof(why)), 0);
		CHECK(back.op == reqs[op].op && back.timeout_ms == reqs[op].timeout_ms &&
		      !strcmp(back.cookie, COOKIE));
		CHECK(!memcmp(&back.args, &reqs[op].args, sizeof(back.args)));
		if (memcmp(&back.args, &reqs[op].args, sizeof(back.args)))
			fprintf(stderr, "  op %s: %.*s (%s)\n", coord_op_name((enum coord_op)op), n,
				buf, why);
	}
}

static void the_builder_refuses_a_field_outside_its_form(void)
{
	char buf[COORD_MSG_MAX];
	struct coord_request r = claim();
	strcpy(r.args.id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* upper case */
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = claim();
	strcpy(r.args.source, "anyone");
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = claim();
	strcpy(r.args.client, "two\nlines");
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = claim();
	r.args.client[0] = 0;
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = claim();
	strcpy(r.args.cert, "abc");
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = claim();
	r.timeout_ms = COORD_TIMEOUT_MAX_MS + 1;
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = claim();
	strcpy(r.cookie, "short");
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = announce();
	r.args.bytes = ((uint64_t)1 << 53) + 1;
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, sizeof(buf)), -EINVAL);
	r = announce();
	CHECK_EQ_INT(coordmsg_request_build(&r, buf, 10), -ENOBUFS);
}

static int parse(const char *text, struct coord_request *r, char *why)
{
	return coordmsg_request_parse(text, strlen(text), r, why, 128);
}

static void the_reader_refuses_what_is_not_of_the_form(void)
{
	struct coord_request r;
	char why[128];
	const char *ok = "{\"v\":1,\"op\":\"keyIdSeen\",\"cookie\":\"" COOKIE
			 "\",\"timeoutMs\":5,\"args\":{\"keyId\":\"" KEYID "\"}}";
	CHECK_EQ_INT(parse(ok, &r, why), 0);
	CHECK(r.op == COORD_KEYID_SEEN && !strcmp(r.args.key_id, KEYID));
	const char *bad[] = {
	    "",
	    "[]",
	    "{\"v\":1}",
	    /* an unknown op, a missing and an extra field, wrong types */
	    "{\"v\":1,\"op\":\"steal\",\"cookie\":\"" COOKIE "\",\"timeoutMs\":5,\"args\":{}}",
	    "{\"v\":1,\"op\":\"keyIdSeen\",\"cookie\":\"" COOKIE "\",\"timeoutMs\":5,\"args\":{}}",
	    "{\"v\":1,\"op\":\"keyIdSeen\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"keyId\":\"" KEYID "\",\"x\":1}}",
	    "{\"v\":1,\"op\":\"keyIdSeen\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"keyId\":7}}",
	    "{\"v\":1,\"op\":\"keyIdSeen\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"keyId\":\"" KEYID "0\"}}",
	    "{\"v\":1,\"op\":\"ping\",\"cookie\":\"" COOKIE "\",\"timeoutMs\":0,\"args\":{}}",
	    "{\"v\":1,\"op\":\"ping\",\"cookie\":\"" COOKIE "\",\"timeoutMs\":30001,\"args\":{}}",
	    "{\"v\":1,\"op\":\"ping\",\"cookie\":\"XYZ\",\"timeoutMs\":5,\"args\":{}}",
	    "{\"v\":1,\"op\":\"ping\",\"cookie\":\"" COOKIE "\",\"timeoutMs\":5,\"args\":[]}",
	    "{\"v\":1,\"op\":\"ping\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{},\"x\":1}",
	    "{\"v\":1,\"op\":\"ping\",\"op\":\"view\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{}}",
	    "{\"v\":1,\"op\":\"wait\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"since\":-1}}",
	    "{\"v\":1,\"op\":\"wait\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"since\":9007199254740993}}",
	    "{\"v\":1,\"op\":\"retire\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"id\":\"" ID "\",\"reason\":\"bored\"}}",
	    "{\"v\":1,\"op\":\"hold\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"id\":\"" ID
	    "\",\"node\":\"n\",\"peerAddress\":\"a\",\"servingPin\":\"" SHA "\"}}",
	    /* a NUL inside a string */
	    "{\"v\":1,\"op\":\"release\",\"cookie\":\"" COOKIE
	    "\",\"timeoutMs\":5,\"args\":{\"id\":\"" ID "\",\"node\":\"a\\u0000b\"}}",
	};
	/* A refusal carries the request's cookie when it could be read, so the answer can. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ_INT(parse("{\"v\":1,\"op\":\"steal\",\"cookie\":\"" COOKIE
			   "\",\"timeoutMs\":5,\"args\":{}}",
			   &r, why),
		     -EBADMSG);
	CHECK(!strcmp(r.cookie, COOKIE));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &r, why);
		CHECK_EQ_INT(rc, -EBADMSG);
		CHECK(why[0] != 0);
		if (rc != -EBADMSG)
			fprintf(stderr, "  taken: %s\n", bad[i]);
	}
	/* Over the size bound, whatever it holds. */
	static char big[COORD_MSG_MAX + 2];
	memset(big, ' ', sizeof(big) - 1);
	memcpy(big, ok, strlen(ok));
	CHECK_EQ_INT(coordmsg_request_parse(big, sizeof(big) - 1, &r, why, sizeof(why)), -EBADMSG);
}

static void another_version_is_said_with_its_cookie(void)
{
	struct coord_request r = {0};
	char why[128];
	CHECK_EQ_INT(parse("{\"v\":2,\"op\":\"ping\",\"cookie\":\"" COOKIE
			   "\",\"timeoutMs\":5,\"args\":{},\"new\":true}",
			   &r, why),
		     -EPROTO);
	CHECK(!strcmp(r.cookie, COOKIE));
	CHECK(strstr(why, "version 2") != NULL);
}

static void replies_are_matched_to_their_call(void)
{
	char buf[COORD_MSG_MAX];
	struct coord_reply rep;
	int n = coordmsg_reply_ok(COOKIE, json_pack("{s:b}", "seen", 1), buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ_INT(coordmsg_reply_parse(buf, (size_t)n, COOKIE, &rep), 0);
	CHECK(rep.ok && json_is_true(json_object_get(rep.result, "seen")));
	json_decref(rep.result);
	CHECK_EQ_INT(coordmsg_reply_parse(buf, (size_t)n, "ffffffffffffffffffffffffffffffff", &rep),
		     -ESTALE);
	n = coordmsg_reply_error(COOKIE, COORD_E_NO_QUORUM, "etcd: no leader\n(3 members)", buf,
				 sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ_INT(coordmsg_reply_parse(buf, (size_t)n, COOKIE, &rep), 0);
	CHECK(!rep.ok && rep.error == COORD_E_NO_QUORUM &&
	      !strcmp(rep.message, "etcd: no leader?(3 members)"));
	const char *bad[] = {
	    "{\"v\":1,\"cookie\":\"" COOKIE "\",\"ok\":false,\"error\":\"nope\",\"message\":\"\"}",
	    "{\"v\":1,\"cookie\":\"" COOKIE "\",\"ok\":true}",
	    "{\"v\":1,\"cookie\":\"" COOKIE "\",\"ok\":true,\"result\":[]}",
	    "{\"v\":2,\"cookie\":\"" COOKIE "\",\"ok\":true,\"result\":{}}",
	    "{\"v\":1,\"cookie\":\"" COOKIE "\",\"ok\":\"yes\",\"result\":{}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(coordmsg_reply_parse(bad[i], strlen(bad[i]), COOKIE, &rep), -EBADMSG);
}

static void results_read_back_as_written(void)
{
	struct coord_claim_result c = {.fetch_no = 2, .last = true}, c2;
	strcpy(c.result, "gone");
	strcpy(c.gone.reason, "used-up");
	strcpy(c.gone.id, ID);
	c.gone.at = 1800000000;
	json_t *j = coordmsg_claim_result(&c);
	CHECK_EQ_INT(coordmsg_claim_result_parse(j, &c2), 0);
	CHECK(!memcmp(&c, &c2, sizeof(c)));
	json_decref(j);

	struct coord_view v = {.has_current = true, .fetches = 1, .key_ids = 4, .revision = 99}, v2;
	strcpy(v.current.id, ID);
	strcpy(v.current.key_id, KEYID);
	strcpy(v.current.sha256, SHA);
	v.current.bytes = 5;
	v.current.expires_at = 1800000000;
	v.current.max_fetches = 3;
	strcpy(v.current.origin, "cp-1");
	j = coordmsg_view_result(&v);
	CHECK_EQ_INT(coordmsg_view_result_parse(j, &v2), 0);
	CHECK(!memcmp(&v, &v2, sizeof(v)));
	json_decref(j);
	struct coord_view none = {.revision = 3}, none2;
	j = coordmsg_view_result(&none);
	CHECK_EQ_INT(coordmsg_view_result_parse(j, &none2), 0);
	CHECK(!none2.has_current && none2.revision == 3 && !none2.gone.reason[0]);
	json_decref(j);

	struct coord_holder h[2] = {{"cp-1", "10.0.0.1:9443", "sha256:" SHA},
				    {"cp-2", "10.0.0.2:9443", "sha256:" SHA}},
			    h2[2];
	size_t n = 0;
	j = coordmsg_holders_result(h, 2);
	CHECK_EQ_INT(coordmsg_holders_result_parse(j, h2, 2, &n), 0);
	CHECK(n == 2 && !memcmp(h, h2, sizeof(h)));
	CHECK_EQ_INT(coordmsg_holders_result_parse(j, h2, 1, &n), -EBADMSG);
	/* A holders list is not a peers list. */
	CHECK_EQ_INT(coordmsg_peers_result_parse(j, h2, 2, &n), -EBADMSG);
	json_decref(j);
	j = coordmsg_peers_result(h, 2);
	CHECK_EQ_INT(coordmsg_peers_result_parse(j, h2, 2, &n), 0);
	CHECK(n == 2 && !memcmp(h, h2, sizeof(h)));
	json_decref(j);
	j = coordmsg_connect_result(&h[1]);
	CHECK_EQ_INT(coordmsg_connect_result_parse(j, &h2[0]), 0);
	CHECK(!memcmp(&h[1], &h2[0], sizeof(h[1])));
	json_decref(j);
	strcpy(h[1].serving_pin, "md5:00");
	CHECK(coordmsg_connect_result(&h[1]) == NULL);

	struct coord_token_use u = {.uses_left = 2, .spent_at = 1800000000}, u2;
	strcpy(u.result, "spent");
	strcpy(u.spent_by, "cp-4");
	j = coordmsg_token_use_result(&u);
	CHECK_EQ_INT(coordmsg_token_use_result_parse(j, &u2), 0);
	CHECK(!memcmp(&u, &u2, sizeof(u)));
	json_decref(j);
	struct coord_token t[2] = {{.id = "abc123", .expires_at = 1800000000, .uses = 3, .used = 1},
				   {.id = "zzz999", .expires_at = 1800000001}},
			   t2[2];
	strcpy(t[0].secret_hash, SHA);
	strcpy(t[1].secret_hash, SHA);
	strcpy(t[0].description, "for cp-4");
	strcpy(t[1].spent_by, "cp-5");
	t[1].spent_at = 1800000002;
	j = coordmsg_tokens_result(t, 2);
	CHECK_EQ_INT(coordmsg_tokens_result_parse(j, t2, 2, &n), 0);
	CHECK(n == 2 && !memcmp(t, t2, sizeof(t)));
	CHECK_EQ_INT(coordmsg_tokens_result_parse(j, t2, 1, &n), -EBADMSG);
	json_decref(j);
	strcpy(t[0].id, "ABC123"); /* not of the form */
	CHECK(coordmsg_tokens_result(t, 2) == NULL);
	CHECK(coordmsg_holders_result(h, 2) == NULL);
}

static const struct test_case cases[] = {
    TEST(every_operation_round_trips),
    TEST(the_builder_refuses_a_field_outside_its_form),
    TEST(the_reader_refuses_what_is_not_of_the_form),
    TEST(another_version_is_said_with_its_cookie),
    TEST(replies_are_matched_to_their_call),
    TEST(results_read_back_as_written),
};

int main(void)
{
	secret_init();
	return test_run("coordmsg", cases, TEST_ELEMENTS(cases));
}
