/* test-ledger-coord.c - the coordinated ledger (daemon/core/ledger-coord.c) against a fake
 * pkishare-coordd on a socket of this test's own: what it promises whatever coordd says.
 * A claim etcd did not grant is never a slot; an unknown outcome is asked again with the
 * same claim id; refusals keep their meaning; retire answers at once and its write is
 * retried until taken (flush says when); a view read across a write of this node never
 * takes the mirror back; another node's change reaches the watcher. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "coordmsg.h"
#include "ledger.h"
#include "secret.h"
#include "test.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define KEY_A "0123456789abcdef"

/* The fake coordd: a thread per connection, answering by the test's rules. */
static struct fake {
	char dir[64], path[108];
	int listen_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	/* Rules. */
	int claim_fail_first;	    /* claims answered unknown-outcome first */
	int claim_hangup_first;	    /* claims whose connection is closed unanswered first */
	enum coord_error claim_err; /* with claim_always_fail: every claim */
	bool claim_always_fail;
	enum coord_error announce_err;
	bool announce_fail;
	int retire_fail_first; /* retires answered no-quorum first */
	bool retire_always_fail;
	int view_delay_ms;
	bool view_fail; /* views answered no-quorum */
	bool current_a; /* the cluster's current bundle is ID_A */
	uint64_t revision;
	const char *token_use_result; /* tokenUse answers this ("": an error) */
	struct coord_token tokens[2]; /* the cluster's tokens, as tokens lists them */
	size_t n_tokens;
	bool tokens_fail;    /* tokens answered no-quorum */
	int tokens_delay_ms; /* ... after this long */
	/* What it saw. */
	int n[COORD_OP_N];
	char claim_ids[16][33];
	int n_claim_ids;
	char unclaimed[33]; /* the last unclaim's claim id */
} F;

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int answer(const struct coord_request *r, char *buf, size_t len)
{
	pthread_mutex_lock(&F.lock);
	F.n[r->op]++;
	int n = -1;
	switch (r->op) {
	case COORD_CLAIM: {
		if (F.n_claim_ids < 16)
			memcpy(F.claim_ids[F.n_claim_ids++], r->args.claim_id, 33);
		if (F.claim_always_fail) {
			n = coordmsg_reply_error(r->cookie, F.claim_err, "as the test says", buf,
						 len);
		} else if (F.claim_fail_first > 0) {
			F.claim_fail_first--;
			n = coordmsg_reply_error(r->cookie, COORD_E_UNKNOWN_OUTCOME, "lost", buf,
						 len);
		} else {
			struct coord_claim_result c = {.fetch_no = 1};
			strcpy(c.result, "ok");
			n = coordmsg_reply_ok(r->cookie, coordmsg_claim_result(&c), buf, len);
		}
		break;
	}
	case COORD_ANNOUNCE:
		if (F.announce_fail) {
			n = coordmsg_reply_error(r->cookie, F.announce_err, "as the test says", buf,
						 len);
		} else {
			F.current_a = !strcmp(r->args.id, ID_A);
			F.revision++;
			n = coordmsg_reply_ok(r->cookie, json_pack("{s:s}", "replaced", ""), buf,
					      len);
		}
		break;
	case COORD_RETIRE:
		if (F.retire_always_fail || F.retire_fail_first > 0) {
			F.retire_fail_first--;
			n = coordmsg_reply_error(r->cookie, COORD_E_NO_QUORUM, "no leader", buf,
						 len);
		} else {
			F.current_a = false;
			F.revision++;
			n = coordmsg_reply_ok(r->cookie, json_object(), buf, len);
		}
		break;
	case COORD_VIEW: {
		if (F.view_fail) {
			n = coordmsg_reply_error(r->cookie, COORD_E_NO_QUORUM, "no leader", buf,
						 len);
			break;
		}
		/* What the cluster says when the view is asked, answered after the delay. */
		struct coord_view v = {.has_current = F.current_a, .revision = F.revision};
		int delay = F.view_delay_ms;
		if (v.has_current) {
			strcpy(v.current.id, ID_A);
			strcpy(v.current.key_id, KEY_A);
			memset(v.current.sha256, 'c', 64);
			strcpy(v.current.origin, "node-x");
			v.current.expires_at = 2000000000;
		}
		pthread_mutex_unlock(&F.lock);
		sleep_ms(delay);
		pthread_mutex_lock(&F.lock);
		n = coordmsg_reply_ok(r->cookie, coordmsg_view_result(&v), buf, len);
		break;
	}
	case COORD_HOLDERS:
		n = coordmsg_reply_ok(r->cookie, coordmsg_holders_result(NULL, 0), buf, len);
		break;
	case COORD_PEERS:
		n = coordmsg_reply_ok(r->cookie, coordmsg_peers_result(NULL, 0), buf, len);
		break;
	case COORD_TOKENS: {
		int delay = F.tokens_delay_ms;
		pthread_mutex_unlock(&F.lock);
		sleep_ms(delay);
		pthread_mutex_lock(&F.lock);
		if (F.tokens_fail)
			n = coordmsg_reply_error(r->cookie, COORD_E_NO_QUORUM, "no leader", buf,
						 len);
		else
			n = coordmsg_reply_ok(
			    r->cookie, coordmsg_tokens_result(F.tokens, F.n_tokens), buf, len);
		break;
	}
	case COORD_UNCLAIM:
		memcpy(F.unclaimed, r->args.claim_id, sizeof(F.unclaimed));
		n = coordmsg_reply_ok(r->cookie, json_object(), buf, len);
		break;
	case COORD_TOKEN_USE: {
		struct coord_token_use u = {0};
		if (!F.token_use_result || !F.token_use_result[0]) {
			n = coordmsg_reply_error(r->cookie, COORD_E_NO_QUORUM, "no leader", buf,
						 len);
			break;
		}
		snprintf(u.result, sizeof(u.result), "%s", F.token_use_result);
		n = coordmsg_reply_ok(r->cookie, coordmsg_token_use_result(&u), buf, len);
		break;
	}
	case COORD_WAIT: {
		bool changed = F.revision > r->args.since;
		uint64_t rev = F.revision;
		pthread_mutex_unlock(&F.lock);
		if (!changed)
			sleep_ms(100);
		pthread_mutex_lock(&F.lock);
		n = coordmsg_reply_ok(
		    r->cookie,
		    json_pack("{s:I, s:b}", "revision", (json_int_t)rev, "changed", changed), buf,
		    len);
		break;
	}
	default:
		n = coordmsg_reply_ok(r->cookie, json_object(), buf, len);
	}
	pthread_mutex_unlock(&F.lock);
	return n;
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[COORD_MSG_MAX + 1], why[128];
	for (;;) {
		ssize_t got = recv(fd, buf, COORD_MSG_MAX, 0);
		if (got <= 0)
			break;
		struct coord_request r;
		if (coordmsg_request_parse(buf, (size_t)got, &r, why, sizeof(why)) < 0) {
			fprintf(stderr, "fake coordd: bad request: %s\n", why);
			break;
		}
		pthread_mutex_lock(&F.lock);
		bool hang_up = r.op == COORD_CLAIM && F.claim_hangup_first > 0;
		if (hang_up) {
			F.claim_hangup_first--;
			if (F.n_claim_ids < 16)
				memcpy(F.claim_ids[F.n_claim_ids++], r.args.claim_id, 33);
		}
		pthread_mutex_unlock(&F.lock);
		if (hang_up)
			break; /* as a coordd killed after it read the request */
		int n = answer(&r, buf, sizeof(buf));
		if (n < 0 || send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static void *accept_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(F.listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_t t;
		if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}

static void fake_start(void)
{
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.lock, NULL);
	strcpy(F.dir, "/tmp/pks-ledger-coord.XXXXXX");
	CHECK(mkdtemp(F.dir) != NULL);
	snprintf(F.path, sizeof(F.path), "%s/coord.sock", F.dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.path);
	F.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(bind(F.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(F.listen_fd, 64) == 0);
	CHECK(pthread_create(&F.thread, NULL, accept_main, NULL) == 0);
}

static void fake_stop(void)
{
	shutdown(F.listen_fd, SHUT_RDWR);
	close(F.listen_fd);
	pthread_join(F.thread, NULL);
	unlink(F.path);
	rmdir(F.dir);
	sleep_ms(150); /* connection threads see their peers gone */
}

static int fake_count(enum coord_op op)
{
	pthread_mutex_lock(&F.lock);
	int n = F.n[op];
	pthread_mutex_unlock(&F.lock);
	return n;
}

static void open_ledger(struct ledger *l, const char *path)
{
	struct ledger_coord_config cfg = {
	    .socket = path, .node = "node-1", .peer_address = "127.0.0.1:9443", .serving_pin = ""};
	CHECK(ledger_coord_open(l, &cfg) == 0);
	CHECK(ledger_coord_start(l) == 0);
}

static struct ledger_claimant who = {
    .client = "node-2", .cert = "", .source = "client-ca", .peer = "127.0.0.1:5000"};

static void claim_granted_by_etcd_is_a_slot_and_logged(void)
{
	struct ledger l;
	struct ledger_claim c;
	struct store_fetch_record rec[4];
	fake_start();
	open_ledger(&l, F.path);
	struct ledger_bundle b = {.id = ID_A, .key_id = KEY_A, .sha256 = "", .max_fetches = 3};
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	char sha[65];
	memset(sha, 'c', 64);
	sha[64] = 0;
	b.sha256 = sha;
	CHECK(l.ops->announce(&l, &b, replaced) == 0);
	CHECK(l.ops->claim_waits(&l));
	CHECK(l.ops->claim(&l, ID_A, &who, &c) == 0);
	CHECK(c.result == LEDGER_CLAIM_OK && c.fetch_no == 1 && !c.repeat);
	CHECK(l.ops->fetch_log(&l, rec, 4) == 1 && !strcmp(rec[0].client, "node-2"));
	l.ops->done(&l);
	fake_stop();
}

static void unknown_outcome_is_asked_again_with_the_same_claim_id(void)
{
	struct ledger l;
	struct ledger_claim c;
	fake_start();
	F.claim_fail_first = 2;
	open_ledger(&l, F.path);
	CHECK(l.ops->claim(&l, ID_A, &who, &c) == 0);
	CHECK(c.result == LEDGER_CLAIM_OK);
	CHECK(F.n_claim_ids == 3);
	CHECK(!strcmp(F.claim_ids[0], F.claim_ids[1]) && !strcmp(F.claim_ids[1], F.claim_ids[2]));
	/* coordd hung up after reading the claim (killed): asked again, the same id. */
	F.claim_hangup_first = 1;
	F.n_claim_ids = 0;
	CHECK(l.ops->claim(&l, ID_A, &who, &c) == 0 && c.result == LEDGER_CLAIM_OK);
	CHECK(F.n_claim_ids == 2 && !strcmp(F.claim_ids[0], F.claim_ids[1]));
	/* The next claim is another claim: another id. */
	CHECK(l.ops->claim(&l, ID_A, &who, &c) == 0);
	CHECK(F.n_claim_ids == 3 && strcmp(F.claim_ids[2], F.claim_ids[0]) != 0);
	l.ops->done(&l);
	fake_stop();
}

/* A claim whose answers were all lost may have taken a slot no client gets: given back
 * (unclaim, the same claim id) once coordd answers; a refusal takes nothing to give. */
static void a_lost_claim_is_given_back(void)
{
	struct ledger l;
	struct ledger_claim c;
	fake_start();
	F.claim_fail_first = 1000;
	open_ledger(&l, F.path);
	CHECK(l.ops->claim(&l, ID_A, &who, &c) < 0);
	for (int i = 0; i < 100 && fake_count(COORD_UNCLAIM) == 0; i++)
		sleep_ms(20);
	CHECK(fake_count(COORD_UNCLAIM) == 1);
	CHECK(F.n_claim_ids > 0 && !strcmp(F.unclaimed, F.claim_ids[0]));
	/* A claim refused outright (no quorum: nothing applied) gives nothing back. */
	F.claim_fail_first = 0;
	F.claim_always_fail = true;
	F.claim_err = COORD_E_NO_QUORUM;
	CHECK(l.ops->claim(&l, ID_A, &who, &c) < 0);
	sleep_ms(300);
	CHECK(fake_count(COORD_UNCLAIM) == 1);
	/* A slot served to nobody (the client left) goes back too. */
	F.claim_always_fail = false;
	CHECK(l.ops->claim(&l, ID_A, &who, &c) == 0 && c.result == LEDGER_CLAIM_OK);
	CHECK(l.ops->release(&l, ID_A, &who, &c) == 0);
	for (int i = 0; i < 100 && fake_count(COORD_UNCLAIM) < 2; i++)
		sleep_ms(20);
	CHECK(fake_count(COORD_UNCLAIM) == 2 && !strcmp(F.unclaimed, c.claim_id));
	l.ops->done(&l);
	fake_stop();
}

/* After a failed call, and until one succeeds, claims are refused at once for a second
 * (no budget spent again, coordd spared); then asked again. */
static void claims_refused_at_once_right_after_a_failure(void)
{
	struct ledger l;
	struct ledger_claim c;
	fake_start();
	open_ledger(&l, F.path);
	for (int i = 0; i < 100 && fake_count(COORD_WAIT) == 0; i++)
		sleep_ms(20);
	F.view_fail = true;
	F.claim_always_fail = true;
	F.claim_err = COORD_E_NO_QUORUM;
	CHECK(l.ops->claim(&l, ID_A, &who, &c) < 0);
	int asked = fake_count(COORD_CLAIM);
	CHECK(l.ops->claim(&l, ID_A, &who, &c) == -ENOLINK);
	CHECK(fake_count(COORD_CLAIM) == asked);
	sleep_ms(1200);
	CHECK(l.ops->claim(&l, ID_A, &who, &c) < 0);
	CHECK(fake_count(COORD_CLAIM) == asked + 1);
	/* Back: the thread's next view clears the failure, and claims go through. */
	F.view_fail = false;
	F.claim_always_fail = false;
	for (int i = 0; i < 150 && l.ops->claim(&l, ID_A, &who, &c) < 0; i++)
		sleep_ms(20);
	CHECK(c.result == LEDGER_CLAIM_OK);
	l.ops->done(&l);
	fake_stop();
}

static void claim_etcd_did_not_grant_is_never_a_slot(void)
{
	static const enum coord_error errs[] = {COORD_E_NO_QUORUM, COORD_E_UNREACHABLE,
						COORD_E_TIMEOUT, COORD_E_DENIED, COORD_E_INTERNAL};
	struct ledger l;
	struct ledger_claim c;
	fake_start();
	open_ledger(&l, F.path);
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		F.claim_always_fail = true;
		F.claim_err = errs[i];
		int r = l.ops->claim(&l, ID_A, &who, &c);
		CHECK(r < 0);
		CHECK(c.result != LEDGER_CLAIM_OK || r < 0);
	}
	l.ops->done(&l);
	fake_stop();
	/* No coordd at all: refused, at once. */
	open_ledger(&l, "/nonexistent/coord.sock");
	CHECK(l.ops->claim(&l, ID_A, &who, &c) < 0);
	struct ledger_coord_state st;
	l.ops->state(&l, &st);
	CHECK(st.on && !st.reachable && strstr(st.error, "cannot reach pkishare-coordd") != NULL);
	l.ops->done(&l);
}

static void announce_refusals_keep_their_meaning(void)
{
	struct ledger l;
	char replaced[BUNDLE_ID_HEX_LEN + 1], sha[65];
	memset(sha, 'c', 64);
	sha[64] = 0;
	struct ledger_bundle b = {.id = ID_A, .key_id = KEY_A, .sha256 = sha};
	fake_start();
	open_ledger(&l, F.path);
	F.announce_fail = true;
	F.announce_err = COORD_E_KEY_REUSED;
	CHECK(l.ops->announce(&l, &b, replaced) == -EEXIST);
	F.announce_err = COORD_E_DROPS_EXTERNAL;
	CHECK(l.ops->announce(&l, &b, replaced) == -EXDEV);
	F.announce_err = COORD_E_NO_QUORUM;
	CHECK(l.ops->announce(&l, &b, replaced) == -ENOLINK);
	struct ledger_view v;
	l.ops->view(&l, &v);
	CHECK(!v.current);
	l.ops->done(&l);
	fake_stop();
}

static void retire_answers_at_once_and_is_retried_until_taken(void)
{
	struct ledger l;
	struct ledger_view v;
	fake_start();
	F.current_a = true;
	F.retire_fail_first = 2;
	open_ledger(&l, F.path);
	for (int i = 0; i < 100 && (l.ops->view(&l, &v), !v.current); i++)
		sleep_ms(20);
	CHECK(v.current && !strcmp(v.id, ID_A));
	CHECK(l.ops->retire(&l, ID_A, STORE_GONE_DELETED) == 0);
	l.ops->view(&l, &v);
	CHECK(!v.current && v.gone == STORE_GONE_DELETED && !strcmp(v.gone_id, ID_A));
	CHECK(l.ops->flush(&l, 10000) == 0);
	CHECK(fake_count(COORD_RETIRE) == 3);
	/* etcd never takes it: flush says so, and the write stays queued. */
	F.retire_always_fail = true;
	CHECK(l.ops->retire(&l, ID_B, STORE_GONE_DELETED) == 0);
	CHECK(l.ops->flush(&l, 1500) == -ENOLINK);
	struct ledger_coord_state st;
	l.ops->state(&l, &st);
	CHECK(st.pending == 1 && st.error[0]);
	l.ops->done(&l);
	fake_stop();
}

static atomic_int changes;
static void on_change(void *arg)
{
	(void)arg;
	atomic_fetch_add(&changes, 1);
}

static void a_view_across_a_write_never_takes_the_mirror_back(void)
{
	struct ledger l;
	struct ledger_view v;
	char replaced[BUNDLE_ID_HEX_LEN + 1], sha[65];
	memset(sha, 'c', 64);
	sha[64] = 0;
	fake_start();
	open_ledger(&l, F.path);
	l.ops->watch(&l, on_change, NULL);
	for (int i = 0; i < 100 && fake_count(COORD_WAIT) == 0; i++)
		sleep_ms(20);
	/* Every view from now on takes 300 ms and says what the cluster said when asked. */
	F.view_delay_ms = 300;
	pthread_mutex_lock(&F.lock);
	F.revision++; /* another node's change: the watcher reads the view (none yet) */
	pthread_mutex_unlock(&F.lock);
	for (int i = 0; i < 100 && fake_count(COORD_VIEW) < 2; i++)
		sleep_ms(10);
	sleep_ms(50);
	struct ledger_bundle b = {.id = ID_A, .key_id = KEY_A, .sha256 = sha};
	CHECK(l.ops->announce(&l, &b, replaced) == 0);
	bool always = true;
	for (int i = 0; i < 80; i++) {
		l.ops->view(&l, &v);
		always &= v.current && !strcmp(v.id, ID_A);
		sleep_ms(10);
	}
	CHECK(always);
	CHECK(atomic_load(&changes) > 0);
	l.ops->done(&l);
	fake_stop();
}

static void another_nodes_change_reaches_the_watcher(void)
{
	struct ledger l;
	struct ledger_view v;
	fake_start();
	open_ledger(&l, F.path);
	l.ops->watch(&l, on_change, NULL);
	for (int i = 0; i < 100 && fake_count(COORD_WAIT) == 0; i++)
		sleep_ms(20);
	int before = atomic_load(&changes);
	pthread_mutex_lock(&F.lock);
	F.current_a = true;
	F.revision++;
	pthread_mutex_unlock(&F.lock);
	for (int i = 0; i < 100 && (l.ops->view(&l, &v), !v.current); i++)
		sleep_ms(20);
	CHECK(v.current && !strcmp(v.id, ID_A));
	CHECK(atomic_load(&changes) > before);
	l.ops->done(&l);
	fake_stop();
}

/* Join tokens: checked against the mirror (no wait), spent by a round trip; etcd's
 * answers keep their meaning, and no answer is never a use. */
static void tokens_checked_from_the_mirror_and_spent_in_etcd(void)
{
	struct ledger l;
	uint8_t hash[TOKEN_HASH_BYTES], other[TOKEN_HASH_BYTES];
	int64_t at = 0;
	char client[64] = "";
	bool expired = false;
	memset(hash, 0x11, sizeof(hash));
	memset(other, 0x22, sizeof(other));
	fake_start();
	struct coord_token *t = F.tokens;
	strcpy(t[0].id, "abc123");
	for (size_t i = 0; i < TOKEN_HASH_BYTES; i++)
		snprintf(t[0].secret_hash + 2 * i, 3, "%02x", hash[i]);
	t[0].expires_at = time(NULL) + 3600;
	t[0].uses = 2;
	t[0].used = 1;
	t[1] = t[0];
	strcpy(t[1].id, "old999");
	t[1].expires_at = time(NULL) - 10;
	F.n_tokens = 2;
	open_ledger(&l, F.path);
	struct ledger_token lt[4];
	for (int i = 0; i < 100 && l.ops->token_list(&l, lt, 4) == 0; i++)
		sleep_ms(20);
	/* Only the one that can still be used is listed. */
	CHECK(l.ops->token_list(&l, lt, 4) == 1 && !strcmp(lt[0].id, "abc123") &&
	      lt[0].uses_left == 1);
	CHECK(l.ops->token_check(&l, "abc123", hash, &at, client, sizeof(client), &expired) == 0);
	CHECK(l.ops->token_check(&l, "abc123", other, &at, client, sizeof(client), &expired) ==
	      -EACCES);
	CHECK(l.ops->token_check(&l, "nosuch", hash, &at, client, sizeof(client), &expired) ==
	      -ENOENT);
	CHECK(l.ops->token_check(&l, "old999", hash, &at, client, sizeof(client), &expired) ==
		  -ETIMEDOUT &&
	      expired);
	F.token_use_result = "ok";
	CHECK(l.ops->token_use(&l, "abc123", hash, "cp-4") == 0);
	F.token_use_result = "spent";
	CHECK(l.ops->token_use(&l, "abc123", hash, "cp-5") == -ESTALE);
	F.token_use_result = "expired";
	CHECK(l.ops->token_use(&l, "abc123", hash, "cp-5") == -ETIMEDOUT);
	F.token_use_result = "unknown";
	CHECK(l.ops->token_use(&l, "abc123", hash, "cp-5") == -ENOENT);
	F.token_use_result = "";
	CHECK(l.ops->token_use(&l, "abc123", hash, "cp-5") == -ENOLINK);
	l.ops->done(&l);
	fake_stop();
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct ledger *refresh_l;
static int64_t refresh_since;
static atomic_int refresh_ok;

static void *refresh_main(void *arg)
{
	(void)arg;
	if (refresh_l->ops->token_refresh(refresh_l, refresh_since) == 0)
		atomic_fetch_add(&refresh_ok, 1);
	return NULL;
}

/* A token made on another node an instant ago (no change seen here yet) is heard of on
 * asking: callers that wait together share one reading, one heard since is not read
 * again, and coordination not answering is -ENOLINK, never "no such token". */
static void a_token_made_elsewhere_is_heard_of_on_asking(void)
{
	struct ledger l;
	uint8_t hash[TOKEN_HASH_BYTES];
	int64_t at = 0;
	char client[64] = "";
	bool expired = false;
	memset(hash, 0x33, sizeof(hash));
	fake_start();
	open_ledger(&l, F.path);
	for (int i = 0; i < 100 && fake_count(COORD_TOKENS) == 0; i++)
		sleep_ms(20);
	sleep_ms(50); /* the thread's first reading landed */
	/* Made elsewhere: in the cluster's list, no revision change for the watch. */
	pthread_mutex_lock(&F.lock);
	struct coord_token *t = F.tokens;
	strcpy(t[0].id, "new123");
	for (size_t i = 0; i < TOKEN_HASH_BYTES; i++)
		snprintf(t[0].secret_hash + 2 * i, 3, "%02x", hash[i]);
	t[0].expires_at = time(NULL) + 3600;
	t[0].uses = 1;
	F.n_tokens = 1;
	F.tokens_delay_ms = 150;
	int reads0 = F.n[COORD_TOKENS];
	pthread_mutex_unlock(&F.lock);
	CHECK(l.ops->token_check(&l, "new123", hash, &at, client, sizeof(client), &expired) ==
	      -ENOENT);
	/* Four enrollments at once: one reading (it began after they asked) serves them. */
	refresh_l = &l;
	refresh_since = mono_ms();
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, refresh_main, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(atomic_load(&refresh_ok) == 4);
	int reads1 = fake_count(COORD_TOKENS);
	CHECK(reads1 - reads0 == 1);
	CHECK(l.ops->token_check(&l, "new123", hash, &at, client, sizeof(client), &expired) == 0);
	/* Heard of since: not read again. */
	CHECK(l.ops->token_refresh(&l, refresh_since) == 0);
	pthread_mutex_lock(&F.lock);
	CHECK(F.n[COORD_TOKENS] == reads1);
	F.tokens_delay_ms = 0;
	F.tokens_fail = true;
	pthread_mutex_unlock(&F.lock);
	/* Coordination silent: not answered "unknown"; the mirror kept. */
	CHECK(l.ops->token_refresh(&l, mono_ms()) == -ENOLINK);
	CHECK(l.ops->token_check(&l, "new123", hash, &at, client, sizeof(client), &expired) == 0);
	/* ... and callers waiting together for a reading that fails share its failure: one
	 * reading, not one each, each waiting out its own timeout. */
	pthread_mutex_lock(&F.lock);
	F.tokens_delay_ms = 150;
	pthread_mutex_unlock(&F.lock);
	sleep_ms(250); /* past the last reading's window */
	int reads2 = fake_count(COORD_TOKENS);
	atomic_store(&refresh_ok, 0);
	refresh_since = mono_ms();
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, refresh_main, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(atomic_load(&refresh_ok) == 0);
	CHECK(fake_count(COORD_TOKENS) - reads2 == 1);
	l.ops->done(&l);
	fake_stop();
}

static const struct test_case cases[] = {
    TEST(a_token_made_elsewhere_is_heard_of_on_asking),
    TEST(tokens_checked_from_the_mirror_and_spent_in_etcd),
    TEST(claim_granted_by_etcd_is_a_slot_and_logged),
    TEST(unknown_outcome_is_asked_again_with_the_same_claim_id),
    TEST(claim_etcd_did_not_grant_is_never_a_slot),
    TEST(a_lost_claim_is_given_back),
    TEST(claims_refused_at_once_right_after_a_failure),
    TEST(announce_refusals_keep_their_meaning),
    TEST(retire_answers_at_once_and_is_retried_until_taken),
    TEST(a_view_across_a_write_never_takes_the_mirror_back),
    TEST(another_nodes_change_reaches_the_watcher),
};

int main(void)
{
	secret_init();
	return test_run("ledger-coord", cases, TEST_ELEMENTS(cases));
}
