/* test-store.c - the held bundle's promises in the store itself (daemon core, no sockets):
 * one-time keys, max-fetches, delete, both deadlines, tokens, the external-etcd rule. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pkidir.h"
#include "store-view.h"
#include "store.h"
#include "test.h"
#include "util.h"

/* A held bundle's description as the admin route gives it to the store. */
static struct bundle meta_new(const char *id_char, const char *key_char, int64_t lifetime_s)
{
	struct bundle m = {0};
	memset(m.id, id_char[0], BUNDLE_ID_HEX_LEN);
	memset(m.key_id, key_char[0], KEY_ID_HEX_LEN);
	m.created_at = time_now();
	m.expires_at = m.created_at + lifetime_s;
	return m;
}

static int put(struct store *s, const char *id, const char *key, int64_t ttl_ms, uint64_t max)
{
	struct bundle m = meta_new(id, key, 3600);
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	return store_put(s, secret_dup("{}", 2), &m, ttl_ms, max, false, replaced);
}

/* A stand-in for a certificate's SHA-256: 64 hex digits from a name and a serial. */
static const char *cert_n(const char *name, unsigned serial)
{
	static char buf[STORE_CERT_ID_LEN + 1];
	unsigned h = serial * 2654435761u;
	for (const char *p = name; *p; p++)
		h = h * 31 + (unsigned char)*p;
	snprintf(buf, sizeof(buf), "%08x%056x", h, 0);
	return buf;
}

static enum store_fetch fetch_cert(struct store *s, const char *client, const char *cert,
				   const char *source, bool *ret_repeat)
{
	struct held_blob *b = NULL;
	char id[BUNDLE_ID_HEX_LEN + 1];
	uint64_t n = 0;
	int64_t gone = 0;
	bool repeat = false;
	enum store_fetch r =
	    store_fetch(s, NULL, client, cert, source, "127.0.0.1:1", &b, id, &n, &repeat, &gone);
	held_blob_unref(b);
	if (ret_repeat)
		*ret_repeat = repeat;
	return r;
}

/* A fetch by the one certificate of client. */
static enum store_fetch fetch_as(struct store *s, const char *client, const char *source,
				 bool *ret_repeat)
{
	return fetch_cert(s, client, cert_n(client, 1), source, ret_repeat);
}

/* Each fetch from a new client-CA identity. */
static enum store_fetch fetch(struct store *s)
{
	static unsigned n;
	char name[32];
	snprintf(name, sizeof(name), "node-%u", ++n);
	return fetch_as(s, name, "client-ca", NULL);
}

static void with_store(void (*body)(struct store *))
{
	struct store s;
	CHECK(store_init(&s) == 0);
	body(&s);
	store_done(&s);
}

static void repeat_body(struct store *s)
{
	bool repeat = false;
	CHECK_EQ_INT(put(s, "a", "1", 60000, 2), 0);
	CHECK_EQ_INT(fetch_as(s, "cp-2", "client-ca", &repeat), STORE_FETCH_OK);
	CHECK(!repeat);
	CHECK_EQ_INT(fetch_as(s, "cp-2", "client-ca", &repeat), STORE_FETCH_OK);
	CHECK(repeat); /* the same node again: not counted */
	CHECK_EQ_INT(view_fetches(s), 1);
	CHECK_EQ_INT(fetch_as(s, "cp-2", "enrolled", &repeat), STORE_FETCH_OK);
	CHECK(!repeat); /* an enrolled name is chosen by the token holder: always counted */
	CHECK(!view_held(s));
	CHECK_EQ_INT(fetch_as(s, "cp-2", "client-ca", &repeat), STORE_FETCH_USED_UP);
}
static void store_counts_a_client_ca_node_once_and_enrolled_names_always(void)
{
	with_store(repeat_body);
}

static void same_cn_body(struct store *s)
{
	/* Two certificates with one CN are two identities: each counts. */
	bool repeat = true;
	CHECK_EQ_INT(put(s, "a", "1", 60000, 2), 0);
	CHECK_EQ_INT(fetch_cert(s, "cp-2", cert_n("cp-2", 1), "client-ca", &repeat),
		     STORE_FETCH_OK);
	CHECK_EQ_INT(fetch_cert(s, "cp-2", cert_n("cp-2", 2), "client-ca", &repeat),
		     STORE_FETCH_OK);
	CHECK(!repeat);
	CHECK(!view_held(s)); /* two identities: max-fetches 2 reached */
}
static void store_counts_two_certificates_with_one_cn_twice(void)
{
	with_store(same_cn_body);
}

