/* ledger-coord.c - the ledger over pkishare-coordd (ledger.h; proto/coord.md): etcd decides,
 * for metadata only, through the helper that alone holds the etcd credential. This process
 * speaks to coordd over its unix socket only (its unit keeps PrivateNetwork=yes).
 *
 * What waits and what does not:
 * - announce and claim are round trips (claim_waits is true): store.c calls them without
 *   its lock, and the serving side claims off its thread (serve/fetchq.c).
 * - retire never waits: the mirror changes at once and the write is queued for this
 *   ledger's thread, which retries it until etcd answers; flush waits for the queue.
 * - view, fetch_log and the coordination state read the mirror: what etcd said last,
 *   kept by the thread, which long-polls coordd's `wait` (one watch of the prefix) and
 *   reads the view again after every change. A view read while this node wrote is
 *   dropped and read again, so the mirror never goes back past a write of this node.
 * - the thread also registers this node as a holder of the bundle it holds (`hold`,
 *   under coordd's lease) and withdraws it (`release`).
 *
 * Must never serve a slot etcd did not grant: a claim that cannot be decided (coordd
 * down, no quorum, an unknown outcome asked again until the budget ran out) is an error,
 * never a slot. A claim asked again carries the same claim id, so it counts once. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "coordmsg.h"
#include "ledger.h"
#include "log.h"
#include "secret.h"
#include "testhook.h"
#include "util.h"

#define CALL_TIMEOUT_MS 5000
#define ANNOUNCE_TIMEOUT_MS 10000
#define CLAIM_BUDGET_MS 4000 /* a fetch's claim, every try included */
#define CLAIM_RETRY_PAUSE_MS 100
#define CLAIM_TRIP_MS 1000 /* after a failed claim, others refused at once this long */
#define WAIT_MS 25000	   /* one long poll of coordd's `wait` */
#define RETRY_MS 1000	   /* after a failed call, before the thread tries again */
#define MAX_PENDING 16
#define TOKENS_READ_EVERY_MS 200 /* token_refresh: readings begin at most this often */

/* A write for the thread to make, retried until etcd answers. */
struct pending {
	bool unclaim; /* give back claim_id's slot; else retire id for why */
	char id[BUNDLE_ID_HEX_LEN + 1];
	enum store_gone why;
	char claim_id[33];
};

struct coord {
	pthread_mutex_t lock;
	pthread_cond_t done; /* the queue emptied, or a write of it failed */
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char node[COORD_TEXT_MAX + 1];
	char peer_address[COORD_TEXT_MAX + 1];
	char serving_pin[80];

	/* The mirror: what etcd said last. */
	bool synced;	   /* a view was read */
	uint64_t revision; /* of that view */
	uint64_t gen; /* bumped by every write of this node: a view read across one is dropped */
	struct coord_view view;
	struct coord_holder holders[COORD_HOLDERS_MAX];
	size_t n_holders;
	char holders_id[BUNDLE_ID_HEX_LEN + 1];	      /* the bundle the holders list is of */
	struct coord_holder peers[COORD_HOLDERS_MAX]; /* the registered nodes */
	size_t n_peers;
	struct coord_token tokens[COORD_TOKENS_MAX]; /* the cluster's join tokens (hashes) */
	size_t n_tokens;
	/* When the reading the token mirror holds began (monotonic): an older reading that
	 * lands later (the thread's, a refresh's) does not undo a newer one. */
	int64_t tokens_from_ms;
	/* token_refresh's readings: one at a time, begun at most every TOKENS_READ_EVERY_MS. */
	pthread_cond_t tokens_read;
	bool tokens_reading;
	int64_t tokens_begun_ms;
	int64_t tokens_failed_ms; /* when the last reading that failed began (0: none) */
	bool registered; /* this node's nodes/NODE record was written (since coordd answered) */
	bool alone;	 /* registered, and no other node is: said once in the log */
	bool reachable;
	char error[COORD_MESSAGE_MAX]; /* the last failure, "" after a success */
	int64_t error_at;
	int64_t claim_failed_ms; /* monotonic: when a claim last failed (0: since a success) */

	/* The current bundle as it was before this node's claim used it up (for release). */
	struct coord_args used_up;
	uint64_t used_up_fetches;

	/* This node's fetches of the current bundle (the cluster's count is view.fetches). */
	char log_id[BUNDLE_ID_HEX_LEN + 1];
	struct store_fetch_record log[STORE_MAX_FETCH_LOG];
	size_t n_log;

	/* Work for the thread. */
	struct pending pend[MAX_PENDING];
	size_t n_pend;
	bool write_failed;		       /* the queue's head failed last time */
	char hold_want[BUNDLE_ID_HEX_LEN + 1]; /* the bundle this node holds ("" none) */
	char hold_have[BUNDLE_ID_HEX_LEN + 1]; /* ... as registered in etcd */
	bool dirty;			       /* read the view again */
	bool stop;
	int wake_fd;
	pthread_t thread;
	bool running;
	void (*changed)(void *arg);
	void *changed_arg;
};

/* Wipe and free a heap copy (token hashes). */
static void wipe_free(void *p, size_t n)
{
	if (p) {
		secret_wipe(p, n);
		free(p);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct coord *c)
{
	uint64_t one = 1;
	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the thread wakes anyway. */
	}
}

/* Lock held: remember a failure for status and the log (once per change). */
static void failed_locked(struct coord *c, const char *what, const char *why)
{
	char buf[COORD_MESSAGE_MAX];
	str_format(buf, sizeof(buf), "%s: %s", what, why);
	if (strcmp(buf, c->error) != 0)
		log_msg(LOG_WARNING, "coordination: %s", buf);
	str_copy(c->error, sizeof(c->error), buf);
	c->error_at = time_now();
	/* The thread looks again now (its long poll may be parked in a coordd that still
	 * answers): it retries every second, so the error goes as soon as a call works. */
	c->dirty = true;
	wake(c);
}

static void succeeded_locked(struct coord *c)
{
	if (c->error[0])
		log_msg(LOG_NOTICE, "coordination: pkishare-coordd and etcd answer again");
	c->error[0] = 0;
	c->reachable = true;
	c->claim_failed_ms = 0;
}

/* A reason the protocol gives as this ledger's error: the caller's refusals keep their
 * meaning (ledger.h), everything else is "coordination unavailable". */
