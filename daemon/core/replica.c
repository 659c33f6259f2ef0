/* replica.c - coordination: this node's copy of the cluster's bundle (replica.h). A thread
 * of its own, woken by every change the ledger hears of (and every few seconds): when the
 * cluster's current bundle is not held here, it asks pkishare-coordd for a connection to
 * each holder in turn, fetches the sealed bytes over mutual TLS on the peer route (this
 * node's serving certificate as its identity; the holder's certificate checked against
 * the cluster CA's pin and the holder's registered address), checks them against the
 * digest and size in etcd, and holds them (store_hold_copy), which registers this node
 * as a holder in turn. The bytes stay ciphertext: this node never has the key.
 *
 * Must never hold bytes whose SHA-256 is not the one announced in etcd, nor bytes of a
 * bundle that is not the cluster's current one; a holder that sends others is audited
 * and the next one is tried. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "log.h"
#include "net.h"
#include "replica.h"
#include "util.h"

#define REPLICA_IO_TIMEOUT_S 10
#define REPLICA_RETRY_MS 2000
#define REPLICA_PERIOD_MS 5000
/* A whole copy's time: this much, and a second for each 64 KiB announced. */
#define REPLICA_COPY_BASE_MS 10000
#define REPLICA_COPY_MS_PER_64K 1000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The guard of one copy: cuts its connection (shutdown, so the copier's blocked read
 * returns) when the copy outlives its deadline or its bundle stops being the cluster's
 * current one. Each read of the copier is bounded (SO_RCVTIMEO) but a holder that sends a
 * byte at a time would hold it forever, and this node would copy nothing else meanwhile. */
struct copy_guard {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	bool done, cut;
	int fd;
	int64_t deadline_ms;
	struct store *store;
	char id[BUNDLE_ID_HEX_LEN + 1];
	const char *why;
};

static void *guard_main(void *arg)
{
	struct copy_guard *g = arg;
	pthread_mutex_lock(&g->lock);
	while (!g->done) {
		int64_t now = mono_ms(), until = now + 1000;
		if (now >= g->deadline_ms) {
			g->why = "it took longer than a copy may";
		} else {
			struct ledger_coord_state st;
			pthread_mutex_unlock(&g->lock);
			store_coord_state(g->store, &st);
			pthread_mutex_lock(&g->lock);
			if (!g->done && strcmp(st.current_id, g->id) != 0)
				g->why = "the bundle is no longer the cluster's current one";
		}
		if (g->why) {
			g->cut = true;
			(void)shutdown(g->fd, SHUT_RDWR);
			break;
		}
		if (until > g->deadline_ms)
			until = g->deadline_ms;
		struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000L};
		pthread_cond_timedwait(&g->done_cv, &g->lock, &ts);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Start the guard of a copy over fd of bundle id of bytes size. 0, or <0 (no guard: the
 * copy is not tried). */
static int guard_start(struct copy_guard *g, pthread_t *t, struct store *s, int fd, const char *id,
		       uint64_t bytes)
{
	pthread_condattr_t ca;
	memset(g, 0, sizeof(*g));
	g->fd = fd;
	g->store = s;
	str_copy(g->id, sizeof(g->id), id);
	g->deadline_ms =
	    mono_ms() + REPLICA_COPY_BASE_MS + (int64_t)(bytes / 65536) * REPLICA_COPY_MS_PER_64K;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	int r = -pthread_create(t, NULL, guard_main, g);
	if (r < 0) {
		pthread_cond_destroy(&g->done_cv);
		pthread_mutex_destroy(&g->lock);
	}
	return r;
}

/* The copy is over: the guard stops (joined before fd may be closed). true if it cut the
 * connection (why says why). */
static bool guard_stop(struct copy_guard *g, pthread_t t)
{
	pthread_mutex_lock(&g->lock);
	g->done = true;
	pthread_cond_signal(&g->done_cv);
	pthread_mutex_unlock(&g->lock);
	pthread_join(t, NULL);
	pthread_cond_destroy(&g->done_cv);
	pthread_mutex_destroy(&g->lock);
	return g->cut;
}

/* One holder: 0 and held, or <0 (why said, audited where it is the holder's doing). */
static int copy_from(struct replica *r, const struct ledger_coord_state *st,
		     const struct ledger_holder *h)
{
	struct ledger_holder rec;
	char why[256] = "", detail[DETAIL_MAX] = "", route[64];
	uint8_t digest[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	struct http_response resp = {0};
	struct bundle meta = {0};
	int fd = -1;

	int rc = store_peer_connect(r->store, h->node, &rec, &fd, why, sizeof(why));
	if (rc < 0) {
		log_msg(LOG_WARNING, "copy of bundle %s: no connection to node %s: %s",
			st->current_id, h->node, why);
		return rc;
	}
	struct timeval tv = {.tv_sec = REPLICA_IO_TIMEOUT_S};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	uint8_t leaf_pin[PIN_BYTES];
	char detail0[DETAIL_MAX];
	if (pin_parse(rec.serving_pin, leaf_pin, detail0) < 0) {
		close(fd);
		log_msg(LOG_WARNING,
			"copy of bundle %s: node %s's registered pin is not of the form",
			st->current_id, h->node);
		return -EINVAL;
	}
	struct net_tls_opts o = {.server = rec.peer_address,
				 .pin = r->ca_pin,
				 .leaf_pin = leaf_pin,
				 .cert_file = r->cert_file,
				 .key_file = r->key_file};
	snprintf(route, sizeof(route), "%s?%s=%s", API_ROUTE_PEER_BUNDLE, API_Q_ID, st->current_id);
	struct copy_guard g;
	pthread_t gt;
	rc = guard_start(&g, &gt, r->store, fd, st->current_id, st->bytes);
	if (rc < 0) {
		close(fd);
		log_msg(LOG_WARNING, "copy of bundle %s: cannot start its guard: %s",
			st->current_id, strerror(-rc));
		goto out;
	}
	rc = net_https_request_fd(fd, &o, "GET", route, NULL, NULL, &resp, detail);
	bool cut = guard_stop(&g, gt);
	close(fd);
	if (cut) {
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = rec.peer_address,
					  .client = h->node,
					  .source = "peer",
					  .bundle_id = st->current_id,
					  .result = "copy-cut"},
			  "copy of bundle %s from node %s cut: %s; trying another holder",
			  st->current_id, h->node, g.why);
		rc = -ETIMEDOUT;
		goto out;
	}
	if (rc < 0) {
		log_msg(LOG_WARNING, "copy of bundle %s from node %s at %s failed: %s",
			st->current_id, h->node, rec.peer_address, detail);
		goto out;
	}
	if (resp.status != 200 || !resp.body) {
		log_msg(LOG_WARNING, "copy of bundle %s: node %s answered %d", st->current_id,
			h->node, resp.status);
		rc = -ENOENT;
		goto out;
	}
	crypto_hash_sha256(digest, resp.body->data, resp.body->len);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	if (resp.body->len != st->bytes || strcmp(hex, st->sha256) != 0 ||
	    bundle_parse((const char *)resp.body->data, resp.body->len, &meta, NULL) < 0 ||
	    strcmp(meta.id, st->current_id) != 0) {
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = rec.peer_address,
					  .client = h->node,
					  .source = "peer",
					  .bundle_id = st->current_id,
					  .result = "digest-mismatch"},
			  "node %s sent %zu bytes for bundle %s that are not the bundle announced "
			  "in etcd (%llu bytes, sha256 %.16s...): refused; trying another holder",
			  h->node, resp.body->len, st->current_id, (unsigned long long)st->bytes,
			  st->sha256);
		rc = -EBADMSG;
		goto out;
	}
	rc = store_hold_copy(r->store, TAKE_PTR(resp.body), &meta, r->max_ttl_ms);
	if (rc == 0)
		log_audit(&(struct audit){.event = AUDIT_UPLOAD,
					  .peer = rec.peer_address,
					  .client = h->node,
					  .source = "peer",
					  .bundle_id = meta.id,
					  .result = "copied"},
			  "bundle %s copied from node %s (sha256 checked against etcd's), held "
			  "until its sealed expiry at the latest",
			  meta.id, h->node);
	else if (rc == -EALREADY)
		rc = 0;
	else if (rc == -ESTALE && meta.expires_at <= time_now()) {
		char at[RFC3339_LEN];
		time_format(meta.expires_at, at);
		log_msg(LOG_WARNING,
			"bundle %s copied from node %s is past its sealed expiry (%s) by this "
			"node's clock: not held; if other nodes still serve it, this node's clock "
			"is ahead (check timedatectl / chrony)",
			meta.id, h->node, at);
	}
