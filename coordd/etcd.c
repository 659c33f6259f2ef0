/* etcd.c - etcd's v3 JSON gateway over libcurl (etcd.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "etcd.h"
#include "util.h"

#define ETCD_URL_MAX 512

/* An answer's bytes (metadata: ids, revisions, digests; never a secret but the auth
 * token, which is copied into guarded memory and this buffer wiped). */
struct reply {
	char *p;
	size_t len, cap;
	bool too_big;
};

struct etcd {
	char *endpoints[ETCD_ENDPOINTS_MAX];
	size_t n, cur, watch_next;
	struct etcd_health *health, own_health; /* health: cfg's, or &own_health */
	struct curl_blob ca, cert, key;
	char *user;
	const struct secret *password;
	struct secret *token; /* etcd's auth token, NULL without auth */
	long connect_ms, call_ms;
	int64_t deadline_ms; /* the calls' (etcd_set_deadline), 0: none */
	CURL *h;	     /* the unary calls' handle: its connections are reused */
	CURLM *m;	     /* h runs in it while an idle fd is polled beside */
	int idle_fd;
	void (*idle_cb)(void *arg);
	void *idle_arg;
	size_t last;
};

struct etcd_watch {
	struct etcd *e;
	CURL *h;
	CURLM *m;
	struct curl_slist *headers;
	char *body;
	struct etcd_lines lines;
	etcd_watch_cb cb;
	void *arg;
	int failed; /* <0 once the stream cannot go on: the value run returns */
	int64_t revision;
	char why[ETCD_MESSAGE_MAX + 64];
	bool done;
	size_t ep; /* the member it watches */
};

static void reply_done(struct reply *r)
{
	if (r->p)
		secret_wipe(r->p, r->cap);
	free(r->p);
	*r = (struct reply){0};
}

static size_t reply_write(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t add = size * n;
	if (r->len + add + 1 > ETCD_LINE_MAX) {
		r->too_big = true;
		return 0;
	}
	if (r->len + add + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + add + 1)
			cap *= 2;
		char *p = malloc(cap);
		if (!p)
			return 0;
		if (r->p) {
			memcpy(p, r->p, r->len);
			secret_wipe(r->p, r->cap);
			free(r->p);
		}
		r->p = p;
		r->cap = cap;
	}
	memcpy(r->p + r->len, data, add);
	r->len += add;
	r->p[r->len] = 0;
	return add;
}

/* The headers every request carries; with auth, the token (libcurl copies it). */
static struct curl_slist *headers_new(const struct etcd *e, bool with_token)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h)
		h = curl_slist_append(h, "Grpc-Metadata-Hasleader: true");
	if (h && with_token && e->token) {
		char buf[4200];
		snprintf(buf, sizeof(buf), "Authorization: %s", (const char *)e->token->data);
		struct curl_slist *t = curl_slist_append(h, buf);
		secret_wipe(buf, sizeof(buf));
		if (!t) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = t;
	}
	return h;
}

/* The options of one request on h to endpoint ep. */
static int setup(struct etcd *e, CURL *h, size_t ep, const char *path, const char *body, size_t len,
		 struct curl_slist *headers)
{
	char url[ETCD_URL_MAX];
	if ((size_t)snprintf(url, sizeof(url), "%s%s", e->endpoints[ep], path) >= sizeof(url))
		return -EINVAL;
	curl_easy_reset(h);
	bool ok = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->connect_ms) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &e->ca) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &e->cert) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &e->key) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	return ok ? 0 : -EINVAL;
}

static int authenticate(struct etcd *e);

