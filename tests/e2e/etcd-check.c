/* etcd-check.c - coordd's etcd client (coordd/etcd.c) driven against a real etcd cluster
 * by tests/e2e/test-etcd-client.sh, one scenario per run:
 *   etcd-check basic             every call, their answers, failover past a dead member
 *   etcd-check race ID LIMIT     one racer of a compare-and-swap counter: "granted"/"refused"
 *   etcd-check watch-until KEY   watch PREFIX until KEY is put, re-watching on every loss
 *   etcd-check put KEY VALUE     one put
 *   etcd-check noleader          one txn: prints what came back (no-leader, ok, ...)
 *   etcd-check outside KEY       one put of KEY (outside the prefix): ok, denied or other
 * The cluster comes from PKS_ETCD_ENDPOINTS (comma-separated), PKS_ETCD_CA, PKS_ETCD_CERT,
 * PKS_ETCD_KEY; PKS_ETCD_PREFIX is the test's own prefix. Prints "ok: ..." / "FAIL: ..." lines;
 * exit 1 on any failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "etcd.h"

static int fails;
static char prefix[256];

/* cond is evaluated once (it often makes a call). */
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		bool ok_ = (cond);                                                                 \
		printf(ok_ ? "ok: " : "FAIL: ");                                                   \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
		if (!ok_)                                                                          \
			fails++;                                                                   \
	} while (0)

static const char *key(const char *name)
{
	static char buf[4][512];
	static int i;
	char *b = buf[i++ % 4];
	snprintf(b, 512, "%s%s", prefix, name);
	return b;
}

/* What the clients opened here reference: kept until the end, then freed. */
static struct secret *loaded[16];
static char *endpoint_lists[4];
static size_t n_loaded, n_lists;

static struct secret *load(const char *env)
{
	const char *path = getenv(env);
	struct secret *s = NULL;
	if (!path || n_loaded == sizeof(loaded) / sizeof(loaded[0]) ||
	    secret_read_file(path, 1 << 20, &s) < 0) {
		fprintf(stderr, "etcd-check: cannot read $%s\n", env);
		exit(2);
	}
	loaded[n_loaded++] = s;
	return s;
}

static void free_loaded(void)
{
	for (size_t i = 0; i < n_loaded; i++)
		secret_free(loaded[i]);
	for (size_t i = 0; i < n_lists; i++)
		free(endpoint_lists[i]);
}

static struct etcd *open_cluster(const char *endpoints_csv)
{
	char *eps[ETCD_ENDPOINTS_MAX];
	size_t n = 0;
	char *copy = strdup(endpoints_csv), *save = NULL;
	if (!copy || n_lists == sizeof(endpoint_lists) / sizeof(endpoint_lists[0]))
		exit(2);
	endpoint_lists[n_lists++] = copy;
	for (char *t = strtok_r(copy, ",", &save); t && n < ETCD_ENDPOINTS_MAX;
	     t = strtok_r(NULL, ",", &save))
		eps[n++] = t;
	struct etcd_config cfg = {.endpoints = (const char *const *)eps,
				  .n_endpoints = n,
				  .ca_pem = load("PKS_ETCD_CA"),
				  .cert_pem = load("PKS_ETCD_CERT"),
				  .key_pem = load("PKS_ETCD_KEY"),
				  .connect_timeout_ms = 1000,
				  .call_timeout_ms = 3000};
	if (getenv("PKS_ETCD_USER")) {
		/* etcd's own auth: a password user (a file, its trailing newline dropped). */
		struct secret *pw = load("PKS_ETCD_PASSWORD_FILE");
		while (pw->len && pw->data[pw->len - 1] == '\n')
			pw->data[--pw->len] = 0;
		cfg.user = getenv("PKS_ETCD_USER");
		cfg.password = pw;
	}
	struct etcd *e = NULL;
	int r = etcd_open(&cfg, &e);
	if (r < 0) {
		fprintf(stderr, "etcd-check: etcd_open: %s\n", strerror(-r));
		exit(2);
	}
	return e; /* the secrets live as long as the process */
}

static int put(struct etcd *e, const char *k, const char *v)
{
	return etcd_put(e, k, v, strlen(v), 0, NULL, NULL);
}

static char *get(struct etcd *e, const char *k)
{
	struct etcd_kvs kv;
	if (etcd_range(e, k, NULL, false, &kv, NULL) < 0 || kv.n != 1) {
		if (kv.n)
			etcd_kvs_done(&kv);
		return NULL;
	}
	char *v = strdup(kv.kv[0].value);
	etcd_kvs_done(&kv);
	return v;
}

