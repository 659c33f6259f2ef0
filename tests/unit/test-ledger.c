/* test-ledger.c - the one-node ledger (daemon/core/ledger-local.c) through its ops table,
 * as the held state calls it: claims and max-fetches, repeats by the same certificate,
 * the key-id history, the gone reasons. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "secret.h"
#include "test.h"

static char ids[8][BUNDLE_ID_HEX_LEN + 1];
static char keys[8][KEY_ID_HEX_LEN + 1];
static char certs[8][STORE_CERT_ID_LEN + 1];

static void setup(void)
{
	for (int i = 0; i < 8; i++) {
		memset(ids[i], 'a' + i, BUNDLE_ID_HEX_LEN);
		memset(keys[i], '0' + i, KEY_ID_HEX_LEN);
		memset(certs[i], 'a' + i, STORE_CERT_ID_LEN);
	}
}

static int announce(struct ledger *l, int id, int key, uint64_t max)
{
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	struct ledger_bundle b = {.id = ids[id], .key_id = keys[key], .max_fetches = max};
	return l->ops->announce(l, &b, replaced);
}

static struct ledger_claim claim(struct ledger *l, int id, const char *client, int cert,
				 const char *source)
{
	struct ledger_claim c;
	struct ledger_claimant who = {.client = client,
				      .cert = cert >= 0 ? certs[cert] : NULL,
				      .source = source,
				      .peer = "127.0.0.1:1"};
	CHECK_EQ_INT(l->ops->claim(l, ids[id], &who, &c), 0);
	return c;
}

static void with_ledger(void (*body)(struct ledger *))
{
	struct ledger l;
	CHECK_EQ_INT(ledger_local_open(&l), 0);
	CHECK(strcmp(l.ops->name, "local") == 0);
	body(&l);
	l.ops->done(&l);
}

static void max_body(struct ledger *l)
{
	struct ledger_view v;
	CHECK_EQ_INT(announce(l, 0, 0, 2), 0);
	struct ledger_claim c = claim(l, 0, "node-2", 2, "client-ca");
	CHECK(c.result == LEDGER_CLAIM_OK && c.fetch_no == 1 && !c.last && !c.repeat);
	c = claim(l, 0, "node-3", 3, "client-ca");
	CHECK(c.result == LEDGER_CLAIM_OK && c.fetch_no == 2 && c.last);
	c = claim(l, 0, "node-4", 4, "client-ca");
	CHECK(c.result == LEDGER_CLAIM_GONE && c.gone == STORE_GONE_USED_UP);
	CHECK(strcmp(c.gone_id, ids[0]) == 0);
	l->ops->view(l, &v);
	CHECK(!v.current && v.gone == STORE_GONE_USED_UP && v.gone_at > 0);
}
static void ledger_counts_claims_up_to_max_fetches_then_is_used_up(void)
{
	with_ledger(max_body);
}

static void repeat_body(struct ledger *l)
{
	struct ledger_view v;
	CHECK_EQ_INT(announce(l, 0, 0, 3), 0);
	CHECK_EQ_INT(claim(l, 0, "node-2", 2, "client-ca").fetch_no, 1);
	struct ledger_claim c = claim(l, 0, "node-2", 2, "client-ca");
	CHECK(c.result == LEDGER_CLAIM_OK && c.repeat && c.fetch_no == 1 && !c.last);
	/* Another certificate with the same CN counts; enrolled names always count; a
	 * client without a certificate id counts. */
	CHECK(!claim(l, 0, "node-2", 5, "client-ca").repeat);
	struct store_fetch_record log[STORE_MAX_FETCH_LOG];
	l->ops->view(l, &v);
	CHECK_EQ_INT(v.fetches, 2);
	CHECK_EQ_INT(v.n_fetch_log, 2);
	CHECK_EQ_INT(l->ops->fetch_log(l, log, STORE_MAX_FETCH_LOG), 2);
	CHECK(strcmp(log[1].cert, certs[5]) == 0 && strcmp(log[0].client, "node-2") == 0);
	c = claim(l, 0, "cp-9", 6, "enrolled");
	CHECK(c.result == LEDGER_CLAIM_OK && !c.repeat && c.last);
}
static void ledger_repeat_only_for_the_same_client_ca_certificate(void)
{
	with_ledger(repeat_body);
}

