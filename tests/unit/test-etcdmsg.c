/* test-etcdmsg.c - etcd's v3 JSON gateway messages (coordd, etcdmsg.c): requests in the
 * gateway's shape, answers read with proto3's defaults (an absent field is its zero, a
 * field of the wrong type a refusal), the two error shapes, watch messages of every kind,
 * and a stream cut into its messages however the bytes arrive. The answers are the shapes
 * etcd 3.4 gave (../shared/etcd-coordination.md); e2e.etcd-client checks them against a
 * real cluster. */
#include <errno.h>
#include <string.h>

#include "etcdmsg.h"
#include "test.h"

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

static void check_json(json_t *j, const char *want)
{
	char *s = dump(j);
	CHECK(s && !strcmp(s, want));
	if (s && strcmp(s, want))
		fprintf(stderr, "  got  %s\n  want %s\n", s, want);
	secret_json_free(s);
}

static void requests_in_the_gateways_shape(void)
{
	/* "/pkishare/a" is L3BraXNoYXJlL2E=; "" as range end is the byte 0 ("AA=="). */
	check_json(etcdmsg_range("/pkishare/a", NULL, 0, false, 0),
		   "{\"key\":\"L3BraXNoYXJlL2E=\"}");
	check_json(etcdmsg_range("/pkishare/a", "", 5, true, 10),
		   "{\"key\":\"L3BraXNoYXJlL2E=\",\"limit\":\"10\",\"range_end\":\"AA==\","
		   "\"revision\":\"5\",\"serializable\":true}");
	check_json(etcdmsg_put("k", "v", 1, 0), "{\"key\":\"aw==\",\"value\":\"dg==\"}");
	check_json(etcdmsg_put("k", "", 0, 7), "{\"key\":\"aw==\",\"lease\":\"7\",\"value\":\"\"}");
	check_json(etcdmsg_delete("k", "l"), "{\"key\":\"aw==\",\"range_end\":\"bA==\"}");
	check_json(etcdmsg_lease_grant(5, 0), "{\"TTL\":\"5\"}");
	check_json(etcdmsg_lease_grant(5, 42), "{\"ID\":\"42\",\"TTL\":\"5\"}");
	check_json(etcdmsg_lease_id(42), "{\"ID\":\"42\"}");
	check_json(
	    etcdmsg_watch_create("k", "l", 9, true, true),
	    "{\"create_request\":{\"key\":\"aw==\",\"prev_kv\":true,\"progress_notify\":true,"
	    "\"range_end\":\"bA==\",\"start_revision\":\"9\"}}");
	/* Out of bounds: nothing is built. */
	CHECK(etcdmsg_range("", NULL, 0, false, 0) == NULL);
	CHECK(etcdmsg_range(NULL, NULL, 0, false, 0) == NULL);
	CHECK(etcdmsg_put("k", "v", ETCD_VALUE_MAX + 1, 0) == NULL);
	CHECK(etcdmsg_lease_grant(0, 0) == NULL);
	char big[ETCD_KEY_MAX + 2];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(etcdmsg_put(big, "v", 1, 0) == NULL);
}

static void a_txn_compares_and_branches(void)
{
	/* Create-if-absent, and who holds it when it was not absent. */
	struct etcd_cmp cmp[] = {{.key = "k", .target = ETCD_CREATE, .result = ETCD_EQUAL},
				 {.key = "n",
				  .target = ETCD_VALUE,
				  .result = ETCD_NOT_EQUAL,
				  .value = "x",
				  .value_len = 1}};
	struct etcd_op ok[] = {
	    {.kind = ETCD_OP_PUT, .key = "k", .value = "me", .value_len = 2, .lease = 3}};
	struct etcd_op no[] = {{.kind = ETCD_OP_RANGE, .key = "k"},
			       {.kind = ETCD_OP_DELETE, .key = "a", .range_end = ""}};
	struct etcd_txn t = {
	    .cmp = cmp, .n_cmp = 2, .success = ok, .n_success = 1, .failure = no, .n_failure = 2};
	check_json(
	    etcdmsg_txn(&t),
	    "{\"compare\":[{\"create_revision\":\"0\",\"key\":\"aw==\",\"result\":\"EQUAL\","
	    "\"target\":\"CREATE\"},{\"key\":\"bg==\",\"result\":\"NOT_EQUAL\",\"target\":"
	    "\"VALUE\",\"value\":\"eA==\"}],\"failure\":[{\"request_range\":{\"key\":"
	    "\"aw==\"}},{\"request_delete_range\":{\"key\":\"YQ==\",\"range_end\":\"AA==\"}}],"
	    "\"success\":[{\"request_put\":{\"key\":\"aw==\",\"lease\":\"3\",\"value\":"
	    "\"bWU=\"}}]}");
	struct etcd_cmp mod = {.key = "k", .target = ETCD_MOD, .result = ETCD_EQUAL, .number = 5};
	struct etcd_txn t2 = {.cmp = &mod, .n_cmp = 1};
	check_json(etcdmsg_txn(&t2), "{\"compare\":[{\"key\":\"aw==\",\"mod_revision\":\"5\","
				     "\"result\":\"EQUAL\",\"target\":\"MOD\"}],\"failure\":[],"
				     "\"success\":[]}");
	struct etcd_cmp bad = {.key = "k", .target = (enum etcd_target)9};
	struct etcd_txn t3 = {.cmp = &bad, .n_cmp = 1};
	CHECK(etcdmsg_txn(&t3) == NULL);
	struct etcd_txn t4 = {.n_cmp = ETCD_TXN_OPS_MAX + 1, .cmp = cmp};
	CHECK(etcdmsg_txn(&t4) == NULL);
}

