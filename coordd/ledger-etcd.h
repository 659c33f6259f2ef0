/* ledger-etcd.h - coordd's side of the ledger (proto/coord.md): the decisions every serving
 * node agrees on, made in etcd under a prefix by compare-and-swap transactions, metadata
 * only. One call per request of pkishared; each reads, decides, and writes in one
 * transaction whose compares name what it read, retried on a lost race until the
 * request's deadline. Writes are idempotent (a claim's id, a key id's bundle), so an
 * unknown outcome is resolved by reading again. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "coordmsg.h"
#include "etcd.h"

#define LEDGER_PREFIX_MAX 128

/* One per thread of coordd: an etcd client is used by one thread at a time. */
struct ledger_etcd {
	struct etcd *e;
	char prefix[LEDGER_PREFIX_MAX + 1];
	/* coordd's own lease, for the holders it registers (0: none yet). Shared by every
	 * thread's ledger: one keeps it alive (ledger_etcd_keepalive), the others read it. */
	_Atomic int64_t *lease;
};

/* Handle one request by deadline_ms (CLOCK_MONOTONIC). 0 with *ret_result (the op's result
 * object), or <0 with *ret_error and msg (printable) saying why. wait is not handled here
 * (the caller parks it on its watch). */
int ledger_etcd_handle(struct ledger_etcd *l, const struct coord_request *r, int64_t deadline_ms,
		       json_t **ret_result, enum coord_error *ret_error, char *msg, size_t msg_len);

/* The registered node (nodes/NODE) into ret, by deadline_ms: 0, -ENOENT (none: *ret_error
 * not-current), or <0 with *ret_error. */
int ledger_etcd_peer(struct ledger_etcd *l, const char *node, int64_t deadline_ms,
		     struct coord_holder *ret, enum coord_error *ret_error, char *msg,
		     size_t msg_len);

/* Withdraw node's peer registration (nodes/NODE): 0 or <0. */
int ledger_etcd_unregister(struct ledger_etcd *l, const char *node, int64_t deadline_ms);

/* The store's revision now (for wait), or <0 with *ret_error. */
int ledger_etcd_revision(struct ledger_etcd *l, int64_t deadline_ms, int64_t *ret_revision,
			 enum coord_error *ret_error);

/* Keep coordd's lease alive (grant one if none or gone) by deadline_ms. 0, or <0 with
 * *ret_error. Called by one thread only: two would each grant a lease when it is gone. */
int ledger_etcd_keepalive(struct ledger_etcd *l, int64_t ttl_s, int64_t deadline_ms,
			  enum coord_error *ret_error);
