/* etcdmsg.h - the messages of etcd's v3 JSON gateway (etcd 3.4; ../shared/etcd-coordination.md):
 * requests built and answers parsed, with nothing else (no I/O), so unit.etcdmsg and
 * fuzz.etcdmsg reach every answer the client reads.
 *
 * The gateway's shapes: keys and values base64; 64-bit integers as decimal strings (a
 * bare number is taken too); proto3 JSON omits zero values (no "kvs" for a missing key, no
 * "succeeded" on a failed txn, no "type" on a PUT event): every absent field reads as its
 * zero. A field of the wrong type is a refusal (-EBADMSG), never a default. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "secret.h"

#define ETCD_KEY_MAX 1024		/* bytes of a key this client reads or writes */
#define ETCD_VALUE_MAX (64 * 1024)	/* bytes of a value */
#define ETCD_KVS_MAX 4096		/* key-values in one answer */
#define ETCD_EVENTS_MAX 4096		/* events in one watch message */
#define ETCD_LINE_MAX (8 * 1024 * 1024) /* one message of a stream (a watch, a keep-alive) */
#define ETCD_TXN_OPS_MAX 16
#define ETCD_MESSAGE_MAX 256

/* One key-value. key and value are NUL-terminated copies (value may hold NUL bytes; its
 * length is value_len). */
struct etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

/* The answer of a range (or a txn's range). */
struct etcd_kvs {
	struct etcd_kv *kv;
	size_t n;
	int64_t revision; /* the header's: the store's revision when it answered */
	int64_t count;
	bool more;
};
void etcd_kvs_done(struct etcd_kvs *k);

/* An error answer: {"error": TEXT, "code": N, "message": TEXT} (gRPC codes: 3 invalid
 * argument, 7 permission denied, 2 unknown (a deadline on a put), 14 unavailable (no
 * leader, request timed out), 16 unauthenticated). */
struct etcd_error {
	int code;
	char message[ETCD_MESSAGE_MAX];
};
/* 0 with ret filled in when body is such an answer, -EBADMSG otherwise. */
int etcdmsg_error(const char *body, size_t len, struct etcd_error *ret);
/* The gRPC code 14 answer "etcdserver: no leader" (the member knows it has no leader:
 * nothing was proposed, another member may be tried). */
bool etcd_error_no_leader(const struct etcd_error *e);

/* Requests (NULL on allocation failure or an argument out of bounds). range_end NULL:
 * the one key; "" (empty): every key from key on; else the end (exclusive). */
json_t *etcdmsg_range(const char *key, const char *range_end, int64_t revision, bool serializable,
		      int64_t limit);
json_t *etcdmsg_put(const char *key, const void *value, size_t value_len, int64_t lease);
json_t *etcdmsg_delete(const char *key, const char *range_end);
/* The end of the range of every key that starts with prefix (etcd's "prefix + 1"), into
 * buf (len bytes). -ENOBUFS if it does not fit, -EINVAL for an empty prefix or one of all
 * 0xff bytes. */
int etcd_prefix_end(const char *prefix, char *buf, size_t len);

enum etcd_target { ETCD_VERSION, ETCD_CREATE, ETCD_MOD, ETCD_VALUE, ETCD_LEASE };
enum etcd_result { ETCD_EQUAL, ETCD_GREATER, ETCD_LESS, ETCD_NOT_EQUAL };
struct etcd_cmp {
	const char *key;
	enum etcd_target target;
	enum etcd_result result;
	int64_t number; /* VERSION, CREATE, MOD, LEASE */
	const void *value;
	size_t value_len; /* VALUE */
};
enum etcd_op_kind { ETCD_OP_RANGE, ETCD_OP_PUT, ETCD_OP_DELETE };
struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	const char *range_end; /* RANGE, DELETE: as etcdmsg_range's */
	const void *value;     /* PUT */
	size_t value_len;
	int64_t lease; /* PUT: 0 none */
};
struct etcd_txn {
	const struct etcd_cmp *cmp;
	size_t n_cmp;
	const struct etcd_op *success, *failure;
	size_t n_success, n_failure;
};
json_t *etcdmsg_txn(const struct etcd_txn *t);

