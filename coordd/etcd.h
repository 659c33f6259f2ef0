/* etcd.h - a client of etcd's v3 JSON gateway over libcurl (its OpenSSL flavour, which
 * takes the client key from memory), for pkishare-coordd: the few calls coordination
 * needs, each bounded in time, and a watch that says when it is lost.
 *
 * What etcd 3.4 measurably does (../shared/etcd-coordination.md) decides the shape:
 *   - every call and watch carries "Grpc-Metadata-Hasleader: true", so a member without a
 *     leader answers 503 "no leader" in milliseconds instead of 7 s;
 *   - a call that was sent and not answered is an unknown outcome (-ETIMEDOUT): the
 *     caller decides by reading, never by retrying blindly (a claim id in the value);
 *   - a call that was never sent, or refused with "no leader", goes to the next member;
 *   - a watch never says it is dead: it asks for progress notifications and ends when
 *     nothing arrived for idle_timeout_s; every end of a watch is a lost watch.
 * The TLS key and certificate stay in the caller's guarded memory (libcurl is told not to
 * copy them). With etcd's own auth on, the token etcd gives is kept in guarded memory;
 * libcurl copies it into the request's header list for each call (documented in
 * docs/design.md: that copy is not wiped). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "etcdmsg.h"
#include "secret.h"

#define ETCD_ENDPOINTS_MAX 16
#define ETCD_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define ETCD_DEFAULT_CALL_TIMEOUT_MS 5000

/* What the clients of one process know of the members: when each last failed to answer
 * (CLOCK_MONOTONIC ms; 0: it answered since). Every client tries a member that failed
 * within ETCD_SUSPECT_MS after the others: one client meeting a hung member spares the
 * others (each would otherwise spend a share of its deadline on it, and a request of
 * several calls all of it). Shared by pointer (etcd_config.health). */
#define ETCD_SUSPECT_MS 10000
struct etcd_health {
	_Atomic int64_t failed_ms[ETCD_ENDPOINTS_MAX];
};

struct etcd_config {
	const char *const *endpoints; /* "https://HOST:PORT", tried in this order first */
	size_t n_endpoints;
	const struct secret *ca_pem;   /* etcd's CA: the members' certificates chain to it */
	const struct secret *cert_pem; /* this client's certificate and key */
	const struct secret *key_pem;
	const char *user; /* etcd's own auth: a user limited to our prefix (NULL: off) */
	const struct secret *password; /* with user */
	long connect_timeout_ms;       /* 0: ETCD_DEFAULT_CONNECT_TIMEOUT_MS */
	long call_timeout_ms;	       /* 0: ETCD_DEFAULT_CALL_TIMEOUT_MS */
	struct etcd_health *health;    /* shared with the process's other clients (NULL: own) */
};

struct etcd;

/* A client for cfg: the secrets are referenced, not copied, and must outlive it. With a
 * user, authenticates now. 0, or <0 as the calls below. */
int etcd_open(const struct etcd_config *cfg, struct etcd **ret);
struct etcd *etcd_free(struct etcd *e);
/* Bound the calls that follow, every member tried and every re-authentication included,
 * by deadline_ms (CLOCK_MONOTONIC, as time_mono_ms; 0: none, each try bounded by the
 * configured timeouts alone). Each try gets a share of what is left: its connection (TCP
 * and TLS) at most what is left over the members still to try, so a member that accepts
 * TCP but never answers (stopped) or drops every packet (cut off) leaves time for the
 * others; a read likewise, as it may go on to the next member; a write what is left, as
 * once sent it cannot. */
void etcd_set_deadline(struct etcd *e, int64_t deadline_ms);
/* While a call waits for etcd, fd is polled too and cb(arg) called each time it is
 * readable (a caller's listening socket: connections accepted, not left to age unseen).
 * fd <0: none. cb must not call into e. */
void etcd_set_idle(struct etcd *e, int fd, void (*cb)(void *arg), void *arg);
/* The member the last call went to, for messages. */
const char *etcd_endpoint(const struct etcd *e);

/* The calls. 0 on success. Failures:
 *   -EHOSTUNREACH  no member could be reached (nothing was sent anywhere);
 *   -ENOTCONN      every member reachable said it has no leader (nothing was applied);
 *   -ETIMEDOUT     sent, not answered in time (or "leader changed": an election under
 *                  way): the outcome is unknown;
 *   -ETIME         the deadline (etcd_set_deadline) passed before a member answered and
 *                  nothing was sent that could have applied (a write never left);
 *   -EACCES        refused: permission (etcd auth, a key outside the role's prefix);
 *   -EPROTO        etcd answered with another error (*ret_error says which; may be NULL);
 *   -EBADMSG       an answer this client does not understand;
 *   -ENOMEM, -EINVAL (arguments out of bounds). */
int etcd_range(struct etcd *e, const char *key, const char *range_end, bool serializable,
	       struct etcd_kvs *ret, struct etcd_error *ret_error);
/* How many keys are in the range (etcd counts them; at most one is sent). */
int etcd_range_count(struct etcd *e, const char *key, const char *range_end, uint64_t *ret_count,
		     struct etcd_error *ret_error);
int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *ret_revision, struct etcd_error *ret_error);
int etcd_delete(struct etcd *e, const char *key, const char *range_end, int64_t *ret_deleted,
		struct etcd_error *ret_error);
int etcd_txn(struct etcd *e, const struct etcd_txn *t, struct etcd_txn_result *ret,
	     struct etcd_error *ret_error);
/* id 0: etcd picks one. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t id, int64_t *ret_id,
		     struct etcd_error *ret_error);
/* One keep-alive; *ret_ttl 0 when the lease is gone. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl,
			 struct etcd_error *ret_error);
int etcd_lease_revoke(struct etcd *e, int64_t id, struct etcd_error *ret_error);

/* A watch of key (range_end as etcdmsg_range's) from start_revision (0: now), on the
 * next member in turn. cb gets every message (created, events, progress); returning <0
 * ends the watch with that value. */
struct etcd_watch;
typedef int (*etcd_watch_cb)(const struct etcd_watch_msg *m, void *arg);
int etcd_watch_open(struct etcd *e, const char *key, const char *range_end, int64_t start_revision,
		    long idle_timeout_s, etcd_watch_cb cb, void *arg, struct etcd_watch **ret);
/* Wait up to timeout_ms for the stream and hand what came to cb. 0: still watching.
 * -ECONNRESET: the watch is lost (the stream ended, for whatever reason: a member gone,
 * hung (idle_timeout_s), without a leader, a canceled watch); re-watch from the last
 * revision seen + 1. Other <0: cb's value, -E2BIG (a message over ETCD_LINE_MAX),
 * -EBADMSG (a message not understood). */
int etcd_watch_run(struct etcd_watch *w, int timeout_ms);
/* The same, also waiting for the descriptors in extra (their revents filled in): a
 * caller's own sockets in one poll with the watch. */
int etcd_watch_poll(struct etcd_watch *w, struct curl_waitfd *extra, unsigned n_extra,
		    int timeout_ms);
/* Why the watch ended, for the log ("" while it runs). */
const char *etcd_watch_why(const struct etcd_watch *w);
/* The revision of the last message seen (0: none yet). */
int64_t etcd_watch_revision(const struct etcd_watch *w);
struct etcd_watch *etcd_watch_free(struct etcd_watch *w);