static void history_body(struct ledger *l)
{
	struct ledger_view v;
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(announce(l, 0, 0, 0), 0);
	CHECK_EQ_INT(l->ops->key_id_seen(l, keys[0]), 1);
	CHECK_EQ_INT(l->ops->key_id_seen(l, keys[1]), 0);
	CHECK_EQ_INT(announce(l, 1, 0, 0), -EEXIST); /* a used key, whatever the bundle */
	CHECK_EQ_INT(l->ops->retire(l, ids[0], STORE_GONE_DELETED), 0);
	CHECK_EQ_INT(announce(l, 2, 0, 0), -EEXIST); /* ... even after a delete */
	for (unsigned i = 1; i < STORE_MAX_SEEN_KEYS; i++) {
		char key[KEY_ID_HEX_LEN + 1];
		snprintf(key, sizeof(key), "%016x", i);
		struct ledger_bundle b = {.id = ids[1], .key_id = key};
		CHECK_EQ_INT(l->ops->announce(l, &b, replaced), 0);
	}
	CHECK_EQ_INT(announce(l, 3, 3, 0), -ENOSPC); /* full: refuses, forgets none */
	l->ops->view(l, &v);
	CHECK_EQ_INT(v.n_seen, STORE_MAX_SEEN_KEYS);
	CHECK(strcmp(v.id, ids[1]) == 0); /* nothing changed */
	static char all[STORE_MAX_SEEN_KEYS][KEY_ID_HEX_LEN + 1];
	CHECK_EQ_INT(l->ops->key_ids(l, all, STORE_MAX_SEEN_KEYS), STORE_MAX_SEEN_KEYS);
	CHECK(strcmp(all[0], keys[0]) == 0);
}
static void ledger_key_history_refuses_repeats_and_when_full_forgets_none(void)
{
	with_ledger(history_body);
}

static void gone_body(struct ledger *l)
{
	struct ledger_view v;
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	l->ops->view(l, &v);
	CHECK(!v.current && v.gone == STORE_GONE_NEVER);
	CHECK(claim(l, 0, "n", 2, "client-ca").gone == STORE_GONE_NEVER);
	CHECK_EQ_INT(announce(l, 0, 0, 0), 0);
	struct ledger_bundle b = {.id = ids[1], .key_id = keys[1]};
	CHECK_EQ_INT(l->ops->announce(l, &b, replaced), 0);
	CHECK(strcmp(replaced, ids[0]) == 0);
	l->ops->view(l, &v);
	CHECK(v.current && v.gone == STORE_GONE_REPLACED && strcmp(v.gone_id, ids[0]) == 0);
	/* A claim of the replaced bundle: another one is current, nothing counted. */
	struct ledger_claim c = claim(l, 0, "n", 2, "client-ca");
	CHECK(c.result == LEDGER_CLAIM_OTHER && strcmp(c.current, ids[1]) == 0);
	l->ops->view(l, &v);
	CHECK_EQ_INT(v.fetches, 0);
	CHECK_EQ_INT(l->ops->retire(l, ids[0], STORE_GONE_DELETED), -ENOENT);
	CHECK_EQ_INT(l->ops->retire(l, ids[1], STORE_GONE_EXPIRED), 0);
	c = claim(l, 1, "n", 2, "client-ca");
	CHECK(c.result == LEDGER_CLAIM_GONE && c.gone == STORE_GONE_EXPIRED);
	CHECK_EQ_INT(announce(l, 2, 2, 0), 0);
	CHECK_EQ_INT(l->ops->retire(l, ids[2], STORE_GONE_LOST), 0);
	l->ops->view(l, &v);
	CHECK(v.gone == STORE_GONE_LOST && strcmp(store_gone_name(v.gone), "lost-at-restart") == 0);
}
static void ledger_says_why_the_last_bundle_went(void)
{
	with_ledger(gone_body);
}