static void prefix_end_is_etcds_prefix_plus_one(void)
{
	char buf[32];
	CHECK_EQ_INT(etcd_prefix_end("/pkishare/", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "/pkishare0"));
	CHECK_EQ_INT(etcd_prefix_end("a\xff\xff", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "b"));
	CHECK_EQ_INT(etcd_prefix_end("\xff", buf, sizeof(buf)), -EINVAL);
	CHECK_EQ_INT(etcd_prefix_end("", buf, sizeof(buf)), -EINVAL);
	CHECK_EQ_INT(etcd_prefix_end("/pkishare/", buf, 5), -ENOBUFS);
}

#define S(x) x, strlen(x)

static void range_answers_with_proto3_defaults(void)
{
	struct etcd_kvs k;
	/* A key that exists: numbers as decimal strings, key and value base64. */
	const char *one =
	    "{\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":"
	    "\"10276657743932975437\",\"revision\":\"7\",\"raft_term\":\"2\"},"
	    "\"kvs\":[{\"key\":\"aw==\",\"create_revision\":\"5\",\"mod_revision\":"
	    "\"7\",\"version\":\"2\",\"value\":\"dgB2\",\"lease\":\"9\"}],\"count\":\"1\"}";
	CHECK_EQ_INT(etcdmsg_range_result(S(one), &k), 0);
	CHECK_EQ_INT(k.revision, 7);
	CHECK_EQ_INT(k.n, 1);
	CHECK_EQ_INT(k.count, 1);
	CHECK(!k.more);
	CHECK(!strcmp(k.kv[0].key, "k") && k.kv[0].key_len == 1);
	CHECK(k.kv[0].value_len == 3 && !memcmp(k.kv[0].value, "v\0v", 3));
	CHECK_EQ_INT(k.kv[0].create_revision, 5);
	CHECK_EQ_INT(k.kv[0].mod_revision, 7);
	CHECK_EQ_INT(k.kv[0].version, 2);
	CHECK_EQ_INT(k.kv[0].lease, 9);
	etcd_kvs_done(&k);
	/* A missing key: no kvs, no count. */
	CHECK_EQ_INT(etcdmsg_range_result(S("{\"header\":{\"revision\":\"7\"}}"), &k), 0);
	CHECK(k.n == 0 && k.count == 0 && k.revision == 7 && k.kv == NULL);
	etcd_kvs_done(&k);
	/* A value without "value" is empty; numbers as JSON numbers are taken too. */
	CHECK_EQ_INT(etcdmsg_range_result(
			 S("{\"header\":{\"revision\":3},\"kvs\":[{\"key\":\"aw==\"}]}"), &k),
		     0);
	CHECK(k.n == 1 && k.kv[0].value_len == 0 && k.kv[0].value[0] == 0 && k.revision == 3);
	etcd_kvs_done(&k);
}