/* A compare-and-swap claim: create k with value v if absent; what holds it after. */
static int claim(struct etcd *e, const char *k, const char *v, bool *ret_won, char **ret_owner)
{
	struct etcd_cmp c = {.key = k, .target = ETCD_CREATE, .result = ETCD_EQUAL};
	struct etcd_op ok = {.kind = ETCD_OP_PUT, .key = k, .value = v, .value_len = strlen(v)};
	struct etcd_op no = {.kind = ETCD_OP_RANGE, .key = k};
	struct etcd_txn t = {
	    .cmp = &c, .n_cmp = 1, .success = &ok, .n_success = 1, .failure = &no, .n_failure = 1};
	struct etcd_txn_result res;
	int r = etcd_txn(e, &t, &res, NULL);
	if (r < 0)
		return r;
	*ret_won = res.succeeded;
	*ret_owner = !res.succeeded && res.n_ranges == 1 && res.ranges[0].n == 1
			 ? strdup(res.ranges[0].kv[0].value)
			 : NULL;
	etcd_txn_result_done(&res);
	return 0;
}

struct seen {
	int events, puts, deletes, created, progress;
	int64_t last_mod;
	bool ordered;
	const char *until;
	bool found;
};

static int on_watch(const struct etcd_watch_msg *m, void *arg)
{
	struct seen *s = arg;
	s->created += m->created;
	s->progress += m->progress;
	if (m->created) {
		printf("watch: created\n");
		fflush(stdout);
	}
	for (size_t i = 0; i < m->n_events; i++) {
		const struct etcd_event *ev = &m->events[i];
		s->events++;
		s->puts += !ev->deleted;
		s->deletes += ev->deleted;
		if (ev->kv.mod_revision <= s->last_mod)
			s->ordered = false;
		s->last_mod = ev->kv.mod_revision;
		if (s->until && !ev->deleted && !strcmp(ev->kv.key, s->until))
			s->found = true;
	}
	return 0;
}