static void external_body(struct ledger *l)
{
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	struct ledger_bundle b = {.id = ids[0], .key_id = keys[0], .has_external = true};
	CHECK_EQ_INT(l->ops->announce(l, &b, replaced), 0);
	CHECK_EQ_INT(announce(l, 1, 1, 0), -EXDEV);
	CHECK_EQ_INT(l->ops->key_id_seen(l, keys[1]), 0); /* refused: not recorded */
	b = (struct ledger_bundle){.id = ids[1], .key_id = keys[1], .allow_drop_external = true};
	CHECK_EQ_INT(l->ops->announce(l, &b, replaced), 0);
}
static void ledger_refuses_dropping_external_etcd_unless_asked(void)
{
	with_ledger(external_body);
}

/* Racing claimants: exactly max_fetches of them get a slot. */
static struct ledger race_ledger;
static _Atomic int race_ok;
static void *racer(void *arg)
{
	int i = (int)(intptr_t)arg;
	char name[16];
	snprintf(name, sizeof(name), "node-%d", i);
	struct ledger_claim c;
	struct ledger_claimant who = {.client = name, .source = "enrolled", .peer = "p"};
	if (race_ledger.ops->claim(&race_ledger, ids[0], &who, &c) == 0 &&
	    c.result == LEDGER_CLAIM_OK)
		race_ok++;
	return NULL;
}
static void ledger_racing_claimants_never_exceed_max_fetches(void)
{
	pthread_t t[16];
	CHECK_EQ_INT(ledger_local_open(&race_ledger), 0);
	CHECK_EQ_INT(announce(&race_ledger, 0, 0, 3), 0);
	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(race_ok, 3);
	race_ledger.ops->done(&race_ledger);
}

static void load_body(struct ledger *l)
{
	struct ledger_view v = {.current = true,
				.fetches = 1,
				.max_fetches = 2,
				.n_fetch_log = 1,
				.gone = STORE_GONE_REPLACED,
				.gone_at = 5};
	static char seen[2][KEY_ID_HEX_LEN + 1];
	struct store_fetch_record log[1] = {{.at = 1}};
	memcpy(v.id, ids[1], sizeof(v.id));
	memcpy(v.key_id, keys[1], sizeof(v.key_id));
	memcpy(v.gone_id, ids[0], sizeof(v.gone_id));
	memcpy(log[0].cert, certs[2], sizeof(log[0].cert));
	memcpy(log[0].source, "client-ca", 10);
	memcpy(seen[0], keys[0], sizeof(seen[0]));
	memcpy(seen[1], keys[1], sizeof(seen[1]));
	CHECK_EQ_INT(l->ops->load(l, &v, log, (const void *)seen, 2), 0);
	CHECK_EQ_INT(l->ops->key_id_seen(l, keys[0]), 1);
	/* The restored fetch log still knows the certificate: its repeat is free. */
	CHECK(claim(l, 1, "node-2", 2, "client-ca").repeat);
	CHECK(claim(l, 1, "node-3", 3, "client-ca").last);
	CHECK_EQ_INT(l->ops->load(l, &v, log, (const void *)seen, STORE_MAX_SEEN_KEYS + 1),
		     -EINVAL);
}
static void ledger_load_takes_a_restored_state(void)
{
	with_ledger(load_body);
}