out:
	bundle_done(&meta);
	http_response_done(&resp);
	return rc;
}

/* One look: copy the cluster's bundle if it is not held here. true if nothing is left to
 * do (held, none, or no holder to copy from yet). */
static bool look(struct replica *r)
{
	struct ledger_coord_state st;
	store_coord_state(r->store, &st);
	if (!st.on || !st.current_id[0] || store_holds(r->store, st.current_id))
		return true;
	bool tried = false;
	for (size_t i = 0; i < st.n_holders && i < LEDGER_HOLDERS_MAX; i++) {
		if (!strcmp(st.holders[i].node, st.node))
			continue;
		tried = true;
		if (copy_from(r, &st, &st.holders[i]) == 0)
			return true;
	}
	/* Uploaded here and held nowhere (this node restarted without it, before any copy):
	 * nobody can serve it again; etcd says so (retired as lost), once the view is
	 * settled (synced, reachable, nothing of this node's waiting to be written). */
	if (!tried && st.synced && st.reachable && !st.pending && !strcmp(st.origin, st.node))
		(void)store_retire_lost(r->store, st.current_id);
	return !tried;
}

static void *replica_main(void *arg)
{
	struct replica *r = arg;
	int64_t next = 0;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		if (!r->kicked && mono_ms() < next) {
			int64_t until = next;
			struct timespec ts = {.tv_sec = until / 1000,
					      .tv_nsec = (until % 1000) * 1000000L};
			pthread_cond_timedwait(&r->wake, &r->lock, &ts);
			continue;
		}
		r->kicked = false;
		pthread_mutex_unlock(&r->lock);
		bool done = look(r);
		pthread_mutex_lock(&r->lock);
		next = mono_ms() + (done ? REPLICA_PERIOD_MS : REPLICA_RETRY_MS);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void kick(void *arg)
{
	struct replica *r = arg;
	pthread_mutex_lock(&r->lock);
	r->kicked = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

int replica_start(struct replica *r, struct store *s, const char *cert_file, const char *key_file,
		  const uint8_t ca_pin[PIN_BYTES], int64_t max_ttl_ms)
{
	pthread_condattr_t ca;
	memset(r, 0, sizeof(*r));
	r->store = s;
	r->cert_file = cert_file;
	r->key_file = key_file;
	memcpy(r->ca_pin, ca_pin, PIN_BYTES);
	r->max_ttl_ms = max_ttl_ms;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&r->thread, NULL, replica_main, r);
	if (rc != 0)
		return -rc;
	r->running = true;
	store_on_cluster_change(s, kick, r);
	return 0;
}

void replica_stop(struct replica *r)
{
	if (!r->running)
		return;
	store_on_cluster_change(r->store, NULL, NULL);
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	r->running = false;
}
