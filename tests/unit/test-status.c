/* test-status.c - the JSON renderers of the store's views (daemon view, status.c): the
 * public bundle description tells a joiner enough to plan and nothing about who fetched;
 * the admin view adds the fetch log; tokens, the previous bundle and the kept state render
 * as proto/api.md says. Pure: each case builds a view by hand. */
#include <string.h>

#include "api.h"
#include "status.h"
#include "test.h"

/* A held bundle fetched by two nodes, with names, addresses and certificate ids that
 * must never reach the public view. */
static struct store_bundle_view bundle(void)
{
	struct store_bundle_view b = {.created_at = 1700000000, .expires_at = 1700007200};
	memset(b.id, 'a', BUNDLE_ID_HEX_LEN);
	memset(b.key_id, 'b', KEY_ID_HEX_LEN);
	b.expires_in_s = 3600;
	b.fetches = 2;
	b.max_fetches = 3;
	b.bytes = 12345;
	b.n_fetch_log = 2;
	b.fetch_log[0] = (struct store_fetch_record){.at = 1700000100};
	strcpy(b.fetch_log[0].client, "secret-node-one");
	strcpy(b.fetch_log[0].source, "client-ca");
	strcpy(b.fetch_log[0].peer, "192.0.2.77:41000");
	memset(b.fetch_log[0].cert, 'c', STORE_CERT_ID_LEN);
	b.fetch_log[1] = (struct store_fetch_record){.at = 1700000200};
	strcpy(b.fetch_log[1].client, "secret-node-two");
	strcpy(b.fetch_log[1].source, "enrolled");
	strcpy(b.fetch_log[1].peer, "[2001:db8::9]:41001");
	return b;
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	return s;
}

static void public_view_plans_a_join(void)
{
	struct store_bundle_view b = bundle();
	char prof[] = "{\"clusterName\":\"k\"}";
	b.profile = prof;
	json_t *j = status_bundle_info_json(&b);
	CHECK(j != NULL);
	CHECK(strlen(json_string_value(json_object_get(j, API_F_ID))) == BUNDLE_ID_HEX_LEN);
	CHECK(!strncmp(json_string_value(json_object_get(j, API_F_KEY_ID)), "bbbb", 4));
	CHECK(!strcmp(json_string_value(json_object_get(j, API_F_EXPIRES_AT)),
		      "2023-11-15T00:13:20Z"));
	CHECK_EQ_INT(json_integer_value(json_object_get(j, API_F_EXPIRES_IN_SECONDS)), 3600);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, API_F_FETCHES)), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, API_F_MAX_FETCHES)), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, API_F_BYTES)), 12345);
	CHECK(!strcmp(
	    json_string_value(json_object_get(json_object_get(j, API_F_PROFILE), "clusterName")),
	    "k"));
	json_decref(j);
}

static void public_view_never_says_who_fetched(void)
{
	struct store_bundle_view b = bundle();
	char *s = dump(status_bundle_info_json(&b));
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(!strstr(s, API_F_FETCH_LOG));
	CHECK(!strstr(s, "secret-node"));
	CHECK(!strstr(s, "192.0.2.77"));
	CHECK(!strstr(s, "2001:db8"));
	CHECK(!strstr(s, "cccccccc"));
	CHECK(!strstr(s, API_F_CLIENT_SOURCE));
	/* Exactly the fields proto/api.md lists for GET /v1/bundle/info. */
	json_t *j = json_loads(s, 0, NULL);
	CHECK_EQ_INT(json_object_size(j), 9);
	CHECK(json_is_null(json_object_get(j, API_F_PROFILE)));
	json_decref(j);
	free(s);
}

static void admin_view_adds_the_fetch_log(void)
{
	struct store_bundle_view b = bundle();
	json_t *j = status_bundle_json(&b);
	json_t *log = json_object_get(j, API_F_FETCH_LOG);
	CHECK_EQ_INT(json_array_size(log), 2);
	json_t *e0 = json_array_get(log, 0), *e1 = json_array_get(log, 1);
	CHECK(!strcmp(json_string_value(json_object_get(e0, API_F_CLIENT)), "secret-node-one"));
	CHECK(!strcmp(json_string_value(json_object_get(e0, API_F_PEER)), "192.0.2.77:41000"));
	CHECK(!strcmp(json_string_value(json_object_get(e0, API_F_CLIENT_SOURCE)), "client-ca"));
	CHECK(strlen(json_string_value(json_object_get(e0, API_F_CERT_SHA256))) ==
	      STORE_CERT_ID_LEN);
	/* An unknown certificate id is null, not "". */
	CHECK(json_is_null(json_object_get(e1, API_F_CERT_SHA256)));
	CHECK(!strcmp(json_string_value(json_object_get(e1, API_F_CLIENT_SOURCE)), "enrolled"));
	/* Everything the public view says, the admin view says too. */
	json_t *pub = status_bundle_info_json(&b);
	const char *k;
	json_t *v;
	json_object_foreach (pub, k, v)
		CHECK(json_equal(v, json_object_get(j, k)));
	json_decref(pub);
	json_decref(j);
}