static int reply_errno(enum coord_error e)
{
	switch (e) {
	case COORD_E_KEY_REUSED:
		return -EEXIST;
	case COORD_E_DROPS_EXTERNAL:
		return -EXDEV;
	case COORD_E_NOT_CURRENT:
		return -ENOENT;
	case COORD_E_TIMEOUT:
	case COORD_E_UNKNOWN_OUTCOME:
		return -ETIMEDOUT; /* asked again with the same ids, it answers the same */
	default:
		return -ENOLINK;
	}
}

/* One call to coordd on a connection of its own: 0 with *ret_result (json_decref it), or
 * <0 with why (printable). A connection per call keeps a late reply from ever meeting
 * another call. interrupt: also give up (-EINTR) when the thread is woken. */
static int call_fd(struct coord *c, enum coord_op op, const struct coord_args *args, int timeout_ms,
		   bool interrupt, json_t **ret_result, int *ret_fd, char *why, size_t why_len)
{
	struct coord_request req = {.op = op, .timeout_ms = timeout_ms, .args = *args};
	uint8_t raw[COORD_COOKIE_LEN / 2];
	char buf[COORD_MSG_MAX + 1];
	int fd = -1, r;

	*ret_result = NULL;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(req.cookie, sizeof(req.cookie), raw, sizeof(raw));
	int len = coordmsg_request_build(&req, buf, sizeof(buf));
	if (len < 0) {
		snprintf(why, why_len, "a field outside its form in %s", coord_op_name(op));
		return -EINVAL;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	str_copy(sa.sun_path, sizeof(sa.sun_path), c->socket);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot reach pkishare-coordd at %s: %s", c->socket,
			 strerror(-r));
		goto out;
	}
	if (send(fd, buf, (size_t)len, MSG_NOSIGNAL) != len) {
		r = -errno;
		snprintf(why, why_len, "cannot send to pkishare-coordd: %s", strerror(-r));
		goto out;
	}
	/* coordd answers by its own deadline; a little more for the trip back. */
	int64_t deadline = now_ms() + timeout_ms + 1000;
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = c->wake_fd, .events = POLLIN}};
		if (left <= 0) {
			r = -ETIMEDOUT;
			snprintf(why, why_len, "pkishare-coordd did not answer %s in time",
				 coord_op_name(op));
			goto out;
		}
		int n = poll(p, interrupt ? 2 : 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (interrupt && n > 0 && (p[1].revents & POLLIN)) {
			r = -EINTR;
			snprintf(why, why_len, "interrupted");
			goto out;
		}
		if (n <= 0)
			continue;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		ssize_t got = recvmsg(fd, &mh, MSG_TRUNC | MSG_CMSG_CLOEXEC);
		struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			int passed;
			memcpy(&passed, CMSG_DATA(cm), sizeof(int));
			/* Only connect passes one, and only the call that asked keeps it. */
			if (ret_fd && *ret_fd < 0)
				*ret_fd = passed;
			else
				close(passed);
		}
		if (got <= 0 || (size_t)got > COORD_MSG_MAX) {
			/* The request went out: whether coordd acted on it is unknown (a
			 * claim is asked again with the same id, and given back if never
			 * answered). */
			r = -ETIMEDOUT;
			snprintf(why, why_len,
				 "pkishare-coordd %s after the request was sent (its outcome is "
				 "unknown)",
				 got == 0 ? "hung up" : "failed");
			goto out;
		}
		struct coord_reply rep = {0};
		r = coordmsg_reply_parse(buf, (size_t)got, req.cookie, &rep);
		if (r == -ESTALE)
			continue;
		if (r < 0) {
			snprintf(why, why_len, "a malformed reply from pkishare-coordd");
			r = -EPROTO;
			goto out;
		}
		if (!rep.ok) {
			str_format(why, why_len, "%s (%s)", rep.message,
				   coord_error_name(rep.error));
			r = reply_errno(rep.error);
			goto out;
		}
		*ret_result = rep.result;
		r = 0;
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && ret_fd && *ret_fd >= 0) {
		close(*ret_fd);
		*ret_fd = -1;
	}
	secret_wipe(buf, sizeof(buf));
	secret_wipe(&req, sizeof(req)); /* a copy of the arguments: a token's hash */
	return r;
}

static int call(struct coord *c, enum coord_op op, const struct coord_args *args, int timeout_ms,
		bool interrupt, json_t **ret_result, char *why, size_t why_len)
{
	return call_fd(c, op, args, timeout_ms, interrupt, ret_result, NULL, why, why_len);
}

static enum store_gone gone_parse(const char *reason)
{
	static const struct {
		const char *name;
		enum store_gone g;
	} map[] = {
	    {"expired", STORE_GONE_EXPIRED}, {"deleted", STORE_GONE_DELETED},
	    {"used-up", STORE_GONE_USED_UP}, {"replaced", STORE_GONE_REPLACED},
	    {"lost", STORE_GONE_LOST},
	};
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (!strcmp(reason, map[i].name))
			return map[i].g;
	return STORE_GONE_NEVER;
}

static const char *gone_reason(enum store_gone g)
{
	switch (g) {
	case STORE_GONE_EXPIRED:
		return "expired";
	case STORE_GONE_DELETED:
		return "deleted";
	default:
		return "lost";
	}
}

/* Lock held: a write for the thread (p's kind and why; id and claim_id given apart). */
static void queue_locked(struct coord *c, const struct pending *p, const char *id,
			 const char *claim_id)
{
	if (c->n_pend >= MAX_PENDING) {
		log_msg(LOG_WARNING,
			"coordination: %d writes wait for etcd; %s of bundle %s dropped",
			MAX_PENDING, p->unclaim ? "an unclaim" : "a retire", id);
		return;
	}
	struct pending *q = &c->pend[c->n_pend++];
	*q = *p;
	str_copy(q->id, sizeof(q->id), id);
	str_copy(q->claim_id, sizeof(q->claim_id), claim_id ? claim_id : "");
	wake(c);
}

/* Lock held: the mirror's current bundle went, for why (a write of this node). */
static void mirror_gone_locked(struct coord *c, const char *id, const char *reason)
{
	if (c->view.has_current && !strcmp(c->view.current.id, id))
		c->view.has_current = false;
	str_copy(c->view.gone.reason, sizeof(c->view.gone.reason), reason);
	str_copy(c->view.gone.id, sizeof(c->view.gone.id), id);
	c->view.gone.at = time_now();
	c->gen++;
}