static void malformed_answers_are_refused(void)
{
	struct etcd_kvs k = {.n = 77};
	const char *bad[] = {
	    "",
	    "[]",
	    "not json",
	    "{\"header\":{\"revision\":\"x7\"}}",
	    "{\"header\":{\"revision\":{}}}",
	    "{\"header\":[]}",
	    "{\"kvs\":{}}",
	    "{\"kvs\":[1]}",
	    "{\"kvs\":[{\"key\":\"not base64!\"}]}",
	    "{\"kvs\":[{\"key\":\"aw\"}]}",   /* unpadded */
	    "{\"kvs\":[{\"key\":\"awBr\"}]}", /* a NUL in a key */
	    "{\"kvs\":[{\"key\":7}]}",
	    "{\"more\":\"yes\"}",
	    "{\"count\":\"99999999999999999999\"}", /* past int64 */
	    "{\"header\":{},\"header\":{}}",	    /* a duplicate key */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = etcdmsg_range_result(S(bad[i]), &k);
		CHECK(r == -EBADMSG || r == -E2BIG);
		if (r >= 0)
			fprintf(stderr, "  taken: %s\n", bad[i]);
	}
	CHECK(k.n == 77); /* untouched */
}

static void txn_answers(void)
{
	struct etcd_txn_result t;
	/* A failed txn has no "succeeded"; its failure branch's range answers. */
	const char *failed =
	    "{\"header\":{\"revision\":\"12\"},\"responses\":[{\"response_range\":"
	    "{\"header\":{\"revision\":\"12\"},\"kvs\":[{\"key\":\"aw==\",\"value\":"
	    "\"b3RoZXI=\",\"mod_revision\":\"11\"}],\"count\":\"1\"}}]}";
	CHECK_EQ_INT(etcdmsg_txn_result(S(failed), &t), 0);
	CHECK(!t.succeeded && t.revision == 12 && t.n_ranges == 1);
	CHECK(t.n_ranges == 1 && t.ranges[0].n == 1 && !strcmp(t.ranges[0].kv[0].value, "other"));
	etcd_txn_result_done(&t);
	const char *ok = "{\"header\":{\"revision\":\"13\"},\"succeeded\":true,\"responses\":"
			 "[{\"response_put\":{\"header\":{\"revision\":\"13\"}}}]}";
	CHECK_EQ_INT(etcdmsg_txn_result(S(ok), &t), 0);
	CHECK(t.succeeded && t.revision == 13 && t.n_ranges == 0);
	etcd_txn_result_done(&t);
	CHECK_EQ_INT(etcdmsg_txn_result(S("{\"succeeded\":1}"), &t), -EBADMSG);
	CHECK_EQ_INT(etcdmsg_txn_result(S("{\"responses\":[3]}"), &t), -EBADMSG);
	CHECK_EQ_INT(
	    etcdmsg_txn_result(S("{\"responses\":[{\"response_range\":{\"kvs\":7}}]}"), &t),
	    -EBADMSG);

	int64_t rev = -1, del = -1;
	CHECK_EQ_INT(etcdmsg_write_result(S("{\"header\":{\"revision\":\"4\"},\"deleted\":\"2\"}"),
					  &rev, &del),
		     0);
	CHECK(rev == 4 && del == 2);
	CHECK_EQ_INT(etcdmsg_write_result(S("{\"header\":{\"revision\":\"5\"}}"), &rev, &del), 0);
	CHECK(rev == 5 && del == 0);
}

static void errors_in_both_shapes(void)
{
	struct etcd_error e;
	CHECK_EQ_INT(etcdmsg_error(S("{\"error\":\"etcdserver: no leader\",\"code\":14,"
				     "\"message\":\"etcdserver: no leader\"}"),
				   &e),
		     0);
	CHECK(e.code == 14 && etcd_error_no_leader(&e));
	CHECK_EQ_INT(
	    etcdmsg_error(S("{\"error\":\"etcdserver: request timed out\",\"code\":14}"), &e), 0);
	CHECK(e.code == 14 && !etcd_error_no_leader(&e) &&
	      !strcmp(e.message, "etcdserver: request timed out"));
	CHECK_EQ_INT(etcdmsg_error(S("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
				     "\"etcdserver: no leader\",\"http_status\":\"Service "
				     "Unavailable\"}}"),
				   &e),
		     0);
	CHECK(etcd_error_no_leader(&e));
	/* What reaches a log is printable. */
	CHECK_EQ_INT(
	    etcdmsg_error(S("{\"error\":\"x\",\"code\":7,\"message\":\"bad\\nline\\u0007\"}"), &e),
	    0);
	CHECK(e.code == 7 && !strcmp(e.message, "bad?line?"));
	CHECK_EQ_INT(etcdmsg_error(S("{\"header\":{}}"), &e), -EBADMSG);
	CHECK_EQ_INT(etcdmsg_error(S("{\"error\":\"x\"}"), &e), -EBADMSG);
	CHECK_EQ_INT(etcdmsg_error(S("404 page not found\n"), &e), -EBADMSG);
}