static void tokens_render_no_limit_as_null(void)
{
	struct store_view v = {.n_tokens = 2};
	strcpy(v.tokens[0].id, "abcdef");
	v.tokens[0].expires_at = 1700000000;
	v.tokens[0].uses_left = 0;
	v.tokens[0].used = 4;
	strcpy(v.tokens[1].id, "ghijkl");
	v.tokens[1].uses_left = 2;
	json_t *j = status_tokens_json(&v);
	CHECK_EQ_INT(json_array_size(j), 2);
	json_t *t0 = json_array_get(j, 0), *t1 = json_array_get(j, 1);
	CHECK(!strcmp(json_string_value(json_object_get(t0, API_F_ID)), "abcdef"));
	CHECK(json_is_null(json_object_get(t0, API_F_USES_LEFT)));
	CHECK_EQ_INT(json_integer_value(json_object_get(t0, API_F_USED)), 4);
	CHECK_EQ_INT(json_integer_value(json_object_get(t1, API_F_USES_LEFT)), 2);
	json_decref(j);
}

static void status_says_what_became_of_the_last_bundle(void)
{
	struct store_view v = {.gone = STORE_GONE_USED_UP, .gone_at = 1700000000, .n_seen = 3};
	memset(v.gone_id, 'd', BUNDLE_ID_HEX_LEN);
	json_t *j = status_json(&v);
	CHECK(json_is_null(json_object_get(j, API_F_BUNDLE)));
	CHECK(json_is_null(json_object_get(j, API_F_STATE))); /* not under a persist */
	json_t *prev = json_object_get(j, API_F_PREVIOUS);
	CHECK(!strcmp(json_string_value(json_object_get(prev, API_F_REASON)), "used-up"));
	CHECK(!strcmp(json_string_value(json_object_get(prev, API_F_AT)), "2023-11-14T22:13:20Z"));
	json_t *ids = json_object_get(j, API_F_KEY_IDS);
	CHECK_EQ_INT(json_integer_value(json_object_get(ids, API_F_USED)), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(ids, API_F_MAX)), STORE_MAX_SEEN_KEYS);
	json_decref(j);

	struct store_view never = {0};
	j = status_json(&never);
	CHECK(json_is_null(json_object_get(j, API_F_PREVIOUS)));
	json_decref(j);
}

static void status_renders_the_held_bundle_and_kept_state(void)
{
	struct store_view v = {.held = true, .bundle = bundle()};
	v.kept = (struct store_kept_view){.under = true,
					  .kept = true,
					  .memory = "memfd",
					  .held_since = 1700000000,
					  .restores = 2};
	strcpy(v.kept.note, "kept");
	json_t *j = status_json(&v);
	json_t *b = json_object_get(j, API_F_BUNDLE);
	CHECK_EQ_INT(json_array_size(json_object_get(b, API_F_FETCH_LOG)), 2);
	json_t *st = json_object_get(j, API_F_STATE);
	CHECK(json_is_true(json_object_get(st, API_F_KEPT)));
	CHECK(!strcmp(json_string_value(json_object_get(st, API_F_MEMORY)), "memfd"));
	CHECK_EQ_INT(json_integer_value(json_object_get(st, API_F_RESTORES)), 2);
	CHECK(!strcmp(json_string_value(json_object_get(st, API_F_REFUSED)), ""));
	json_decref(j);
}

static const struct test_case cases[] = {
    TEST(public_view_plans_a_join),
    TEST(public_view_never_says_who_fetched),
    TEST(admin_view_adds_the_fetch_log),
    TEST(tokens_render_no_limit_as_null),
    TEST(status_says_what_became_of_the_last_bundle),
    TEST(status_renders_the_held_bundle_and_kept_state),
};

int main(void)
{
	return test_run("status", cases, TEST_ELEMENTS(cases));
}