static int coord_announce(struct ledger *l, const struct ledger_bundle *b,
			  char ret_replaced[BUNDLE_ID_HEX_LEN + 1])
{
	struct coord *c = l->state;
	struct coord_args a = {.bytes = b->bytes,
			       .expires_at = b->expires_at,
			       .max_fetches = b->max_fetches,
			       .has_external = b->has_external,
			       .allow_drop_external = b->allow_drop_external};
	char why[COORD_MESSAGE_MAX];
	const char *replaced = "";
	json_t *res = NULL;

	ret_replaced[0] = 0;
	str_copy(a.id, sizeof(a.id), b->id);
	str_copy(a.key_id, sizeof(a.key_id), b->key_id);
	str_copy(a.sha256, sizeof(a.sha256), b->sha256);
	str_copy(a.origin, sizeof(a.origin), c->node);
	int r = call(c, COORD_ANNOUNCE, &a, ANNOUNCE_TIMEOUT_MS, false, &res, why, sizeof(why));
	pthread_mutex_lock(&c->lock);
	if (r == -EEXIST || r == -EXDEV) {
		succeeded_locked(c); /* etcd answered: a refusal, not a failure */
	} else if (r < 0) {
		failed_locked(c, "announce", why);
		r = -ENOLINK;
	} else {
		succeeded_locked(c);
		if (json_unpack(res, "{s:s}", "replaced", &replaced) != 0 ||
		    (replaced[0] && !str_is_lower_hex(replaced, BUNDLE_ID_HEX_LEN)))
			replaced = "";
		str_copy(ret_replaced, BUNDLE_ID_HEX_LEN + 1, replaced);
		if (replaced[0])
			mirror_gone_locked(c, replaced, "replaced");
		c->view.has_current = true;
		c->view.current = a;
		c->view.fetches = 0;
		c->n_holders = 0; /* of the new bundle: none known yet */
		str_copy(c->holders_id, sizeof(c->holders_id), b->id);
		c->view.key_ids++;
		str_copy(c->log_id, sizeof(c->log_id), b->id);
		c->n_log = 0;
		c->gen++;
		c->dirty = true;
		wake(c);
	}
	pthread_mutex_unlock(&c->lock);
	json_decref(res);
	return r;
}

/* Lock held: this node served fetch no of bundle id to who. */
static void log_append_locked(struct coord *c, const char *id, const struct ledger_claimant *who)
{
	if (strcmp(c->log_id, id) != 0) {
		str_copy(c->log_id, sizeof(c->log_id), id);
		c->n_log = 0;
	}
	if (c->n_log >= STORE_MAX_FETCH_LOG)
		return;
	struct store_fetch_record *f = &c->log[c->n_log++];
	f->at = time_now();
	str_copy(f->client, sizeof(f->client), who->client);
	str_copy(f->cert, sizeof(f->cert), who->cert ? who->cert : "");
	str_copy(f->source, sizeof(f->source), who->source);
	str_copy(f->peer, sizeof(f->peer), who->peer);
}