static void watch_messages_of_every_kind(void)
{
	struct etcd_watch_msg m;
	struct etcd_error e;
	CHECK_EQ_INT(etcdmsg_watch_msg(S("{\"result\":{\"header\":{\"revision\":\"20\"},"
					 "\"created\":true}}"),
				       &m, &e),
		     0);
	CHECK(m.created && !m.canceled && !m.progress && m.n_events == 0 && m.revision == 20);
	etcd_watch_msg_done(&m);
	/* A put carries no "type"; a delete does, with prev_kv when asked. */
	const char *ev =
	    "{\"result\":{\"header\":{\"revision\":\"22\"},\"events\":[{\"kv\":{\"key\":"
	    "\"aw==\",\"value\":\"dg==\",\"mod_revision\":\"21\"}},{\"type\":\"DELETE\","
	    "\"kv\":{\"key\":\"aw==\",\"mod_revision\":\"22\"},\"prev_kv\":{\"key\":"
	    "\"aw==\",\"value\":\"dg==\"}}]}}";
	CHECK_EQ_INT(etcdmsg_watch_msg(S(ev), &m, &e), 0);
	CHECK(m.n_events == 2 && !m.progress);
	CHECK(m.n_events == 2 && !m.events[0].deleted && !strcmp(m.events[0].kv.value, "v") &&
	      m.events[0].kv.mod_revision == 21 && !m.events[0].has_prev);
	CHECK(m.n_events == 2 && m.events[1].deleted && m.events[1].has_prev &&
	      !strcmp(m.events[1].prev.value, "v"));
	etcd_watch_msg_done(&m);
	CHECK_EQ_INT(
	    etcdmsg_watch_msg(S("{\"result\":{\"header\":{\"revision\":\"30\"}}}"), &m, &e), 0);
	CHECK(m.progress && m.revision == 30);
	etcd_watch_msg_done(&m);
	CHECK_EQ_INT(
	    etcdmsg_watch_msg(S("{\"result\":{\"header\":{\"revision\":\"30\"},\"canceled\":"
				"true,\"compact_revision\":\"25\",\"cancel_reason\":"
				"\"mvcc: required revision has been compacted\"}}"),
			      &m, &e),
	    0);
	CHECK(m.canceled && m.compact_revision == 25 && !m.progress &&
	      strstr(m.cancel_reason, "compacted"));
	etcd_watch_msg_done(&m);
	CHECK_EQ_INT(
	    etcdmsg_watch_msg(S("{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: no "
				"leader\"}}"),
			      &m, &e),
	    -EPROTO);
	CHECK(etcd_error_no_leader(&e));
	CHECK_EQ_INT(etcdmsg_watch_msg(
			 S("{\"result\":{\"events\":[{\"type\":\"PATCH\",\"kv\":{}}]}}"), &m, &e),
		     -EBADMSG);
	CHECK_EQ_INT(etcdmsg_watch_msg(S("{\"result\":{\"events\":[{}]}}"), &m, &e), -EBADMSG);
	CHECK_EQ_INT(etcdmsg_watch_msg(S("{\"result\":7}"), &m, &e), -EBADMSG);
	CHECK_EQ_INT(etcdmsg_watch_msg(S("{}"), &m, &e), -EBADMSG);
}

