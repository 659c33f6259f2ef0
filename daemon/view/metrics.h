/* metrics.h - counters for GET /metrics (Prometheus text format), updated from the serving
 * and admin threads with atomic increments. Never a secret: counts and ids' absence only. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

enum metric_fetch {
	M_FETCH_OK,
	M_FETCH_EXPIRED,
	M_FETCH_USED_UP,
	M_FETCH_DELETED,
	M_FETCH_NONE,
	M_FETCH_OTHER,	     /* ?id= named a bundle that is no longer held */
	M_FETCH_UNAVAILABLE, /* coordination could not grant a slot */
	M_FETCH_N
};
enum metric_enroll {
	M_ENROLL_OK,
	M_ENROLL_BAD_TOKEN,
	M_ENROLL_TOKEN_EXPIRED,
	M_ENROLL_BAD_CSR,
	M_ENROLL_RATE_LIMITED,
	M_ENROLL_TOO_LARGE,
	M_ENROLL_N
};
enum metric_auth { M_AUTH_TLS, M_AUTH_CLIENT, M_AUTH_TOKEN, M_AUTH_ADMIN, M_AUTH_N };
enum metric_source { M_SOURCE_CA, M_SOURCE_ENROLLED, M_SOURCE_N };
enum metric_upload { M_UPLOAD_OK, M_UPLOAD_REFUSED, M_UPLOAD_N };

struct metrics {
	_Atomic uint64_t fetch[M_FETCH_N];
	_Atomic uint64_t fetch_by_source[M_SOURCE_N]; /* successful fetches */
	_Atomic uint64_t enroll[M_ENROLL_N];
	_Atomic uint64_t auth_fail[M_AUTH_N];
	_Atomic uint64_t upload[M_UPLOAD_N];
	_Atomic uint64_t fetches_waiting; /* suspended for their claim (serve/fetchq.c) */
};

#define METRIC_INC(m, field, idx) atomic_fetch_add(&(m)->field[(idx)], 1)

struct store_view;
/* The exposition text of the counters m and the held state v (malloc'd, NUL-terminated),
 * or NULL. Pure: reads only what it is given. */
char *metrics_render(const struct metrics *m, const struct store_view *v);
