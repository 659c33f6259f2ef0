/* metrics.c - the Prometheus text exposition of pkishared's counters and gauges. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "metrics.h"
#include "store.h"

static const char *const fetch_names[M_FETCH_N] = {"ok",
						   "expired",
						   "used-up",
						   "deleted",
						   "not-found",
						   "other-bundle-held",
						   "coordination-unavailable"};
static const char *const enroll_names[M_ENROLL_N] = {"ok",	"bad-token",	"token-expired",
						     "bad-csr", "rate-limited", "too-large"};
static const char *const auth_names[M_AUTH_N] = {"tls-handshake", "client-certificate",
						 "join-token", "admin-socket"};
static const char *const upload_names[M_UPLOAD_N] = {"ok", "refused"};

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		if (!b->p)
			return;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		char *q = realloc(b->p, b->cap * 2 + (size_t)n);
		if (!q) {
			free(b->p);
			b->p = NULL;
			return;
		}
		b->p = q;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(const struct metrics *m, const struct store_view *v)
{
	struct buf b = {.p = malloc(4096), .cap = 4096};

	family(&b, "pkishare_bundle_held", "gauge",
	       "Whether a sealed bundle is held (1) or not (0).");
	put(&b, "pkishare_bundle_held %d\n", v->held ? 1 : 0);
	family(&b, "pkishare_bundle_expires_in_seconds", "gauge",
	       "Seconds until the held bundle is wiped (0 when none is held).");
	put(&b, "pkishare_bundle_expires_in_seconds %lld\n",
	    v->held ? (long long)v->bundle.expires_in_s : 0LL);
	family(&b, "pkishare_bundle_fetches_total", "counter", "Bundle fetches by result.");
	for (int i = 0; i < M_FETCH_N; i++)
		put(&b, "pkishare_bundle_fetches_total{result=\"%s\"} %llu\n", fetch_names[i],
		    (unsigned long long)atomic_load(&m->fetch[i]));
	family(&b, "pkishare_bundle_fetches_by_source_total", "counter",
	       "Successful bundle fetches by where the client identity comes from.");
	put(&b, "pkishare_bundle_fetches_by_source_total{source=\"client-ca\"} %llu\n",
	    (unsigned long long)atomic_load(&m->fetch_by_source[M_SOURCE_CA]));
	put(&b, "pkishare_bundle_fetches_by_source_total{source=\"enrolled\"} %llu\n",
	    (unsigned long long)atomic_load(&m->fetch_by_source[M_SOURCE_ENROLLED]));
	family(&b, "pkishare_bundle_fetches_waiting", "gauge",
	       "Fetches whose connection waits for their claim (queued or being claimed).");
	put(&b, "pkishare_bundle_fetches_waiting %llu\n",
	    (unsigned long long)atomic_load(&m->fetches_waiting));
	family(&b, "pkishare_uploads_total", "counter", "Bundle uploads by result.");
	for (int i = 0; i < M_UPLOAD_N; i++)
		put(&b, "pkishare_uploads_total{result=\"%s\"} %llu\n", upload_names[i],
		    (unsigned long long)atomic_load(&m->upload[i]));
	family(&b, "pkishare_enrollments_total", "counter", "Enrollments by result.");
	for (int i = 0; i < M_ENROLL_N; i++)
		put(&b, "pkishare_enrollments_total{result=\"%s\"} %llu\n", enroll_names[i],
		    (unsigned long long)atomic_load(&m->enroll[i]));
	family(&b, "pkishare_authentication_failures_total", "counter",
	       "Refused identities by where they were refused.");
	for (int i = 0; i < M_AUTH_N; i++)
		put(&b, "pkishare_authentication_failures_total{stage=\"%s\"} %llu\n",
		    auth_names[i], (unsigned long long)atomic_load(&m->auth_fail[i]));
	family(&b, "pkishare_tokens_active", "gauge", "Join tokens that can still be used.");
	put(&b, "pkishare_tokens_active %zu\n", v->n_tokens);
	family(&b, "pkishare_state_kept", "gauge",
	       "Whether the held state is kept in systemd's file descriptor store (1) or ends "
	       "with this process (0).");
	put(&b, "pkishare_state_kept %d\n", v->kept.kept ? 1 : 0);
	family(&b, "pkishare_state_restores_total", "counter",
	       "Restarts of pkishared the held state has survived.");
	put(&b, "pkishare_state_restores_total %llu\n", (unsigned long long)v->kept.restores);
	family(&b, "pkishare_state_refused", "gauge",
	       "Whether this process found a kept state that failed a check and started empty.");
	put(&b, "pkishare_state_refused %d\n", v->kept.refused ? 1 : 0);
	if (v->coord.on) {
		/* Coordination only: where the cluster stands, as this node last heard it. */
		family(&b, "pkishare_coordination_reachable", "gauge",
		       "Whether pkishare-coordd and etcd answered this node's last call (1) or "
		       "not (0): fetches here are refused while they do not.");
		put(&b, "pkishare_coordination_reachable %d\n",
		    v->coord.reachable && !v->coord.error[0] ? 1 : 0);
		family(&b, "pkishare_coordination_pending_writes", "gauge",
		       "Writes (a delete, an expiry) this node made that etcd has not taken yet.");
		put(&b, "pkishare_coordination_pending_writes %zu\n", v->coord.pending);
		family(&b, "pkishare_cluster_bundle_current", "gauge",
		       "Whether the cluster has a current bundle (1) or not (0).");
		put(&b, "pkishare_cluster_bundle_current %d\n", v->cluster.current ? 1 : 0);
		family(&b, "pkishare_cluster_holders", "gauge",
		       "Nodes registered in etcd as holding the cluster's current bundle.");
		put(&b, "pkishare_cluster_holders %zu\n",
		    v->cluster.current ? v->coord.n_holders : 0);
		family(&b, "pkishare_cluster_fetches", "gauge",
		       "Fetches of the cluster's current bundle counted in etcd, on every node.");
		put(&b, "pkishare_cluster_fetches %llu\n",
		    (unsigned long long)(v->cluster.current ? v->cluster.fetches : 0));
	}
	family(&b, "pkishare_build_info", "gauge", "Build information; always 1.");
	put(&b, "pkishare_build_info{version=\"%s\"} 1\n", PKISHARE_VERSION);
	return b.p;
}