/* Run the request set up on e->h: in e->m with the idle fd polled beside it, if any. */
static CURLcode perform(struct etcd *e)
{
	if (e->idle_fd < 0)
		return curl_easy_perform(e->h);
	if (curl_multi_add_handle(e->m, e->h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	CURLcode res = CURLE_FAILED_INIT;
	int running = 1;
	while (curl_multi_perform(e->m, &running) == CURLM_OK && running) {
		struct curl_waitfd w = {.fd = e->idle_fd, .events = CURL_WAIT_POLLIN};
		/* curl_multi_poll wakes by libcurl's own timers too (the call's timeouts). */
		if (curl_multi_poll(e->m, &w, 1, 1000, NULL) != CURLM_OK)
			break;
		if (w.revents & CURL_WAIT_POLLIN)
			e->idle_cb(e->idle_arg);
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(e->m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e->h)
			res = msg->data.result;
	curl_multi_remove_handle(e->m, e->h);
	return res;
}

/* The bounds of one try, with members_left members (this one included) still to try:
 * false when the deadline has passed. */
static bool try_bounds(const struct etcd *e, size_t members_left, bool idempotent,
		       long *ret_connect_ms, long *ret_total_ms)
{
	if (!e->deadline_ms) {
		*ret_connect_ms = e->connect_ms;
		*ret_total_ms = e->call_ms;
		return true;
	}
	int64_t left = e->deadline_ms - time_mono_ms();
	if (left <= 0)
		return false;
	int64_t share = left / (int64_t)members_left;
	if (share < 1)
		share = 1;
	*ret_connect_ms = share < e->connect_ms ? (long)share : e->connect_ms;
	*ret_total_ms = (long)(idempotent ? share : left);
	return true;
}

static bool suspect(const struct etcd *e, size_t ep, int64_t now)
{
	int64_t failed = atomic_load(&e->health->failed_ms[ep]);
	return failed && now - failed < ETCD_SUSPECT_MS;
}

static void member_failed(struct etcd *e, size_t ep)
{
	int64_t now = time_mono_ms();
	atomic_store(&e->health->failed_ms[ep], now ? now : 1);
}

/* The order to try the members in: from the one in use, those not suspected first. */
static void try_order(const struct etcd *e, size_t order[ETCD_ENDPOINTS_MAX])
{
	int64_t now = time_mono_ms();
	size_t k = 0;
	for (int late = 0; late < 2; late++)
		for (size_t i = 0; i < e->n; i++) {
			size_t ep = (e->cur + i) % e->n;
			if (suspect(e, ep, now) == (late == 1))
				order[k++] = ep;
		}
}

static int call_once(struct etcd *e, const char *path, const char *body, size_t len,
		     bool idempotent, bool with_token, struct reply *ret,
		     struct etcd_error *ret_error, bool *ret_election);

/* POST body to path: call_once, and for a read that every member answered "leader
 * changed" (an election under way, about a second), again every 100 ms while the deadline
 * leaves time. */
static int call(struct etcd *e, const char *path, const char *body, size_t len, bool idempotent,
		bool with_token, struct reply *ret, struct etcd_error *ret_error)
{
	for (;;) {
		bool election = false;
		int r = call_once(e, path, body, len, idempotent, with_token, ret, ret_error,
				  &election);
		if (!election || !idempotent || !e->deadline_ms ||
		    e->deadline_ms - time_mono_ms() < 200)
			return r;
		struct timespec pause = {.tv_nsec = 100 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

/* POST body to path, on the member in use and then the others, as etcd.h says;
 * *ret_election set when a member said "leader changed". */
static int call_once(struct etcd *e, const char *path, const char *body, size_t len,
		     bool idempotent, bool with_token, struct reply *ret,
		     struct etcd_error *ret_error, bool *ret_election)
{
	int last = -EHOSTUNREACH;
	bool reauthed = false;
	size_t order[ETCD_ENDPOINTS_MAX];
	try_order(e, order);
	for (size_t tried = 0; tried < e->n; tried++) {
		size_t ep = order[tried];
		long connect_ms, total_ms;
		if (!try_bounds(e, e->n - tried, idempotent, &connect_ms, &total_ms))
			/* Nothing that could apply was sent (a sent write returns below). */
			return last == -ENOTCONN || last == -ETIMEDOUT ? last : -ETIME;
		struct reply r = {0};
		struct curl_slist *headers = headers_new(e, with_token);
		if (!headers)
			return -ENOMEM;
		int s = setup(e, e->h, ep, path, body, len, headers);
		if (s >= 0) {
			curl_easy_setopt(e->h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
			curl_easy_setopt(e->h, CURLOPT_TIMEOUT_MS, total_ms);
			curl_easy_setopt(e->h, CURLOPT_WRITEFUNCTION, reply_write);
			curl_easy_setopt(e->h, CURLOPT_WRITEDATA, &r);
		}
		CURLcode c = s >= 0 ? perform(e) : CURLE_FAILED_INIT;
		curl_easy_setopt(e->h, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(headers);
		e->last = ep;
		if (s < 0)
			return s;
		long status = 0;
		curl_off_t pre = 0;
		curl_easy_getinfo(e->h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(e->h, CURLINFO_PRETRANSFER_TIME_T, &pre);
		if (c != CURLE_OK) {
			bool too_big = r.too_big;
			reply_done(&r);
			if (too_big)
				return -E2BIG;
			member_failed(e, ep);
			/* Never sent (connect, TLS), or a read: the next member is safe. */
			if (pre == 0 || idempotent) {
				last = pre == 0 ? (last == -ENOTCONN ? last : -EHOSTUNREACH)
						: -ETIMEDOUT;
				continue;
			}
			return -ETIMEDOUT;
		}
		if (status == 200) {
			e->cur = ep;
			atomic_store(&e->health->failed_ms[ep], 0);
			*ret = r;
			return 0;
		}
		struct etcd_error err = {0};
		bool parsed = r.p && etcdmsg_error(r.p, r.len, &err) >= 0;
		if (!parsed)
			snprintf(err.message, sizeof(err.message), "HTTP %ld from %s%s", status,
				 e->endpoints[ep], path);
		reply_done(&r);
		if (ret_error)
			*ret_error = err;
		if (parsed && etcd_error_no_leader(&err)) {
			member_failed(e, ep);
			last = -ENOTCONN;
			continue;
		}
		/* An election under way (seen by a member whose leader was cut off): a read
		 * may go to the next member; a write's outcome is unknown, which the caller
		 * settles by reading again within its deadline. */
		if (parsed && strstr(err.message, "leader changed")) {
			if (!idempotent)
				return -ETIMEDOUT;
			*ret_election = true;
			last = -ETIMEDOUT;
			continue;
		}
		/* An expired or revoked auth token: authenticate again, once. */
		if (parsed && with_token && e->user && !reauthed &&
		    (err.code == 16 || strstr(err.message, "invalid auth token"))) {
			reauthed = true;
			int a = authenticate(e);
			if (a < 0)
				return a;
			tried--;
			continue;
		}
		if (parsed && err.code == 7)
			return -EACCES;
		return parsed ? -EPROTO : -EBADMSG;
	}
	return last;
}

/* Call with a JSON request (NULL: -EINVAL, its arguments were out of bounds). */
static int call_json(struct etcd *e, const char *path, json_t *req, bool idempotent,
		     struct reply *ret, struct etcd_error *ret_error)
{
	if (!req)
		return -EINVAL;
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return -ENOMEM;
	int r = call(e, path, body, strlen(body), idempotent, true, ret, ret_error);
	secret_json_free(body);
	return r;
}

static int authenticate(struct etcd *e)
{
	struct secret *body = NULL, *token = NULL;
	struct reply r = {0};
	int rc = etcdmsg_authenticate(e->user, e->password, &body);
	if (rc < 0)
		return rc;
	rc = call(e, "/v3/auth/authenticate", (const char *)body->data, body->len, true, false, &r,
		  NULL);
	secret_free(body);
	if (rc >= 0)
		rc = etcdmsg_auth_result(r.p, r.len, &token);
	reply_done(&r);
	if (rc < 0)
		return rc;
	secret_free(e->token);
	e->token = token;
	return 0;
}

int etcd_open(const struct etcd_config *cfg, struct etcd **ret)
{
	static bool curl_ready;
	if (!curl_ready) {
		/* Not thread-safe before 7.84 only for its first call: coordd calls it from
		 * main before any thread. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		curl_ready = true;
	}
	if (!cfg->n_endpoints || cfg->n_endpoints > ETCD_ENDPOINTS_MAX || !cfg->ca_pem ||
	    !cfg->cert_pem || !cfg->key_pem || (cfg->user && !cfg->password))
		return -EINVAL;
	struct etcd *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; i < cfg->n_endpoints && r >= 0; i++, e->n++)
		if (!(e->endpoints[i] = strdup(cfg->endpoints[i])))
			r = -ENOMEM;
	e->ca = (struct curl_blob){cfg->ca_pem->data, cfg->ca_pem->len, CURL_BLOB_NOCOPY};
	e->cert = (struct curl_blob){cfg->cert_pem->data, cfg->cert_pem->len, CURL_BLOB_NOCOPY};
	e->key = (struct curl_blob){cfg->key_pem->data, cfg->key_pem->len, CURL_BLOB_NOCOPY};
	e->connect_ms =
	    cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : ETCD_DEFAULT_CONNECT_TIMEOUT_MS;
	e->call_ms = cfg->call_timeout_ms > 0 ? cfg->call_timeout_ms : ETCD_DEFAULT_CALL_TIMEOUT_MS;
	e->idle_fd = -1;
	e->health = cfg->health ? cfg->health : &e->own_health;
	e->password = cfg->password;
	if (r >= 0 && cfg->user && !(e->user = strdup(cfg->user)))
		r = -ENOMEM;
	if (r >= 0 && (!(e->h = curl_easy_init()) || !(e->m = curl_multi_init())))
		r = -ENOMEM;
	if (r >= 0 && e->user)
		r = authenticate(e);
	if (r < 0) {
		etcd_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

struct etcd *etcd_free(struct etcd *e)
{
	if (!e)
		return NULL;
	if (e->h)
		curl_easy_cleanup(e->h);
	if (e->m)
		curl_multi_cleanup(e->m);
	for (size_t i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	free(e->user);
	secret_free(e->token);
	free(e);
	return NULL;
}

void etcd_set_deadline(struct etcd *e, int64_t deadline_ms)
{
	e->deadline_ms = deadline_ms;
}

void etcd_set_idle(struct etcd *e, int fd, void (*cb)(void *arg), void *arg)
{
	e->idle_fd = cb ? fd : -1;
	e->idle_cb = cb;
	e->idle_arg = arg;
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->n ? e->endpoints[e->last] : "";
}

int etcd_range(struct etcd *e, const char *key, const char *range_end, bool serializable,
	       struct etcd_kvs *ret, struct etcd_error *ret_error)
{
	struct reply r = {0};
	int rc = call_json(e, "/v3/kv/range", etcdmsg_range(key, range_end, 0, serializable, 0),
			   true, &r, ret_error);
	if (rc >= 0)
		rc = etcdmsg_range_result(r.p, r.len, ret);
	reply_done(&r);
	return rc;
}

int etcd_range_count(struct etcd *e, const char *key, const char *range_end, uint64_t *ret_count,
		     struct etcd_error *ret_error)
{
	struct reply r = {0};
	struct etcd_kvs k;
	int rc = call_json(e, "/v3/kv/range", etcdmsg_range(key, range_end, 0, false, 1), true, &r,
			   ret_error);
	if (rc >= 0)
		rc = etcdmsg_range_result(r.p, r.len, &k);
	reply_done(&r);
	if (rc < 0)
		return rc;
	*ret_count = k.count > 0 ? (uint64_t)k.count : 0;
	etcd_kvs_done(&k);
	return 0;
}

int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *ret_revision, struct etcd_error *ret_error)
{
	struct reply r = {0};
	int rc =
	    call_json(e, "/v3/kv/put", etcdmsg_put(key, value, len, lease), false, &r, ret_error);
	if (rc >= 0)
		rc = etcdmsg_write_result(r.p, r.len, ret_revision, NULL);
	reply_done(&r);
	return rc;
}

int etcd_delete(struct etcd *e, const char *key, const char *range_end, int64_t *ret_deleted,
		struct etcd_error *ret_error)
{
	struct reply r = {0};
	int rc = call_json(e, "/v3/kv/deleterange", etcdmsg_delete(key, range_end), false, &r,
			   ret_error);
	if (rc >= 0)
		rc = etcdmsg_write_result(r.p, r.len, NULL, ret_deleted);
	reply_done(&r);
	return rc;
}

int etcd_txn(struct etcd *e, const struct etcd_txn *t, struct etcd_txn_result *ret,
	     struct etcd_error *ret_error)
{
	struct reply r = {0};
	int rc = call_json(e, "/v3/kv/txn", etcdmsg_txn(t), false, &r, ret_error);
	if (rc >= 0)
		rc = etcdmsg_txn_result(r.p, r.len, ret);
	reply_done(&r);
	return rc;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t id, int64_t *ret_id,
		     struct etcd_error *ret_error)
{
	struct reply r = {0};
	int64_t ttl;
	int rc =
	    call_json(e, "/v3/lease/grant", etcdmsg_lease_grant(ttl_s, id), false, &r, ret_error);
	if (rc >= 0)
		rc = etcdmsg_lease_grant_result(r.p, r.len, ret_id, &ttl);
	reply_done(&r);
	return rc;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl, struct etcd_error *ret_error)
{
	struct reply r = {0};
	int64_t got;
	int rc = call_json(e, "/v3/lease/keepalive", etcdmsg_lease_id(id), true, &r, ret_error);
	/* A stream of one message here: the first line. */
	if (rc >= 0) {
		char *nl = memchr(r.p, '\n', r.len);
		rc = etcdmsg_keepalive_result(r.p, nl ? (size_t)(nl - r.p) : r.len, &got, ret_ttl);
		if (rc >= 0 && got != id && *ret_ttl)
			rc = -EBADMSG;
	}
	reply_done(&r);
	return rc;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct etcd_error *ret_error)
{
	struct reply r = {0};
	int rc = call_json(e, "/v3/lease/revoke", etcdmsg_lease_id(id), true, &r, ret_error);
	if (rc >= 0)
		rc = etcdmsg_write_result(r.p, r.len, NULL, NULL);
	reply_done(&r);
	return rc;
}

/* The watch. */

static int watch_line(const char *line, size_t len, void *arg)
{
	struct etcd_watch *w = arg;
	struct etcd_watch_msg m;
	struct etcd_error err;
	int r = etcdmsg_watch_msg(line, len, &m, &err);
	if (r == -EPROTO) {
		snprintf(w->why, sizeof(w->why), "etcd ended the watch: %s (code %d)", err.message,
			 err.code);
		return -ECONNRESET;
	}
	if (r < 0) {
		snprintf(w->why, sizeof(w->why), "a watch message not understood");
		return r;
	}
	if (m.revision > w->revision)
		w->revision = m.revision;
	r = w->cb(&m, w->arg);
	if (r >= 0 && m.canceled) {
		snprintf(w->why, sizeof(w->why), "etcd canceled the watch: %s%s",
			 m.cancel_reason[0] ? m.cancel_reason : "no reason given",
			 m.compact_revision ? " (its revision was compacted)" : "");
		r = -ECONNRESET;
	}
	etcd_watch_msg_done(&m);
	return r;
}

static size_t watch_write(char *data, size_t size, size_t n, void *arg)
{
	struct etcd_watch *w = arg;
	int r = etcd_lines_feed(&w->lines, data, size * n, watch_line, w);
	if (r < 0) {
		if (r == -E2BIG)
			snprintf(w->why, sizeof(w->why), "a watch message over %d bytes",
				 ETCD_LINE_MAX);
		w->failed = r;
		return 0; /* ends the transfer */
	}
	return size * n;
}

int etcd_watch_open(struct etcd *e, const char *key, const char *range_end, int64_t start_revision,
		    long idle_timeout_s, etcd_watch_cb cb, void *arg, struct etcd_watch **ret)
{
	if (idle_timeout_s <= 0)
		return -EINVAL;
	json_t *req = etcdmsg_watch_create(key, range_end, start_revision, true, false);
	if (!req)
		return -EINVAL;
	struct etcd_watch *w = calloc(1, sizeof(*w));
	if (!w) {
		json_decref(req);
		return -ENOMEM;
	}
	w->e = e;
	w->cb = cb;
	w->arg = arg;
	w->body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	/* The next member in turn that is not suspected (all are: the next in turn). */
	size_t ep = e->watch_next++ % e->n;
	int64_t now = time_mono_ms();
	for (size_t i = 0; i < e->n && suspect(e, ep, now); i++)
		ep = e->watch_next++ % e->n;
	w->ep = ep;
	w->headers = headers_new(e, true);
	w->h = curl_easy_init();
	w->m = curl_multi_init();
	int r = w->body && w->headers && w->h && w->m ? 0 : -ENOMEM;
	if (r >= 0)
		r = setup(e, w->h, ep, "/v3/watch", w->body, strlen(w->body), w->headers);
	if (r >= 0) {
		/* No total timeout; a stream idle for idle_timeout_s is a hung member or a
		 * partition (the members send progress notifications meanwhile). */
		curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, 0L);
		curl_easy_setopt(w->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(w->h, CURLOPT_LOW_SPEED_TIME, idle_timeout_s);
		curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
		if (curl_multi_add_handle(w->m, w->h) != CURLM_OK)
			r = -ENOMEM;
	}
	if (r < 0) {
		etcd_watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int etcd_watch_run(struct etcd_watch *w, int timeout_ms)
{
	return etcd_watch_poll(w, NULL, 0, timeout_ms);
}

int etcd_watch_poll(struct etcd_watch *w, struct curl_waitfd *extra, unsigned n_extra,
		    int timeout_ms)
{
	int running = 0;
	if (w->done)
		return w->failed ? w->failed : -ECONNRESET;
	if (curl_multi_perform(w->m, &running) == CURLM_OK && running &&
	    curl_multi_poll(w->m, extra, n_extra, timeout_ms, NULL) == CURLM_OK)
		curl_multi_perform(w->m, &running);
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(w->m, &left)))
		if (msg->msg == CURLMSG_DONE) {
			w->done = true;
			if (msg->data.result != CURLE_OK)
				member_failed(w->e, w->ep);
			long status = 0;
			curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
			if (!w->why[0])
				snprintf(w->why, sizeof(w->why),
					 "the watch stream from %s ended: %s%s",
					 w->e->endpoints[w->ep],
					 msg->data.result == CURLE_OK
					     ? "closed by the member"
					     : curl_easy_strerror(msg->data.result),
					 status && status != 200 ? " (an HTTP error)" : "");
		}
	if (w->done)
		return w->failed ? w->failed : -ECONNRESET;
	return 0;
}

const char *etcd_watch_why(const struct etcd_watch *w)
{
	return w->why;
}

int64_t etcd_watch_revision(const struct etcd_watch *w)
{
	return w->revision;
}

struct etcd_watch *etcd_watch_free(struct etcd_watch *w)
{
	if (!w)
		return NULL;
	if (w->m && w->h)
		curl_multi_remove_handle(w->m, w->h);
	if (w->h)
		curl_easy_cleanup(w->h);
	if (w->m)
		curl_multi_cleanup(w->m);
	curl_slist_free_all(w->headers);
	secret_json_free(w->body);
	etcd_lines_done(&w->lines);
	free(w);
	return NULL;
}