static void leases_and_auth(void)
{
	int64_t id = 0, ttl = 0;
	CHECK_EQ_INT(etcdmsg_lease_grant_result(
			 S("{\"header\":{},\"ID\":\"7587868\",\"TTL\":\"5\"}"), &id, &ttl),
		     0);
	CHECK(id == 7587868 && ttl == 5);
	CHECK_EQ_INT(etcdmsg_lease_grant_result(S("{\"ID\":\"1\",\"TTL\":\"5\",\"error\":\"lease "
						  "already exists\"}"),
						&id, &ttl),
		     -EPROTO);
	CHECK_EQ_INT(etcdmsg_keepalive_result(S("{\"result\":{\"header\":{},\"ID\":\"7\",\"TTL\":"
						"\"4\"}}"),
					      &id, &ttl),
		     0);
	CHECK(id == 7 && ttl == 4);
	/* A keep-alive of a gone lease: no TTL. */
	CHECK_EQ_INT(
	    etcdmsg_keepalive_result(S("{\"result\":{\"header\":{},\"ID\":\"7\"}}"), &id, &ttl), 0);
	CHECK(ttl == 0);
	struct secret *tok = NULL;
	CHECK_EQ_INT(etcdmsg_auth_result(S("{\"header\":{},\"token\":\"abc.123\"}"), &tok), 0);
	CHECK(tok && !strcmp((char *)tok->data, "abc.123"));
	secret_free(tok);
	tok = NULL;
	CHECK_EQ_INT(etcdmsg_auth_result(S("{\"token\":\"abc\\r\\nX-Evil: 1\"}"), &tok), -EBADMSG);
	CHECK_EQ_INT(etcdmsg_auth_result(S("{\"token\":\"\"}"), &tok), -EBADMSG);
	CHECK(tok == NULL);

	struct secret *pw = secret_dup("p\"w", 3), *body = NULL;
	CHECK_EQ_INT(etcdmsg_authenticate("pkishare", pw, &body), 0);
	CHECK(body &&
	      !strcmp((char *)body->data, "{\"name\":\"pkishare\",\"password\":\"p\\\"w\"}"));
	secret_free(body);
	secret_free(pw);
}

struct seen {
	char lines[8][64];
	size_t n;
	int stop_at;
};

static int collect(const char *line, size_t len, void *arg)
{
	struct seen *s = arg;
	if (s->n == (size_t)s->stop_at)
		return -ECANCELED;
	snprintf(s->lines[s->n++ % 8], 64, "%.*s", (int)len, line);
	return 0;
}

static void streams_cut_into_messages(void)
{
	struct etcd_lines l = {0};
	struct seen s = {.stop_at = -1};
	/* Bytes as they come: a message over several writes, two in one, CRLF, blank lines. */
	const char *parts[] = {"{\"a\"", ":1}\n{\"b\":2}\r\n\n{\"c", "\":3}", "\n"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		CHECK_EQ_INT(etcd_lines_feed(&l, parts[i], strlen(parts[i]), collect, &s), 0);
	CHECK_EQ_INT(s.n, 3);
	CHECK(!strcmp(s.lines[0], "{\"a\":1}") && !strcmp(s.lines[1], "{\"b\":2}") &&
	      !strcmp(s.lines[2], "{\"c\":3}"));
	/* A tail without its newline waits. */
	CHECK_EQ_INT(etcd_lines_feed(&l, S("{\"d\""), collect, &s), 0);
	CHECK_EQ_INT(s.n, 3);
	etcd_lines_done(&l);

	/* The callback can stop the stream. */
	struct seen t = {.stop_at = 1};
	CHECK_EQ_INT(etcd_lines_feed(&l, S("x\ny\nz\n"), collect, &t), -ECANCELED);
	CHECK_EQ_INT(t.n, 1);
	etcd_lines_done(&l);

	/* One message past the bound: refused, and the stream stays refused. */
	struct etcd_lines small = {.max = 8};
	struct seen u = {.stop_at = -1};
	CHECK_EQ_INT(etcd_lines_feed(&small, S("12345678\n"), collect, &u), 0);
	CHECK_EQ_INT(etcd_lines_feed(&small, S("12345"), collect, &u), 0);
	CHECK_EQ_INT(etcd_lines_feed(&small, S("6789"), collect, &u), -E2BIG);
	CHECK(small.overflow);
	CHECK_EQ_INT(etcd_lines_feed(&small, S("\n"), collect, &u), -E2BIG);
	CHECK_EQ_INT(u.n, 1);
	etcd_lines_done(&small);
}

static const struct test_case cases[] = {
    TEST(requests_in_the_gateways_shape),
    TEST(a_txn_compares_and_branches),
    TEST(prefix_end_is_etcds_prefix_plus_one),
    TEST(range_answers_with_proto3_defaults),
    TEST(malformed_answers_are_refused),
    TEST(txn_answers),
    TEST(errors_in_both_shapes),
    TEST(watch_messages_of_every_kind),
    TEST(leases_and_auth),
    TEST(streams_cut_into_messages),
};

int main(void)
{
	secret_init();
	return test_run("etcdmsg", cases, TEST_ELEMENTS(cases));
}