static void basic(struct etcd *e, const char *endpoints)
{
	char *v;
	int64_t rev = 0, deleted = 0;
	EXPECT(etcd_put(e, key("a"), "1", 1, 0, &rev, NULL) == 0 && rev > 0, "put (revision %lld)",
	       (long long)rev);
	v = get(e, key("a"));
	EXPECT(v && !strcmp(v, "1"), "range reads what was put");
	free(v);
	EXPECT(put(e, key("b"), "2") == 0, "a second key");
	char end[512];
	etcd_prefix_end(prefix, end, sizeof(end));
	struct etcd_kvs kv = {0};
	EXPECT(etcd_range(e, prefix, end, false, &kv, NULL) == 0 && kv.n == 2 && kv.count == 2,
	       "a prefix range holds both (%zu)", kv.n);
	etcd_kvs_done(&kv);
	EXPECT(etcd_range(e, key("missing"), NULL, true, &kv, NULL) == 0 && kv.n == 0,
	       "a missing key: no kvs (serializable read)");

	/* Create-if-absent: one winner, and the loser reads who won. */
	bool won = false;
	char *owner = NULL;
	EXPECT(claim(e, key("claim"), "node-1", &won, &owner) == 0 && won, "the first claim wins");
	free(owner);
	EXPECT(claim(e, key("claim"), "node-2", &won, &owner) == 0 && !won && owner &&
		   !strcmp(owner, "node-1"),
	       "a second claim loses and reads the owner (%s)", owner ? owner : "?");
	free(owner);

	/* Compare-and-swap on the modification revision: a stale one is refused. */
	EXPECT(etcd_range(e, key("a"), NULL, false, &kv, NULL) == 0 && kv.n == 1,
	       "read a's revision");
	int64_t mod = kv.n ? kv.kv[0].mod_revision : 0;
	etcd_kvs_done(&kv);
	struct etcd_cmp c = {
	    .key = key("a"), .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mod};
	struct etcd_op p = {.kind = ETCD_OP_PUT, .key = key("a"), .value = "2", .value_len = 1};
	struct etcd_txn t = {.cmp = &c, .n_cmp = 1, .success = &p, .n_success = 1};
	struct etcd_txn_result tr;
	EXPECT(etcd_txn(e, &t, &tr, NULL) == 0 && tr.succeeded, "CAS with the current revision");
	etcd_txn_result_done(&tr);
	EXPECT(etcd_txn(e, &t, &tr, NULL) == 0 && !tr.succeeded, "CAS with a stale revision fails");
	etcd_txn_result_done(&tr);

	/* Leases: a chosen id; granted twice is an error; keep-alive; revoke takes the key. */
	int64_t id = 0x5000000 + (getpid() & 0xffff), got = 0, ttl = 0;
	struct etcd_error err = {0};
	EXPECT(etcd_lease_grant(e, 30, id, &got, NULL) == 0 && got == id,
	       "lease grant with our id");
	int r = etcd_lease_grant(e, 30, id, &got, &err);
	EXPECT(r == -EPROTO, "a second grant of that id is refused (%d, code %d: %s)", r, err.code,
	       err.message);
	EXPECT(etcd_put(e, key("leased"), "x", 1, id, NULL, NULL) == 0, "a put under the lease");
	EXPECT(etcd_lease_keepalive(e, id, &ttl, NULL) == 0 && ttl > 0, "keep-alive (TTL %lld)",
	       (long long)ttl);
	EXPECT(etcd_lease_revoke(e, id, NULL) == 0, "revoke");
	v = get(e, key("leased"));
	EXPECT(!v, "the key went with its lease");
	free(v);
	EXPECT(etcd_lease_keepalive(e, id, &ttl, NULL) == 0 && ttl == 0,
	       "keep-alive of a gone lease: TTL 0");

	/* Expiry deletes (garbage collection; never a deadline). */
	EXPECT(etcd_lease_grant(e, 2, 0, &got, NULL) == 0 && got, "a 2 s lease");
	EXPECT(etcd_put(e, key("expiring"), "x", 1, got, NULL, NULL) == 0, "a put under it");
	bool gone = false;
	for (int i = 0; i < 150 && !gone; i++) {
		usleep(100 * 1000);
		v = get(e, key("expiring"));
		gone = !v;
		free(v);
	}
	EXPECT(gone, "the key is deleted when its lease expires");

	/* A watch sees every change in order, puts and deletes. */
	struct etcd_watch *w = NULL;
	struct seen s = {.ordered = true};
	EXPECT(etcd_watch_open(e, key("w/"), "", 0, 10, on_watch, &s, &w) == 0, "watch opened");
	for (int i = 0; i < 100 && !s.created; i++)
		etcd_watch_run(w, 100);
	EXPECT(s.created == 1, "the watch is created");
	put(e, key("w/1"), "a");
	put(e, key("w/2"), "b");
	put(e, key("w/1"), "c");
	etcd_delete(e, key("w/2"), NULL, &deleted, NULL);
	for (int i = 0; i < 100 && s.events < 4; i++)
		etcd_watch_run(w, 100);
	EXPECT(s.events == 4 && s.puts == 3 && s.deletes == 1 && s.ordered,
	       "the watch saw 3 puts and 1 delete in revision order (%d events)", s.events);
	/* Idle, it hears the members' heartbeat (progress notifications, every second
	 * here): what tells a quiet watch from a dead one. */
	int r2 = 0;
	for (int i = 0; i < 40 && s.progress < 2 && r2 == 0; i++)
		r2 = etcd_watch_run(w, 100);
	EXPECT(s.progress >= 2 && r2 == 0, "an idle watch hears progress notifications (%d)",
	       s.progress);
	etcd_watch_free(w);

	EXPECT(etcd_delete(e, prefix, end, &deleted, NULL) == 0 && deleted >= 3,
	       "delete the prefix (%lld keys)", (long long)deleted);

	/* A dead member first: the call goes to the next one (nothing was sent). */
	char eps[2048];
	snprintf(eps, sizeof(eps), "https://127.0.0.1:1,%s", endpoints);
	struct etcd *e2 = open_cluster(eps);
	EXPECT(put(e2, key("failover"), "y") == 0, "a put with a dead member listed first");
	etcd_delete(e2, key("failover"), NULL, NULL, NULL);
	etcd_free(e2);

	/* Keys and values are checked before anything is sent. */
	EXPECT(etcd_put(e, "", "x", 1, 0, NULL, NULL) == -EINVAL, "an empty key is refused here");
}