static int coord_claim(struct ledger *l, const char *id, const struct ledger_claimant *who,
		       struct ledger_claim *ret)
{
	struct coord *c = l->state;
	struct coord_args a = {0};
	uint8_t raw[16];
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	/* A claim failed in the last second, and no call succeeded since: refused at once,
	 * not after another budget: fetches queued behind one that waited are answered in
	 * milliseconds, and coordd is spared. */
	pthread_mutex_lock(&c->lock);
	bool tripped = c->claim_failed_ms && now_ms() - c->claim_failed_ms < CLAIM_TRIP_MS;
	pthread_mutex_unlock(&c->lock);
	if (tripped)
		return -ENOLINK;
	str_copy(a.id, sizeof(a.id), id);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(a.claim_id, sizeof(a.claim_id), raw, sizeof(raw));
	str_copy(a.client, sizeof(a.client), who->client);
	str_copy(a.cert, sizeof(a.cert), who->cert ? who->cert : "");
	str_copy(a.source, sizeof(a.source), who->source);
	str_copy(a.peer, sizeof(a.peer), who->peer);
	/* An unknown outcome is asked again with the same claim id until the budget runs
	 * out: the slot, if it was taken, is found again, never taken twice. */
	int64_t until = now_ms() + CLAIM_BUDGET_MS;
	bool unknown = false;
	for (;;) {
		int64_t left = until - now_ms();
		r = call(c, COORD_CLAIM, &a, left > 500 ? (int)left : 500, false, &res, why,
			 sizeof(why));
		unknown |= r == -ETIMEDOUT;
		if (r != -ETIMEDOUT || until - now_ms() < 300)
			break;
		/* An answer "unknown" that came at once (coordd's own deadline passed in its
		 * queue): not asked again in a tight loop. */
		struct timespec pause = {.tv_nsec = CLAIM_RETRY_PAUSE_MS * 1000000L};
		nanosleep(&pause, NULL);
	}
	struct coord_claim_result cr = {0};
	if (r == 0 && coordmsg_claim_result_parse(res, &cr) < 0) {
		snprintf(why, sizeof(why), "a malformed claim result from pkishare-coordd");
		r = -EPROTO;
	}
	json_decref(res);
	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		failed_locked(c, "claim", why);
		c->claim_failed_ms = now_ms();
		/* A try whose answer was lost may have taken a slot that no client gets: it
		 * is given back (the same claim id) once etcd answers. */
		if (unknown)
			queue_locked(c, &(struct pending){.unclaim = true}, id, a.claim_id);
		pthread_mutex_unlock(&c->lock);
		return -ENOLINK;
	}
	succeeded_locked(c);
	if (!strcmp(cr.result, "ok")) {
		ret->result = LEDGER_CLAIM_OK;
		str_copy(ret->claim_id, sizeof(ret->claim_id), a.claim_id);
		ret->fetch_no = cr.fetch_no;
		ret->repeat = cr.repeat;
		ret->last = cr.last;
		if (!cr.repeat)
			log_append_locked(c, id, who);
		if (c->view.has_current && !strcmp(c->view.current.id, id) &&
		    cr.fetch_no > c->view.fetches)
			c->view.fetches = cr.fetch_no;
		if (cr.last && c->view.has_current && !strcmp(c->view.current.id, id)) {
			c->used_up = c->view.current;
			c->used_up_fetches = c->view.fetches;
		}
		if (cr.last)
			mirror_gone_locked(c, id, "used-up");
	} else if (!strcmp(cr.result, "other")) {
		ret->result = LEDGER_CLAIM_OTHER;
		str_copy(ret->current, sizeof(ret->current), cr.current);
		c->dirty = true;
		wake(c);
	} else {
		ret->result = LEDGER_CLAIM_GONE;
		ret->gone = gone_parse(cr.gone.reason);
		str_copy(ret->gone_id, sizeof(ret->gone_id), cr.gone.id[0] ? cr.gone.id : id);
		ret->gone_at = cr.gone.at;
		c->dirty = true;
		wake(c);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static bool coord_claim_waits(struct ledger *l)
{
	(void)l;
	return true;
}

/* A slot whose answer never reached its client goes back (coordd's unclaim, queued and
 * retried): the count goes down, and a claim that had used the bundle up makes it current
 * again, in this node's mirror at once (so its bytes are not wiped meanwhile). */
static int coord_release(struct ledger *l, const char *id, const struct ledger_claimant *who,
			 const struct ledger_claim *claim)
{
	struct coord *c = l->state;
	if (claim->result != LEDGER_CLAIM_OK || claim->repeat || !claim->claim_id[0])
		return 0;
	pthread_mutex_lock(&c->lock);
	if (claim->last && !c->view.has_current && !strcmp(c->view.gone.id, id) &&
	    !strcmp(c->used_up.id, id)) {
		c->view.has_current = true;
		c->view.current = c->used_up;
		c->view.fetches = c->used_up_fetches;
		memset(&c->view.gone, 0, sizeof(c->view.gone));
	}
	if (c->view.has_current && !strcmp(c->view.current.id, id) && c->view.fetches > 0 &&
	    !claim->last)
		c->view.fetches--;
	/* Its record in this node's fetch log goes too (the latest of that identity). */
	for (size_t i = c->n_log; !strcmp(c->log_id, id) && i-- > 0;)
		if (!strcmp(c->log[i].client, who->client) &&
		    !strcmp(c->log[i].source, who->source)) {
			memmove(&c->log[i], &c->log[i + 1], (c->n_log - i - 1) * sizeof(c->log[0]));
			c->n_log--;
			break;
		}
	c->gen++;
	queue_locked(c, &(struct pending){.unclaim = true}, id, claim->claim_id);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int coord_retire(struct ledger *l, const char *id, enum store_gone why)
{
	struct coord *c = l->state;
	pthread_mutex_lock(&c->lock);
	mirror_gone_locked(c, id, gone_reason(why));
	int r = c->n_pend < MAX_PENDING ? 0 : -ENOBUFS;
	queue_locked(c, &(struct pending){.why = why}, id, NULL);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int coord_flush(struct ledger *l, int timeout_ms)
{
	struct coord *c = l->state;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t until = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
	ts = (struct timespec){.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000L};
	pthread_mutex_lock(&c->lock);
	int r = 0;
	while (c->n_pend > 0 && r == 0)
		r = pthread_cond_timedwait(&c->done, &c->lock, &ts);
	r = c->n_pend == 0 ? 0 : -ENOLINK;
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int coord_key_id_seen(struct ledger *l, const char *key_id)
{
	(void)l, (void)key_id;
	return 0; /* etcd decides, atomically with the announce */
}

static void coord_view(struct ledger *l, struct ledger_view *ret)
{
	struct coord *c = l->state;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&c->lock);
	const struct coord_view *v = &c->view;
	ret->current = v->has_current;
	if (v->has_current) {
		str_copy(ret->id, sizeof(ret->id), v->current.id);
		str_copy(ret->key_id, sizeof(ret->key_id), v->current.key_id);
		ret->fetches = v->fetches;
		ret->max_fetches = v->current.max_fetches;
		ret->n_fetch_log = strcmp(c->log_id, v->current.id) ? 0 : c->n_log;
	}
	ret->gone = gone_parse(v->gone.reason);
	str_copy(ret->gone_id, sizeof(ret->gone_id), v->gone.id);
	ret->gone_at = v->gone.at;
	ret->n_seen = (size_t)v->key_ids;
	pthread_mutex_unlock(&c->lock);
}

static size_t coord_fetch_log(struct ledger *l, struct store_fetch_record *ret, size_t max)
{
	struct coord *c = l->state;
	pthread_mutex_lock(&c->lock);
	size_t n = 0;
	if (c->view.has_current && !strcmp(c->log_id, c->view.current.id))
		for (; n < c->n_log && n < max; n++)
			ret[n] = c->log[n];
	pthread_mutex_unlock(&c->lock);
	return n;
}

static size_t coord_key_ids(struct ledger *l, char (*ret)[KEY_ID_HEX_LEN + 1], size_t max)
{
	(void)l, (void)ret, (void)max;
	return 0; /* kept in etcd, for good: nothing for this node's kept state */
}

static int coord_load(struct ledger *l, const struct ledger_view *v,
		      const struct store_fetch_record *fetch_log,
		      const char (*key_ids)[KEY_ID_HEX_LEN + 1], size_t n_key_ids)
{
	struct coord *c = l->state;
	(void)fetch_log, (void)key_ids, (void)n_key_ids;
	/* The state is etcd's; a restored copy is checked there before it serves. A delete
	 * or an expiry this node had decided may not have reached etcd before it stopped:
	 * written again (if that bundle is no longer current there, nothing changes). */
	if ((v->gone == STORE_GONE_DELETED || v->gone == STORE_GONE_EXPIRED) &&
	    str_is_lower_hex(v->gone_id, BUNDLE_ID_HEX_LEN)) {
		pthread_mutex_lock(&c->lock);
		queue_locked(c, &(struct pending){.why = v->gone}, v->gone_id, NULL);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

static void coord_state(struct ledger *l, struct ledger_coord_state *ret)
{
	struct coord *c = l->state;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&c->lock);
	ret->on = true;
	ret->synced = c->synced;
	ret->reachable = c->reachable;
	ret->revision = c->revision;
	str_copy(ret->node, sizeof(ret->node), c->node);
	str_copy(ret->peer_address, sizeof(ret->peer_address), c->peer_address);
	str_copy(ret->error, sizeof(ret->error), c->error);
	ret->error_at = c->error_at;
	ret->pending = c->n_pend;
	if (c->view.has_current) {
		str_copy(ret->origin, sizeof(ret->origin), c->view.current.origin);
		ret->expires_at = c->view.current.expires_at;
		ret->bytes = c->view.current.bytes;
		str_copy(ret->sha256, sizeof(ret->sha256), c->view.current.sha256);
		str_copy(ret->current_id, sizeof(ret->current_id), c->view.current.id);
	}
	for (size_t i = 0; i < c->n_peers && ret->n_nodes < LEDGER_HOLDERS_MAX; i++)
		str_copy(ret->nodes[ret->n_nodes++], sizeof(ret->nodes[0]), c->peers[i].node);
	/* Only the holders of the current bundle: a list read before an announce is the
	 * previous bundle's. */
	bool of_current = c->view.has_current && !strcmp(c->holders_id, c->view.current.id);
	ret->n_holders = of_current ? c->n_holders : 0;
	for (size_t i = 0; i < ret->n_holders && i < LEDGER_HOLDERS_MAX; i++) {
		str_copy(ret->holders[i].node, sizeof(ret->holders[i].node), c->holders[i].node);
		str_copy(ret->holders[i].peer_address, sizeof(ret->holders[i].peer_address),
			 c->holders[i].peer_address);
		str_copy(ret->holders[i].serving_pin, sizeof(ret->holders[i].serving_pin),
			 c->holders[i].serving_pin);
	}
	pthread_mutex_unlock(&c->lock);
}

static void coord_holding(struct ledger *l, const char *id)
{
	struct coord *c = l->state;
	pthread_mutex_lock(&c->lock);
	if (strcmp(c->hold_want, id) != 0) {
		str_copy(c->hold_want, sizeof(c->hold_want), id);
		wake(c);
	}
	pthread_mutex_unlock(&c->lock);
}

static int coord_peer_of(struct ledger *l, const char *pin, char ret_node[LEDGER_TEXT_MAX + 1])
{
	struct coord *c = l->state;
	int r = 0;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_peers && !r; i++)
		if (!strcmp(c->peers[i].serving_pin, pin) &&
		    strcmp(c->peers[i].node, c->node) != 0) {
			str_copy(ret_node, LEDGER_TEXT_MAX + 1, c->peers[i].node);
			r = 1;
		}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Without the lock: etcd's view now, into v. 0, or <0 with why. */
static int read_view(struct coord *c, struct coord_view *v, char *why, size_t why_len)
{
	struct coord_args a = {0};
	json_t *res = NULL;
	*v = (struct coord_view){0};
	int r = call(c, COORD_VIEW, &a, CALL_TIMEOUT_MS, false, &res, why, why_len);
	if (r == 0 && coordmsg_view_result_parse(res, v) < 0) {
		snprintf(why, why_len, "a malformed view from pkishare-coordd");
		r = -EPROTO;
	}
	json_decref(res);
	return r;
}

static int coord_current(struct ledger *l, const char *id)
{
	struct coord *c = l->state;
	struct coord_view v;
	char why[COORD_MESSAGE_MAX];
	int r = read_view(c, &v, why, sizeof(why));
	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		failed_locked(c, "view", why);
		pthread_mutex_unlock(&c->lock);
		return -ENOLINK;
	}
	succeeded_locked(c);
	bool current = v.has_current && !strcmp(v.current.id, id);
	if (v.revision > c->revision) {
		c->dirty = true; /* the mirror is behind: the thread reads again */
		wake(c);
	}
	pthread_mutex_unlock(&c->lock);
	return current ? 0 : -ESTALE;
}

static int coord_connect(struct ledger *l, const char *node, struct ledger_holder *ret, int *ret_fd,
			 char *why, size_t why_len)
{
	struct coord *c = l->state;
	struct coord_args a = {0};
	struct coord_holder h = {0};
	json_t *res = NULL;
	*ret_fd = -1;
	str_copy(a.node, sizeof(a.node), node);
	int r = call_fd(c, COORD_CONNECT, &a, CALL_TIMEOUT_MS, false, &res, ret_fd, why, why_len);
	if (r == 0 && (coordmsg_connect_result_parse(res, &h) < 0 || *ret_fd < 0)) {
		snprintf(why, why_len, "pkishare-coordd passed no connection to node %s", node);
		r = -EPROTO;
	}
	json_decref(res);
	if (r < 0) {
		if (*ret_fd >= 0)
			close(*ret_fd);
		*ret_fd = -1;
		return r;
	}
	str_copy(ret->node, sizeof(ret->node), h.node);
	str_copy(ret->peer_address, sizeof(ret->peer_address), h.peer_address);
	str_copy(ret->serving_pin, sizeof(ret->serving_pin), h.serving_pin);
	return 0;
}

static int coord_token_add(struct ledger *l, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			   int64_t expires_at, uint64_t uses, const char *description)
{
	struct coord *c = l->state;
	struct coord_args a = {.expires_at = expires_at, .uses = uses};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	str_copy(a.token_id, sizeof(a.token_id), id);
	sodium_bin2hex(a.secret_hash, sizeof(a.secret_hash), hash, TOKEN_HASH_BYTES);
	str_copy(a.description, sizeof(a.description), description ? description : "");
	int r = call(c, COORD_TOKEN_ADD, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
	json_decref(res);
	secret_wipe(&a, sizeof(a));
	pthread_mutex_lock(&c->lock);
	if (r == -EEXIST || r == -ENOSPC || r == 0) {
		succeeded_locked(c);
		c->dirty = true;
		wake(c);
	} else {
		failed_locked(c, "token add", why);
		r = -ENOLINK;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int coord_token_delete(struct ledger *l, const char *id)
{
	struct coord *c = l->state;
	struct coord_args a = {0};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	str_copy(a.token_id, sizeof(a.token_id), id);
	int r = call(c, COORD_TOKEN_DELETE, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
	json_decref(res);
	pthread_mutex_lock(&c->lock);
	if (r == 0 || r == -ENOENT) {
		succeeded_locked(c);
		c->dirty = true;
		wake(c);
	} else {
		failed_locked(c, "token delete", why);
		r = -ENOLINK;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int coord_token_check(struct ledger *l, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			     int64_t *ret_at, char *ret_client, size_t client_len,
			     bool *ret_expired)
{
	struct coord *c = l->state;
	char hex[2 * TOKEN_HASH_BYTES + 1];
	int r = -ENOENT;
	sodium_bin2hex(hex, sizeof(hex), hash, TOKEN_HASH_BYTES);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_tokens; i++) {
		const struct coord_token *t = &c->tokens[i];
		if (strcmp(t->id, id) != 0)
			continue;
		if (sodium_memcmp(t->secret_hash, hex, 2 * TOKEN_HASH_BYTES) != 0) {
			r = -EACCES;
		} else if (t->expires_at <= time_now()) {
			r = -ETIMEDOUT;
			*ret_at = t->expires_at;
			*ret_expired = true;
		} else if (t->uses && t->used >= t->uses) {
			r = -ESTALE;
			*ret_at = t->spent_at;
			str_copy(ret_client, client_len, t->spent_by);
		} else {
			r = 0;
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	secret_wipe(hex, sizeof(hex));
	return r;
}

static int coord_token_use(struct ledger *l, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			   const char *client)
{
	struct coord *c = l->state;
	struct coord_args a = {0};
	struct coord_token_use u = {0};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	str_copy(a.token_id, sizeof(a.token_id), id);
	sodium_bin2hex(a.secret_hash, sizeof(a.secret_hash), hash, TOKEN_HASH_BYTES);
	str_copy(a.client, sizeof(a.client), client);
	int r = call(c, COORD_TOKEN_USE, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
	if (r == 0 && coordmsg_token_use_result_parse(res, &u) < 0) {
		snprintf(why, sizeof(why), "a malformed token use from pkishare-coordd");
		r = -EPROTO;
	}
	json_decref(res);
	secret_wipe(&a, sizeof(a));
	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		failed_locked(c, "token use", why);
		pthread_mutex_unlock(&c->lock);
		return -ENOLINK;
	}
	succeeded_locked(c);
	c->dirty = true;
	wake(c);
	pthread_mutex_unlock(&c->lock);
	if (!strcmp(u.result, "ok"))
		return 0;
	if (!strcmp(u.result, "expired"))
		return -ETIMEDOUT;
	if (!strcmp(u.result, "spent"))
		return -ESTALE;
	return -ENOENT;
}

/* Lock held: a token list read from coordd, in a reading begun at begun_ms, becomes the
 * mirror's unless a reading begun later already did. */
static void tokens_land_locked(struct coord *c, const struct coord_token *tk, size_t nt,
			       int64_t begun_ms)
{
	if (begun_ms < c->tokens_from_ms)
		return;
	c->tokens_from_ms = begun_ms;
	memcpy(c->tokens, tk, nt * sizeof(*tk));
	secret_wipe(c->tokens + nt, (COORD_TOKENS_MAX - nt) * sizeof(*tk));
	c->n_tokens = nt;
}

/* The token list read now (by a worker, for an enrollment whose token this node has not
 * heard of): shared by every caller that waits meanwhile, one reading at a time, begun at
 * most every TOKENS_READ_EVERY_MS. */
static int coord_token_refresh(struct ledger *l, int64_t since_ms)
{
	struct coord *c = l->state;
	struct coord_args a = {0};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->tokens_from_ms && c->tokens_from_ms >= since_ms) {
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		/* One that would have done failed: so would ours (no queue of readings, each
		 * waiting out its own timeout, behind a coordd that does not answer). */
		if (c->tokens_failed_ms && c->tokens_failed_ms >= since_ms) {
			pthread_mutex_unlock(&c->lock);
			return -ENOLINK;
		}
		int64_t now = now_ms(), next = c->tokens_begun_ms + TOKENS_READ_EVERY_MS;
		if (!c->tokens_reading && (!c->tokens_begun_ms || now >= next))
			break;
		/* One reading under way (it may do), or the last began too recently. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ms = c->tokens_reading ? CALL_TIMEOUT_MS : next - now;
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->tokens_read, &c->lock, &ts);
	}
	int64_t begun = now_ms();
	c->tokens_reading = true;
	c->tokens_begun_ms = begun;
	pthread_mutex_unlock(&c->lock);
	struct coord_token *tk = calloc(COORD_TOKENS_MAX, sizeof(*tk));
	size_t nt = 0;
	int r = tk ? call(c, COORD_TOKENS, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why))
		   : -ENOMEM;
	if (!tk)
		snprintf(why, sizeof(why), "out of memory");
	if (r == 0 && coordmsg_tokens_result_parse(res, tk, COORD_TOKENS_MAX, &nt) < 0) {
		snprintf(why, sizeof(why), "a malformed token list from pkishare-coordd");
		r = -EPROTO;
	}
	json_decref(res);
	pthread_mutex_lock(&c->lock);
	c->tokens_reading = false;
	if (r == 0) {
		succeeded_locked(c);
		tokens_land_locked(c, tk, nt, begun);
	} else {
		failed_locked(c, "token list", why);
		c->tokens_failed_ms = begun;
	}
	pthread_cond_broadcast(&c->tokens_read);
	pthread_mutex_unlock(&c->lock);
	wipe_free(tk, COORD_TOKENS_MAX * sizeof(*tk));
	return r == 0 ? 0 : -ENOLINK;
}

static size_t coord_token_list(struct ledger *l, struct ledger_token *ret, size_t max)
{
	struct coord *c = l->state;
	size_t n = 0;
	int64_t now = time_now();
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_tokens && n < max; i++) {
		const struct coord_token *t = &c->tokens[i];
		if (t->expires_at <= now || (t->uses && t->used >= t->uses))
			continue; /* only those that can still be used, as tokens.c lists */
		struct ledger_token *o = &ret[n++];
		str_copy(o->id, sizeof(o->id), t->id);
		o->expires_at = t->expires_at;
		o->uses_left = t->uses ? t->uses - t->used : 0;
		o->used = t->used;
		str_copy(o->description, sizeof(o->description), t->description);
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

static bool coord_identity(struct ledger *l, const char *serving_pin)
{
	struct coord *c = l->state;
	pthread_mutex_lock(&c->lock);
	bool changed = strcmp(c->serving_pin, serving_pin) != 0;
	if (changed) {
		str_copy(c->serving_pin, sizeof(c->serving_pin), serving_pin);
		c->registered = false;
		c->hold_have[0] = 0; /* the holder record carries the pin too */
		wake(c);
	}
	pthread_mutex_unlock(&c->lock);
	return changed;
}

static void coord_watch(struct ledger *l, void (*changed)(void *arg), void *arg)
{
	struct coord *c = l->state;
	pthread_mutex_lock(&c->lock);
	c->changed = changed;
	c->changed_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

/* The thread, lock held: write the queue's head. true if it may go on. */
static bool thread_retire_locked(struct coord *c)
{
	struct coord_args a = {0};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	bool unclaim = c->pend[0].unclaim;
	str_copy(a.id, sizeof(a.id), c->pend[0].id);
	if (unclaim)
		str_copy(a.claim_id, sizeof(a.claim_id), c->pend[0].claim_id);
	else
		str_copy(a.reason, sizeof(a.reason), gone_reason(c->pend[0].why));
	pthread_mutex_unlock(&c->lock);
	int r = call(c, unclaim ? COORD_UNCLAIM : COORD_RETIRE, &a, CALL_TIMEOUT_MS, false, &res,
		     why, sizeof(why));
	json_decref(res);
	pthread_mutex_lock(&c->lock);
	if (r < 0 && r != -ENOENT) { /* not current: someone else's write came first */
		failed_locked(c, unclaim ? "unclaim" : "retire", why);
		c->write_failed = true;
		pthread_cond_broadcast(&c->done);
		return false;
	}
	succeeded_locked(c);
	c->write_failed = false;
	memmove(&c->pend[0], &c->pend[1], (c->n_pend - 1) * sizeof(c->pend[0]));
	c->n_pend--;
	c->gen++;
	c->dirty = true;
	pthread_cond_broadcast(&c->done);
	return true;
}

/* The thread, lock held: register this node as holding what it holds. */
static bool thread_hold_locked(struct coord *c)
{
	struct coord_args a = {0};
	char why[COORD_MESSAGE_MAX], want[BUNDLE_ID_HEX_LEN + 1];
	json_t *res = NULL;
	int r = 0;
	str_copy(want, sizeof(want), c->hold_want);
	str_copy(a.node, sizeof(a.node), c->node);
	if (c->hold_have[0]) {
		str_copy(a.id, sizeof(a.id), c->hold_have);
		pthread_mutex_unlock(&c->lock);
		r = call(c, COORD_RELEASE, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
		json_decref(res);
		pthread_mutex_lock(&c->lock);
		if (r < 0) {
			failed_locked(c, "release", why);
			return false;
		}
		c->hold_have[0] = 0;
	}
	if (want[0]) {
		str_copy(a.id, sizeof(a.id), want);
		str_copy(a.peer_address, sizeof(a.peer_address), c->peer_address);
		str_copy(a.serving_pin, sizeof(a.serving_pin), c->serving_pin);
		pthread_mutex_unlock(&c->lock);
		r = call(c, COORD_HOLD, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
		json_decref(res);
		pthread_mutex_lock(&c->lock);
		if (r < 0) {
			failed_locked(c, "hold", why);
			return false;
		}
		str_copy(c->hold_have, sizeof(c->hold_have), want);
	}
	c->dirty = true;
	return true;
}

/* The thread, lock held: register this node as a peer (nodes/NODE, under coordd's lease). */
static bool thread_register_locked(struct coord *c)
{
	struct coord_args a = {0};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	str_copy(a.node, sizeof(a.node), c->node);
	str_copy(a.peer_address, sizeof(a.peer_address), c->peer_address);
	str_copy(a.serving_pin, sizeof(a.serving_pin), c->serving_pin);
	pthread_mutex_unlock(&c->lock);
	int r = call(c, COORD_REGISTER, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
	json_decref(res);
	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		failed_locked(c, "register", why);
		return false;
	}
	c->registered = true;
	c->dirty = true;
	return true;
}

/* The thread, lock held: read the view (and its holders) into the mirror. */
static bool thread_view_locked(struct coord *c)
{
	struct coord_args a = {0};
	struct coord_view v = {0};
	struct coord_holder h[COORD_HOLDERS_MAX], p[COORD_HOLDERS_MAX];
	size_t nh = 0, np = 0;
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	uint64_t gen = c->gen;
	int64_t begun = now_ms();
	pthread_mutex_unlock(&c->lock);
	int r = read_view(c, &v, why, sizeof(why));
	if (r == 0 && v.has_current) {
		str_copy(a.id, sizeof(a.id), v.current.id);
		r = call(c, COORD_HOLDERS, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
		if (r == 0 && coordmsg_holders_result_parse(res, h, COORD_HOLDERS_MAX, &nh) < 0) {
			snprintf(why, sizeof(why), "a malformed holders list from pkishare-coordd");
			r = -EPROTO;
		}
		json_decref(res);
		res = NULL;
	}
	struct coord_token *tk = calloc(COORD_TOKENS_MAX, sizeof(*tk));
	size_t nt = 0;
	if (r == 0 && !tk)
		r = -ENOMEM;
	if (r == 0) {
		r = call(c, COORD_TOKENS, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
		if (r == 0 && coordmsg_tokens_result_parse(res, tk, COORD_TOKENS_MAX, &nt) < 0) {
			snprintf(why, sizeof(why), "a malformed token list from pkishare-coordd");
			r = -EPROTO;
		}
		json_decref(res);
		res = NULL;
	}
	if (r == 0) {
		r = call(c, COORD_PEERS, &a, CALL_TIMEOUT_MS, false, &res, why, sizeof(why));
		if (r == 0 && coordmsg_peers_result_parse(res, p, COORD_HOLDERS_MAX, &np) < 0) {
			snprintf(why, sizeof(why), "a malformed peers list from pkishare-coordd");
			r = -EPROTO;
		}
		json_decref(res);
	}
	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		wipe_free(tk, COORD_TOKENS_MAX * sizeof(*tk));
		failed_locked(c, "view", why);
		return false;
	}
	succeeded_locked(c);
	if (gen != c->gen) {
		wipe_free(tk, COORD_TOKENS_MAX * sizeof(*tk));
		return true; /* this node wrote meanwhile: still dirty, read again */
	}
	tokens_land_locked(c, tk, nt, begun);
	wipe_free(tk, COORD_TOKENS_MAX * sizeof(*tk));
	c->view = v;
	memcpy(c->holders, h, nh * sizeof(h[0]));
	c->n_holders = nh;
	str_copy(c->holders_id, sizeof(c->holders_id), v.has_current ? v.current.id : "");
	memcpy(c->peers, p, np * sizeof(p[0]));
	c->n_peers = np;
	/* Registered and alone under the prefix: right on the first serving node, and the
	 * only sign of an etcd-prefix that differs from the other nodes' (a ledger of its
	 * own, silently). Said once each time it becomes so. */
	bool others = false, self = false;
	for (size_t i = 0; i < np; i++) {
		others |= strcmp(p[i].node, c->node) != 0;
		self |= !strcmp(p[i].node, c->node);
	}
	if (self && !others && !c->alone)
		log_msg(LOG_NOTICE,
			"coordination: no other control-plane node is registered in etcd under "
			"this node's prefix: right on the first serving node; on any other, check "
			"that every node's pkishare-coordd names the same etcd-prefix");
	c->alone = self && !others;
	/* Records under coordd's lease vanish with it (coordd cut off longer than its TTL, or
	 * restarted): what etcd no longer lists is written again. */
	bool listed = false;
	for (size_t i = 0; i < np; i++)
		listed |= !strcmp(p[i].node, c->node);
	if (c->registered && !listed)
		c->registered = false;
	/* A holder record of this node for a bundle it does not hold (it restarted empty, or
	 * wiped it while cut off): withdrawn, so that peers and --replicas do not count it. */
	if (v.has_current && strcmp(c->hold_want, v.current.id) != 0)
		for (size_t i = 0; i < nh; i++)
			if (!strcmp(h[i].node, c->node))
				str_copy(c->hold_have, sizeof(c->hold_have), v.current.id);
	if (c->hold_have[0] && !strcmp(c->hold_have, c->holders_id)) {
		bool holding = false;
		for (size_t i = 0; i < nh; i++)
			holding |= !strcmp(h[i].node, c->node);
		if (!holding)
			c->hold_have[0] = 0;
	}
	c->revision = v.revision;
	c->synced = true;
	c->dirty = false;
	void (*changed)(void *) = c->changed;
	void *arg = c->changed_arg;
	if (changed) {
		/* Lock order: the store's lock is taken before ours, never after. */
		pthread_mutex_unlock(&c->lock);
		changed(arg);
		pthread_mutex_lock(&c->lock);
	}
	return true;
}

/* The thread, lock held: wait for a change under the prefix (or for work). */
static bool thread_wait_locked(struct coord *c)
{
	struct coord_args a = {.since = c->revision};
	char why[COORD_MESSAGE_MAX];
	json_t *res = NULL;
	pthread_mutex_unlock(&c->lock);
	int r = call(c, COORD_WAIT, &a, WAIT_MS, true, &res, why, sizeof(why));
	int changed = 0;
	if (r == 0 && json_unpack(res, "{s:b}", "changed", &changed) != 0)
		r = -EPROTO;
	json_decref(res);
	pthread_mutex_lock(&c->lock);
	if (r == -EINTR)
		return true;
	if (r < 0) {
		failed_locked(c, "watch", why);
		return false;
	}
	if (changed && testhook_watch_delay_ms()) {
		pthread_mutex_unlock(&c->lock);
		struct timespec ts = {.tv_sec = testhook_watch_delay_ms() / 1000,
				      .tv_nsec = (testhook_watch_delay_ms() % 1000) * 1000000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&c->lock);
	}
	if (changed)
		c->dirty = true;
	return true;
}

/* Lock held: this node's registration (nodes/NODE) is to be written. */
static bool must_register(const struct coord *c)
{
	return !c->registered && c->peer_address[0] && c->serving_pin[0];
}

/* Lock held: its holder record is to be written or withdrawn. Without a peer address (or a
 * serving pin) no peer could copy from here: it serves what it holds, listed nowhere. */
static bool must_hold(const struct coord *c)
{
	return strcmp(c->hold_want, c->hold_have) != 0 && c->peer_address[0] && c->serving_pin[0];
}

static void drain_wake(struct coord *c)
{
	uint64_t n;
	if (read(c->wake_fd, &n, sizeof(n)) < 0) {
		/* Nothing to read: not woken. */
	}
}

static void *coord_main(void *arg)
{
	struct coord *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		drain_wake(c);
		bool ok = true;
		while (ok && c->n_pend > 0 && !c->stop)
			ok = thread_retire_locked(c);
		if (ok && must_register(c))
			ok = thread_register_locked(c);
		if (ok && must_hold(c))
			ok = thread_hold_locked(c);
		if (ok && c->dirty)
			ok = thread_view_locked(c);
		/* A view may have found a record gone: write it before waiting. */
		if (ok && !c->dirty && !c->stop && !must_register(c) && !must_hold(c))
			ok = thread_wait_locked(c);
		if (!ok) {
			/* coordd or etcd did not answer: it may have restarted (a new lease:
			 * register again) and missed changes (read the view again). */
			c->reachable = false;
			c->hold_have[0] = 0;
			c->registered = false;
			c->dirty = true;
			/* A pause of RETRY_MS, whatever wakes it meanwhile (a failed call
			 * elsewhere wakes the thread too: no busy loop), except a stop. */
			int64_t until = now_ms() + RETRY_MS;
			while (!c->stop && now_ms() < until) {
				pthread_mutex_unlock(&c->lock);
				drain_wake(c);
				struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
				int64_t left = until - now_ms();
				(void)poll(&p, 1, left > 0 ? (int)left : 0);
				pthread_mutex_lock(&c->lock);
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void coord_done(struct ledger *l)
{
	struct coord *c = l->state;
	if (!c)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		wake(c);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	secret_wipe(c->tokens, sizeof(c->tokens));
	pthread_cond_destroy(&c->tokens_read);
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
	free(c);
	l->state = NULL;
}

const struct ledger_ops ledger_coord_ops = {
    .name = "coordinated",
    .announce = coord_announce,
    .claim = coord_claim,
    .claim_waits = coord_claim_waits,
    .release = coord_release,
    .retire = coord_retire,
    .flush = coord_flush,
    .key_id_seen = coord_key_id_seen,
    .view = coord_view,
    .fetch_log = coord_fetch_log,
    .key_ids = coord_key_ids,
    .load = coord_load,
    .state = coord_state,
    .holding = coord_holding,
    .peer_of = coord_peer_of,
    .identity = coord_identity,
    .connect = coord_connect,
    .current = coord_current,
    .token_add = coord_token_add,
    .token_delete = coord_token_delete,
    .token_check = coord_token_check,
    .token_use = coord_token_use,
    .token_list = coord_token_list,
    .token_refresh = coord_token_refresh,
    .watch = coord_watch,
    .done = coord_done,
};

int ledger_coord_open(struct ledger *l, const struct ledger_coord_config *cfg)
{
	struct coord *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	if (!c)
		return -ENOMEM;
	if (strlen(cfg->socket) >= sizeof(c->socket)) {
		free(c);
		return -ENAMETOOLONG;
	}
	str_copy(c->socket, sizeof(c->socket), cfg->socket);
	str_copy(c->node, sizeof(c->node), cfg->node);
	str_copy(c->peer_address, sizeof(c->peer_address), cfg->peer_address);
	str_copy(c->serving_pin, sizeof(c->serving_pin), cfg->serving_pin);
	c->dirty = true;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->done, &ca);
	pthread_cond_init(&c->tokens_read, &ca);
	pthread_condattr_destroy(&ca);
	l->ops = &ledger_coord_ops;
	l->state = c;
	if (c->wake_fd < 0) {
		int r = -errno;
		coord_done(l);
		return r;
	}
	return 0;
}

int ledger_coord_start(struct ledger *l)
{
	struct coord *c = l->state;
	int r = pthread_create(&c->thread, NULL, coord_main, c);
	if (r != 0)
		return -r;
	c->running = true;
	return 0;
}