static int release(struct ledger *l, int id, const char *client, int cert, const char *source,
		   const struct ledger_claim *c)
{
	struct ledger_claimant who = {.client = client,
				      .cert = cert >= 0 ? certs[cert] : NULL,
				      .source = source,
				      .peer = "127.0.0.1:1"};
	return l->ops->release(l, ids[id], &who, c);
}

static void release_body(struct ledger *l)
{
	struct ledger_view v;
	struct store_fetch_record log[STORE_MAX_FETCH_LOG];
	CHECK_EQ_INT(announce(l, 0, 0, 2), 0);
	struct ledger_claim c1 = claim(l, 0, "node-2", 2, "client-ca");
	struct ledger_claim c2 = claim(l, 0, "node-3", 3, "client-ca");
	CHECK(c2.last);
	/* node-3 left before its answer: the bundle is current again, one slot left. */
	CHECK_EQ_INT(release(l, 0, "node-3", 3, "client-ca", &c2), 0);
	l->ops->view(l, &v);
	CHECK(v.current && strcmp(v.id, ids[0]) == 0 && strcmp(v.key_id, keys[0]) == 0);
	CHECK_EQ_INT(v.fetches, 1);
	CHECK_EQ_INT(v.max_fetches, 2);
	CHECK(v.gone == STORE_GONE_NEVER);
	CHECK_EQ_INT(l->ops->fetch_log(l, log, STORE_MAX_FETCH_LOG), 1);
	CHECK(strcmp(log[0].client, "node-2") == 0);
	/* A repeat gives nothing back. */
	struct ledger_claim r = claim(l, 0, "node-2", 2, "client-ca");
	CHECK(r.repeat);
	CHECK_EQ_INT(release(l, 0, "node-2", 2, "client-ca", &r), 0);
	l->ops->view(l, &v);
	CHECK_EQ_INT(v.fetches, 1);
	/* Not the last: the count goes down and its record goes, the others stay. */
	struct ledger_claim c4 = claim(l, 0, "node-4", 4, "client-ca");
	CHECK(c4.last);
	CHECK_EQ_INT(release(l, 0, "node-4", 4, "client-ca", &c4), 0);
	CHECK_EQ_INT(release(l, 0, "node-2", 2, "client-ca", &c1), 0);
	l->ops->view(l, &v);
	CHECK(v.current);
	CHECK_EQ_INT(v.fetches, 0);
	CHECK_EQ_INT(v.n_fetch_log, 0);
	/* Used up, then replaced: what was used up stays gone. */
	c1 = claim(l, 0, "node-5", 5, "client-ca");
	c2 = claim(l, 0, "node-6", 6, "client-ca");
	CHECK(c2.last);
	CHECK_EQ_INT(announce(l, 1, 1, 0), 0);
	CHECK_EQ_INT(release(l, 0, "node-6", 6, "client-ca", &c2), -ENOENT);
	CHECK_EQ_INT(release(l, 0, "node-5", 5, "client-ca", &c1), -ENOENT);
	l->ops->view(l, &v);
	CHECK(v.current && strcmp(v.id, ids[1]) == 0);
	CHECK_EQ_INT(v.fetches, 0);
}
static void ledger_release_gives_an_undelivered_slot_back(void)
{
	with_ledger(release_body);
}

static const struct test_case cases[] = {
    TEST(ledger_counts_claims_up_to_max_fetches_then_is_used_up),
    TEST(ledger_repeat_only_for_the_same_client_ca_certificate),
    TEST(ledger_key_history_refuses_repeats_and_when_full_forgets_none),
    TEST(ledger_says_why_the_last_bundle_went),
    TEST(ledger_refuses_dropping_external_etcd_unless_asked),
    TEST(ledger_racing_claimants_never_exceed_max_fetches),
    TEST(ledger_load_takes_a_restored_state),
    TEST(ledger_release_gives_an_undelivered_slot_back),
};

int main(void)
{
	secret_init();
	setup();
	return test_run("ledger", cases, TEST_ELEMENTS(cases));
}