static int race(struct etcd *e, const char *id, int limit)
{
	for (int attempt = 0; attempt < 200; attempt++) {
		struct etcd_kvs kv;
		if (etcd_range(e, key("race/count"), NULL, false, &kv, NULL) < 0)
			continue;
		int count = kv.n ? atoi(kv.kv[0].value) : 0;
		int64_t mod = kv.n ? kv.kv[0].mod_revision : 0;
		etcd_kvs_done(&kv);
		if (count >= limit) {
			printf("refused\n");
			return 0;
		}
		char next[16];
		snprintf(next, sizeof(next), "%d", count + 1);
		struct etcd_cmp c = {.key = key("race/count"),
				     .target = mod ? ETCD_MOD : ETCD_CREATE,
				     .result = ETCD_EQUAL,
				     .number = mod};
		char slot[64];
		snprintf(slot, sizeof(slot), "race/slot/%s", id);
		struct etcd_op ops[] = {
		    {.kind = ETCD_OP_PUT,
		     .key = key("race/count"),
		     .value = next,
		     .value_len = strlen(next)},
		    {.kind = ETCD_OP_PUT, .key = key(slot), .value = id, .value_len = strlen(id)}};
		struct etcd_txn t = {.cmp = &c, .n_cmp = 1, .success = ops, .n_success = 2};
		struct etcd_txn_result tr;
		if (etcd_txn(e, &t, &tr, NULL) < 0)
			continue;
		bool won = tr.succeeded;
		etcd_txn_result_done(&tr);
		if (won) {
			printf("granted\n");
			return 0;
		}
	}
	printf("gave up\n");
	return 1;
}

/* Watch the prefix until KEY is put, re-watching from the last revision seen + 1 on the
 * next member after every loss. */
static int watch_until(struct etcd *e, const char *k)
{
	struct seen s = {.ordered = true, .until = key(k)};
	int64_t from = 0;
	int losses = 0;
	char end[512];
	etcd_prefix_end(prefix, end, sizeof(end));
	for (int round = 0; round < 20 && !s.found; round++) {
		struct etcd_watch *w = NULL;
		if (etcd_watch_open(e, prefix, end, from, 3, on_watch, &s, &w) < 0)
			return 2;
		int r = 0;
		while (!s.found && (r = etcd_watch_run(w, 500)) == 0)
			;
		if (!s.found) {
			losses++;
			printf("lost: %s (%d)\n", etcd_watch_why(w), r);
			fflush(stdout);
			if (etcd_watch_revision(w))
				from = etcd_watch_revision(w) + 1;
		}
		etcd_watch_free(w);
	}
	printf("%s %s after %d losses, %d progress notifications\n", s.found ? "seen" : "never saw",
	       k, losses, s.progress);
	return s.found ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || secret_init() < 0)
		return 2;
	const char *eps = getenv("PKS_ETCD_ENDPOINTS");
	snprintf(prefix, sizeof(prefix), "%s",
		 getenv("PKS_ETCD_PREFIX") ? getenv("PKS_ETCD_PREFIX") : "/pkishare-test/");
	if (!eps)
		return 2;
	struct etcd *e = open_cluster(eps);
	int rc = 0;
	if (!strcmp(argv[1], "basic"))
		basic(e, eps);
	else if (!strcmp(argv[1], "race") && argc == 4)
		rc = race(e, argv[2], atoi(argv[3]));
	else if (!strcmp(argv[1], "watch-until") && argc == 3)
		rc = watch_until(e, argv[2]);
	else if (!strcmp(argv[1], "outside") && argc == 3) {
		/* A key outside the prefix (argv[2] is the whole key). */
		int r = etcd_put(e, argv[2], "x", 1, 0, NULL, NULL);
		printf("%s\n", r == 0 ? "ok" : r == -EACCES ? "denied" : "other");
	} else if (!strcmp(argv[1], "put") && argc == 4)
		rc = put(e, key(argv[2]), argv[3]) < 0;
	else if (!strcmp(argv[1], "noleader")) {
		struct etcd_error err = {0};
		int r = etcd_put(e, key("quorum"), "x", 1, 0, NULL, &err);
		printf("%s\n", r == 0		    ? "ok"
			       : r == -ENOTCONN	    ? "no-leader"
			       : r == -ETIMEDOUT    ? "unknown-outcome"
			       : r == -EHOSTUNREACH ? "unreachable"
						    : "other");
		printf("detail: %d %s\n", r, err.message);
	} else
		return 2;
	etcd_free(e);
	free_loaded();
	return rc || fails ? 1 : 0;
}