static void used_key_refused_body(struct store *s)
{
	CHECK_EQ_INT(put(s, "a", "1", 60000, 0), 0);
	CHECK_EQ_INT(put(s, "b", "1", 60000, 0), -EEXIST);
	char id[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(store_delete(s, id), 0);
	CHECK_EQ_INT(put(s, "c", "1", 60000, 0), -EEXIST); /* deleted, still used */
	CHECK_EQ_INT(put(s, "c", "2", 60000, 0), 0);
}
static void store_refuses_a_used_key_even_after_delete(void)
{
	with_store(used_key_refused_body);
}

static void max_fetches_body(struct store *s)
{
	CHECK_EQ_INT(put(s, "a", "1", 60000, 2), 0);
	CHECK_EQ_INT(fetch(s), STORE_FETCH_OK);
	CHECK(view_held(s));
	CHECK_EQ_INT(fetch(s), STORE_FETCH_OK);
	CHECK(!view_held(s)); /* the last allowed fetch wiped it */
	CHECK_EQ_INT(fetch(s), STORE_FETCH_USED_UP);
}
static void store_serves_exactly_max_fetches(void)
{
	with_store(max_fetches_body);
}

static void other_bundle_body(struct store *s)
{
	struct held_blob *b = NULL;
	char want[BUNDLE_ID_HEX_LEN + 1], id[BUNDLE_ID_HEX_LEN + 1];
	uint64_t n = 0;
	int64_t gone = 0;
	bool repeat = false;
	memset(want, 'a', BUNDLE_ID_HEX_LEN);
	want[BUNDLE_ID_HEX_LEN] = 0;
	CHECK_EQ_INT(put(s, "b", "2", 60000, 1), 0);
	CHECK_EQ_INT(store_fetch(s, want, "node-1", cert_n("node-1", 1), "client-ca", "peer", &b,
				 id, &n, &repeat, &gone),
		     STORE_FETCH_OTHER);
	CHECK(b == NULL && id[0] == 'b');
	CHECK_EQ_INT(view_fetches(s), 0);
	CHECK_EQ_INT(view_n_fetch_log(s), 0);
	CHECK(view_held(s)); /* not used up by a refusal */
	memset(want, 'b', BUNDLE_ID_HEX_LEN);
	CHECK_EQ_INT(store_fetch(s, want, "node-1", cert_n("node-1", 1), "client-ca", "peer", &b,
				 id, &n, &repeat, &gone),
		     STORE_FETCH_OK);
	held_blob_unref(b);
	CHECK(!view_held(s));
}
static void store_fetch_of_another_bundle_is_refused_and_not_counted(void)
{
	with_store(other_bundle_body);
}

static void delete_body(struct store *s)
{
	char id[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(store_delete(s, id), -ENOENT);
	CHECK_EQ_INT(fetch(s), STORE_FETCH_NONE);
	CHECK_EQ_INT(put(s, "a", "1", 60000, 0), 0);
	CHECK_EQ_INT(store_delete(s, id), 0);
	CHECK(id[0] == 'a');
	CHECK_EQ_INT(fetch(s), STORE_FETCH_DELETED);
	CHECK_EQ_INT(store_delete(s, id), -ENOENT);
}
static void store_delete_answers_deleted_then_enoent(void)
{
	with_store(delete_body);
}

static void mono_deadline_body(struct store *s)
{
	CHECK_EQ_INT(put(s, "a", "1", 50, 0), 0);
	CHECK_EQ_INT(fetch(s), STORE_FETCH_OK);
	usleep(80 * 1000);
	CHECK_EQ_INT(fetch(s), STORE_FETCH_EXPIRED);
}
static void store_never_serves_past_the_monotonic_deadline(void)
{
	with_store(mono_deadline_body);
}

static void wall_deadline_body(struct store *s)
{
	/* A monotonic deadline far away, but the sealed expiresAt already passed by the
	 * wall clock (as after a suspend): not served. */
	struct bundle m = meta_new("a", "1", 3600);
	m.expires_at = time_now() - 1;
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(store_put(s, secret_dup("{}", 2), &m, 3600 * 1000, 0, false, replaced), 0);
	CHECK_EQ_INT(fetch(s), STORE_FETCH_EXPIRED);
}
static void store_never_serves_past_the_sealed_expiry_by_the_wall_clock(void)
{
	with_store(wall_deadline_body);
}

static void replace_body(struct store *s)
{
	struct bundle m = meta_new("b", "2", 3600);
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(put(s, "a", "1", 60000, 0), 0);
	CHECK_EQ_INT(store_put(s, secret_dup("{}", 2), &m, 60000, 0, false, replaced), 0);
	CHECK(replaced[0] == 'a' && strlen(replaced) == BUNDLE_ID_HEX_LEN);
	CHECK(view_id(s)[0] == 'b');
	CHECK_EQ_INT(view_gone(s), STORE_GONE_REPLACED);
}
static void store_upload_replaces_and_names_the_replaced(void)
{
	with_store(replace_body);
}

static void external_body(struct store *s)
{
	struct bundle m = meta_new("a", "1", 3600);
	m.files.n = 1;
	str_copy(m.files.e[0].name, sizeof(m.files.e[0].name), EXT_ETCD_CA_NAME);
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(store_put(s, secret_dup("{}", 2), &m, 60000, 0, false, replaced), 0);
	CHECK_EQ_INT(put(s, "b", "2", 60000, 0), -EXDEV);
	CHECK(view_id(s)[0] == 'a'); /* refused: nothing changed */
	struct bundle m2 = meta_new("b", "2", 3600);
	CHECK_EQ_INT(store_put(s, secret_dup("{}", 2), &m2, 60000, 0, true, replaced), 0);
}
static void store_refuses_dropping_external_etcd_unless_asked(void)
{
	with_store(external_body);
}

static void tokens_body(struct store *s)
{
	uint8_t h[TOKEN_HASH_BYTES] = {1}, wrong[TOKEN_HASH_BYTES] = {2};
	CHECK_EQ_INT(store_token_add(s, "abcdef", h, 60, 2, NULL), 0);
	CHECK_EQ_INT(store_token_add(s, "abcdef", h, 60, 2, NULL), -EEXIST);
	struct store_spent_token sp = {0};
	CHECK_EQ_INT(store_token_check(s, "abcdef", h, NULL), 0);
	CHECK_EQ_INT(store_token_check(s, "abcdef", wrong, NULL), -EACCES);
	CHECK_EQ_INT(store_token_check(s, "zzzzzz", h, NULL), -ENOENT);
	CHECK_EQ_INT(store_token_use(s, "abcdef", h, "cp-2"), 0);
	CHECK_EQ_INT(view_n_tokens(s), 1); /* a check did not spend a use; one use is left */
	CHECK_EQ_INT(store_token_use(s, "abcdef", h, "cp-3"), 0);
	CHECK_EQ_INT(view_n_tokens(s), 0); /* the last use removed it */
	/* ... and it is told apart from an unknown token, by its own secret only. */
	CHECK_EQ_INT(store_token_use(s, "abcdef", h, "cp-4"), -ESTALE);
	CHECK_EQ_INT(store_token_check(s, "abcdef", h, &sp), -ESTALE);
	CHECK(strcmp(sp.client, "cp-3") == 0);
	CHECK_EQ_INT(store_token_check(s, "abcdef", wrong, NULL), -ENOENT);
	CHECK_EQ_INT(store_token_add(s, "ghijkl", h, 60, 0, NULL), 0);
	CHECK_EQ_INT(store_token_delete(s, "ghijkl"), 0);
	CHECK_EQ_INT(store_token_delete(s, "ghijkl"), -ENOENT);
}
static void store_tokens_count_uses_and_compare_hashes(void)
{
	with_store(tokens_body);
}

static void token_full_body(struct store *s)
{
	uint8_t h[TOKEN_HASH_BYTES] = {1};
	char id[16];
	for (int i = 0; i < STORE_MAX_TOKENS; i++) {
		snprintf(id, sizeof(id), "t%05d", i);
		CHECK_EQ_INT(store_token_add(s, id, h, 60, 0, NULL), 0);
	}
	CHECK_EQ_INT(store_token_add(s, "over00", h, 60, 0, NULL), -ENOSPC);
}
static void store_token_table_has_a_bound(void)
{
	with_store(token_full_body);
}

static void history_body(struct store *s)
{
	/* A full history refuses new keys rather than forget any (each forgotten id would
	 * be a key that can be used again); every key it holds stays refused. */
	char id[2] = "a";
	struct bundle m, first = {0};
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	for (int i = 0; i < STORE_MAX_SEEN_KEYS; i++) {
		m = meta_new(id, "0", 3600);
		snprintf(m.key_id, sizeof(m.key_id), "%016x", (unsigned)i);
		if (i == 0)
			first = m;
		CHECK(store_put(s, secret_dup("{}", 2), &m, 60000, 0, false, replaced) == 0);
	}
	CHECK_EQ_INT(view_n_seen(s), STORE_MAX_SEEN_KEYS);
	m = meta_new(id, "0", 3600);
	snprintf(m.key_id, sizeof(m.key_id), "%016x", (unsigned)STORE_MAX_SEEN_KEYS);
	CHECK_EQ_INT(store_put(s, secret_dup("{}", 2), &m, 60000, 0, false, replaced), -ENOSPC);
	CHECK_EQ_INT(store_put(s, secret_dup("{}", 2), &first, 60000, 0, false, replaced), -EEXIST);
	CHECK(view_key_id(s)[0] == '0' &&
	      strcmp(view_key_id(s), first.key_id) != 0); /* nothing changed */
}
static void store_key_history_when_full_refuses_and_forgets_none(void)
{
	with_store(history_body);
}

static const struct test_case cases[] = {
    TEST(store_counts_a_client_ca_node_once_and_enrolled_names_always),
    TEST(store_counts_two_certificates_with_one_cn_twice),
    TEST(store_refuses_a_used_key_even_after_delete),
    TEST(store_serves_exactly_max_fetches),
    TEST(store_delete_answers_deleted_then_enoent),
    TEST(store_fetch_of_another_bundle_is_refused_and_not_counted),
    TEST(store_never_serves_past_the_monotonic_deadline),
    TEST(store_never_serves_past_the_sealed_expiry_by_the_wall_clock),
    TEST(store_upload_replaces_and_names_the_replaced),
    TEST(store_refuses_dropping_external_etcd_unless_asked),
    TEST(store_tokens_count_uses_and_compare_hashes),
    TEST(store_token_table_has_a_bound),
    TEST(store_key_history_when_full_refuses_and_forgets_none),
};

int main(void)
{
	secret_init();
	return test_run("store", cases, TEST_ELEMENTS(cases));
}