/* A txn's answer: whether the compares held, the revision, and the answers of its range
 * operations in order (puts and deletes leave no entry). */
struct etcd_txn_result {
	bool succeeded;
	int64_t revision;
	struct etcd_kvs ranges[ETCD_TXN_OPS_MAX];
	size_t n_ranges;
};
void etcd_txn_result_done(struct etcd_txn_result *r);

/* Answers. 0 with ret filled in, -EBADMSG for anything not of the shape (ret untouched),
 * -E2BIG past a bound, -ENOMEM. */
int etcdmsg_range_result(const char *body, size_t len, struct etcd_kvs *ret);
int etcdmsg_txn_result(const char *body, size_t len, struct etcd_txn_result *ret);
/* put, deleterange, lease revoke: the header's revision (deleted: how many keys went). */
int etcdmsg_write_result(const char *body, size_t len, int64_t *ret_revision, int64_t *ret_deleted);

/* Leases: a client-chosen id (0: etcd picks) makes a retried grant detectable (412
 * "lease already exists"). */
json_t *etcdmsg_lease_grant(int64_t ttl_s, int64_t id);
json_t *etcdmsg_lease_id(int64_t id); /* keep-alive and revoke */
int etcdmsg_lease_grant_result(const char *body, size_t len, int64_t *ret_id, int64_t *ret_ttl);
/* One keep-alive answer ({"result": {"ID", "TTL"}}): TTL 0 when the lease is gone. */
int etcdmsg_keepalive_result(const char *line, size_t len, int64_t *ret_id, int64_t *ret_ttl);

/* Authentication (etcd's own auth on): the password is secret, so is the body and the
 * token; both in guarded memory. */
int etcdmsg_authenticate(const char *user, const struct secret *password, struct secret **ret_body);
int etcdmsg_auth_result(const char *body, size_t len, struct secret **ret_token);

/* Watch: one create request per stream; progress_notify asks the members for heartbeats
 * (at --experimental-watch-progress-notify-interval) so a hung member is noticed. */
json_t *etcdmsg_watch_create(const char *key, const char *range_end, int64_t start_revision,
			     bool progress_notify, bool prev_kv);
struct etcd_event {
	bool deleted; /* else a put */
	struct etcd_kv kv;
	bool has_prev;
	struct etcd_kv prev;
};
struct etcd_watch_msg {
	int64_t revision; /* the header's */
	int64_t watch_id;
	bool created;
	bool canceled;
	int64_t compact_revision; /* canceled because start_revision was compacted */
	char cancel_reason[ETCD_MESSAGE_MAX];
	struct etcd_event *events;
	size_t n_events;
	/* Neither created, canceled nor any event: a progress notification. */
	bool progress;
};
/* One message of a watch stream: {"result": {...}}, or an error object (-EPROTO with
 * *ret_error filled in; ret_error may be NULL). */
int etcdmsg_watch_msg(const char *line, size_t len, struct etcd_watch_msg *ret,
		      struct etcd_error *ret_error);
void etcd_watch_msg_done(struct etcd_watch_msg *m);

/* A stream's bytes, as they come, cut into its messages (one per line; a message may span
 * many writes). At most max bytes of one message are kept. */
struct etcd_lines {
	char *buf;
	size_t len, cap, max;
	bool overflow; /* a message was longer than max: the stream cannot be trusted */
};
/* Feed n bytes; call cb for each whole line (without its newline; empty lines skipped).
 * cb returning <0 stops and is returned. -E2BIG once a line passes max (overflow set),
 * -ENOMEM. */
int etcd_lines_feed(struct etcd_lines *l, const char *data, size_t n,
		    int (*cb)(const char *line, size_t len, void *arg), void *arg);
void etcd_lines_done(struct etcd_lines *l);
