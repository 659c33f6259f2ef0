/* admin.c - the admin API on a local unix socket: upload, delete, status.
 *
 * Only root or the daemon's own uid may talk to it (SO_PEERCRED on every request). Bodies
 * are capped before they are read and accumulate in guarded memory. The daemon checks a
 * bundle's structure and times, never its contents: it holds no key to open it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "api.h"
#include "config.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "pin.h"
#include "status.h"
#include "token.h"
#include "util.h"

struct admin_req {
	struct secret *body;
	bool too_big;
};

static void request_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
			      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct admin_req *r = *req_ctx;
	if (!r)
		return;
	secret_free(r->body);
	free(r);
	*req_ctx = NULL;
}

static bool peer_is_trusted(struct MHD_Connection *c, char *who, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t sl = sizeof(cred);

	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0) {
		str_copy(who, len, "unknown");
		return false;
	}
	snprintf(who, len, "uid=%u pid=%d", (unsigned)cred.uid, (int)cred.pid);
	return cred.uid == 0 || cred.uid == geteuid();
}

#define RELOAD_WAIT_S 20

/* POST /v1/reload: ask the main thread to reload (as SIGHUP does) and answer with the
 * outcome, so that `systemctl reload` (ExecReload=pkishare reload) fails when the new
 * configuration or TLS files are refused. */
static enum MHD_Result do_reload(struct daemon_ctx *ctx, struct MHD_Connection *c, const char *who)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += RELOAD_WAIT_S;
	pthread_mutex_lock(&ctx->reload_lock);
	uint64_t gen = ctx->reload_gen;
	log_msg(LOG_INFO, "reload requested by %s on the admin socket", who);
	kill(getpid(), SIGHUP); /* taken by the main thread's sigwait() */
	int r = 0;
	while (ctx->reload_gen == gen && r == 0)
		r = pthread_cond_timedwait(&ctx->reload_done, &ctx->reload_lock, &until);
	bool done = ctx->reload_gen != gen, ok = ctx->reload_ok;
	char why[sizeof(ctx->reload_why)];
	str_copy(why, sizeof(why), ctx->reload_why);
	pthread_mutex_unlock(&ctx->reload_lock);
	if (!done)
		return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_TIMEOUT,
				  "the reload did not finish within %d s; see the daemon's log",
				  RELOAD_WAIT_S);
	if (!ok)
		return http_error(
		    c, MHD_HTTP_CONFLICT, API_R_RELOAD_REFUSED,
		    "reload refused, still serving with the previous configuration: %s", why);
	return http_json(c, MHD_HTTP_OK, json_pack("{s:b}", API_F_RELOADED, 1));
}

/* Why an upload is refused: its answer and its audit entry ("refused upload: " + log). */
struct refusal {
	unsigned status;
	enum api_reason reason;
	const char *result; /* the audit entry's result */
	char log[320];
	char msg[640];
};

/* Fill r and return -EINVAL, for a check's one-line refusal. */
static int refuse(struct refusal *r, unsigned status, enum api_reason reason, const char *result)
{
	r->status = status;
	r->reason = reason;
	r->result = result;
	return -EINVAL;
}

/* The request: maxFetches and the bundle's description. 0, or <0 with r filled in. */
static int upload_parse(struct MHD_Connection *c, const struct admin_req *req, struct bundle *meta,
			uint64_t *ret_max_fetches, struct refusal *r)
{
	char detail[DETAIL_MAX] = "";
	const char *mf = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, API_Q_MAX_FETCHES);
	if (mf && uint_parse(mf, API_MAX_FETCHES, ret_max_fetches) < 0) {
		str_copy(r->log, sizeof(r->log), "bad maxFetches");
		str_format(r->msg, sizeof(r->msg), "maxFetches must be a whole number from 0 to %d",
			   API_MAX_FETCHES);
		return refuse(r, MHD_HTTP_BAD_REQUEST, API_R_BAD_REQUEST, "bad-request");
	}
	if (!req->body || req->body->len == 0) {
		str_copy(r->log, sizeof(r->log), "empty body");
		str_copy(r->msg, sizeof(r->msg), "the request body must be a sealed bundle (JSON)");
		return refuse(r, MHD_HTTP_BAD_REQUEST, API_R_BAD_REQUEST, "bad-request");
	}
	int e = bundle_parse((const char *)req->body->data, req->body->len, meta, detail);
	if (e < 0) {
		str_format(r->log, sizeof(r->log), "%s (%s)", error_message(e), LOG_Q(detail));
		str_format(r->msg, sizeof(r->msg), "%s: %s", error_message(e), detail);
		return refuse(r, MHD_HTTP_BAD_REQUEST, API_R_BAD_BUNDLE, "bad-bundle");
	}
	return 0;
}

/* How long to hold it: never longer than the lifetime the uploader asked for, whatever
 * this clock says (a daemon clock behind the uploader's would otherwise lengthen it), and
 * within --max-ttl. 0 with *ret_ttl_s, or <0 with r filled in. */
static int upload_ttl(const struct daemon_config *cfg, const struct bundle *meta,
		      int64_t *ret_ttl_s, struct refusal *r)
{
	int64_t ttl = meta->expires_at - time_now();
	if (ttl > meta->expires_at - meta->created_at)
		ttl = meta->expires_at - meta->created_at;
	if (ttl <= 0) {
		str_copy(r->log, sizeof(r->log), "bundle already expired");
		str_copy(r->msg, sizeof(r->msg),
			 "the bundle's expiresAt is in the past; check this node's clock and "
			 "upload again");
		return refuse(r, MHD_HTTP_BAD_REQUEST, API_R_EXPIRED, "expired");
	}
	if (ttl > cfg->max_ttl_s) {
		char ttl_txt[32], max_txt[32];
		duration_format(ttl, ttl_txt, sizeof(ttl_txt));
		duration_format(cfg->max_ttl_s, max_txt, sizeof(max_txt));
		str_format(r->log, sizeof(r->log), "TTL %s over maximum %s", ttl_txt, max_txt);
		str_format(r->msg, sizeof(r->msg),
			   "the requested TTL (%s) is longer than this daemon's --max-ttl (%s); "
			   "ask for a shorter --ttl",
			   ttl_txt, max_txt);
		return refuse(r, MHD_HTTP_BAD_REQUEST, API_R_TTL_TOO_LONG, "ttl-too-long");
	}
	*ret_ttl_s = ttl;
	return 0;
}

/* What store_put's refusal e means to the uploader: -EINVAL with r filled in, or e when it
 * is not one of the uploader's making. */
static int upload_store_refusal(struct daemon_ctx *ctx, int e, const struct bundle *meta,
				struct refusal *r)
{
	struct ledger_coord_state cs;
	switch (e) {
	case -ENOLINK:
		store_coord_state(&ctx->store, &cs);
		str_format(r->log, sizeof(r->log), "coordination did not decide: %s", cs.error);
		str_format(r->msg, sizeof(r->msg),
			   "the cluster's coordination could not announce this bundle (%s); "
			   "nothing is held; check pkishare-coordd and etcd ('pkishare status', "
			   "'journalctl -u pkishare-coordd'), then run upload-certs again (it "
			   "makes a new key)",
			   cs.error);
		return refuse(r, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE,
			      "coordination-unavailable");
	case -EXDEV:
		str_copy(r->log, sizeof(r->log), "it would drop the external etcd files");
		str_copy(r->msg, sizeof(r->msg),
			 "the previous upload carried the external etcd CA and client pair and "
			 "this one does not; pass --external-etcd-ca/-cert/-key again, or "
			 "--drop-external-etcd if that is intended");
		return refuse(r, MHD_HTTP_CONFLICT, API_R_DROPS_EXTERNAL_ETCD,
			      "drops-external-etcd");
	case -EEXIST:
		str_format(r->log, sizeof(r->log), "key id %s was used before", meta->key_id);
		str_format(r->msg, sizeof(r->msg),
			   "certificate key %s was already used for an earlier upload; every "
			   "upload needs a fresh key (let 'pkishare upload-certs' make one)",
			   meta->key_id);
		return refuse(r, MHD_HTTP_CONFLICT, API_R_KEY_REUSED, "key-reused");
	case -ENOSPC:
		str_format(r->log, sizeof(r->log), "the key-id history is full (%d key ids)",
			   STORE_MAX_SEEN_KEYS);
		str_format(r->msg, sizeof(r->msg),
			   "pkishared remembers %d used certificate keys and has seen that many "
			   "since its state began; it forgets none, so that none can be used "
			   "again. Start a new state with 'systemctl stop pkishared' and start "
			   "(this wipes the held bundle, the join tokens and the history), then "
			   "upload",
			   STORE_MAX_SEEN_KEYS);
		return refuse(r, MHD_HTTP_INSUFFICIENT_STORAGE, API_R_KEY_HISTORY_FULL,
			      "key-history-full");
	default:
		return e;
	}
}

/* PUT /v1/bundle: parse → check the lifetime → hold (store_put) → say so. */
static enum MHD_Result do_upload(struct daemon_ctx *ctx, struct MHD_Connection *c,
				 struct admin_req *req, const char *who)
{
	_cleanup_(bundle_done) struct bundle meta = {0};
	char replaced[BUNDLE_ID_HEX_LEN + 1], until[RFC3339_LEN];
	uint64_t max_fetches = 0;
	int64_t ttl = 0;
	struct refusal ref = {0};
	struct audit a = {.event = AUDIT_UPLOAD, .peer = "admin", .client = who};

	int r = upload_parse(c, req, &meta, &max_fetches, &ref);
	if (r == 0) {
		a.bundle_id = meta.id;
		r = upload_ttl(ctx->cfg, &meta, &ttl, &ref);
	}
	if (r == 0) {
		const char *drop =
		    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, API_Q_DROP_EXTERNAL_ETCD);
		r = store_put(&ctx->store, TAKE_PTR(req->body), &meta, ttl * 1000, max_fetches,
			      drop && strcmp(drop, "true") == 0, replaced);
		bundle_done(&meta); /* the ciphertext copies are not needed, only the header */
		r = upload_store_refusal(ctx, r, &meta, &ref);
	}
	if (r < 0 && ref.result) {
		METRIC_INC(&ctx->metrics, upload, M_UPLOAD_REFUSED);
		a.result = ref.result;
		log_audit(&a, "refused upload: %s", ref.log);
		return http_error(c, ref.status, ref.reason, "%s", ref.msg);
	}
	if (r < 0)
		return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_R_INTERNAL, "%s",
				  error_message(r));
	if (replaced[0])
		log_audit(&(struct audit){.event = AUDIT_WIPE,
					  .peer = "admin",
					  .client = who,
					  .bundle_id = replaced,
					  .result = "ok"},
			  ctx->cfg->coord_socket
			      ? "bundle %s replaced in the cluster by %s (each node that held it "
				"wipes it)"
			      : "bundle %s wiped: replaced by %s",
			  replaced, meta.id);
	time_format(meta.expires_at, until);
	METRIC_INC(&ctx->metrics, upload, M_UPLOAD_OK);
	a.result = "ok";
	log_audit(&a, "bundle %s (key id %s) held until %s, max fetches %llu", meta.id, meta.key_id,
		  until, (unsigned long long)max_fetches);
	return http_json(c, MHD_HTTP_CREATED,
			 json_pack("{s:s, s:s, s:s, s:I, s:s?}", API_F_ID, meta.id, API_F_KEY_ID,
				   meta.key_id, API_F_EXPIRES_AT, until, API_F_MAX_FETCHES,
				   (json_int_t)max_fetches, API_F_REPLACED,
				   replaced[0] ? replaced : NULL));
}

#define TOKEN_DEFAULT_TTL_S (24 * 3600)

static enum MHD_Result do_token_create(struct daemon_ctx *ctx, struct MHD_Connection *c,
				       struct admin_req *req, const char *who)
{
	struct audit a = {.event = AUDIT_TOKEN, .peer = "admin", .client = who};
	json_t *j = req->body ? json_loadb((const char *)req->body->data, req->body->len,
					   JSON_REJECT_DUPLICATES, NULL)
			      : NULL;
	const char *id = json_string_value(json_object_get(j, API_F_ID));
	const char *hash_hex = json_string_value(json_object_get(j, API_F_SECRET_HASH));
	json_t *ttl_j = json_object_get(j, API_F_TTL_SECONDS),
	       *uses_j = json_object_get(j, API_F_USES);
	json_int_t ttl = ttl_j ? json_integer_value(ttl_j) : TOKEN_DEFAULT_TTL_S;
	json_int_t uses = uses_j ? json_integer_value(uses_j) : 0;
	json_t *desc_j = json_object_get(j, API_F_DESCRIPTION);
	uint8_t hash[TOKEN_HASH_BYTES];
	size_t bin_len = 0;

	if (!j || !token_id_valid(id) || !hash_hex || strlen(hash_hex) != TOKEN_HASH_HEX_LEN ||
	    sodium_hex2bin(hash, sizeof(hash), hash_hex, TOKEN_HASH_HEX_LEN, NULL, &bin_len,
			   NULL) != 0 ||
	    bin_len != TOKEN_HASH_BYTES || (ttl_j && !json_is_integer(ttl_j)) ||
	    (uses_j && !json_is_integer(uses_j)) || ttl <= 0 || ttl > ctx->cfg->max_ttl_s ||
	    uses < 0 || uses > API_TOKEN_MAX_USES) {
		json_decref(j);
		a.result = "bad-request";
		log_audit(&a, "refused token creation: malformed request");
		return http_error(c, MHD_HTTP_BAD_REQUEST, API_R_BAD_REQUEST,
				  "expected {\"id\": 6 characters a-z0-9, \"secretHash\": 64 hex, "
				  "\"ttlSeconds\": 1..%lld, \"uses\": 0..%d}",
				  (long long)ctx->cfg->max_ttl_s, API_TOKEN_MAX_USES);
	}
	const char *desc = json_string_value(desc_j);
	if ((desc_j && !json_is_string(desc_j) && !json_is_null(desc_j)) ||
	    !tokens_description_ok(desc)) {
		json_decref(j);
		a.result = "bad-request";
		log_audit(&a, "refused token creation: the description is not acceptable");
		return http_error(
		    c, MHD_HTTP_BAD_REQUEST, API_R_BAD_REQUEST,
		    "the description must be at most %d printable ASCII characters "
		    "(letters, digits, spaces, punctuation; no control characters, "
		    "no newline, nothing outside ASCII; not only spaces); no token was "
		    "created",
		    API_TOKEN_DESCRIPTION_MAX);
	}
	char idbuf[TOKEN_ID_LEN + 1];
	char descbuf[API_TOKEN_DESCRIPTION_MAX + 1];
	str_copy(idbuf, sizeof(idbuf), id);
	str_copy(descbuf, sizeof(descbuf), desc ? desc : "");
	json_decref(j);
	int r = store_token_add(&ctx->store, idbuf, hash, ttl, (uint64_t)uses, descbuf);
	if (r == -ENOLINK) {
		struct ledger_coord_state cs;
		store_coord_state(&ctx->store, &cs);
		a.result = "coordination-unavailable";
		log_audit(&a, "token creation not done: coordination did not answer: %s", cs.error);
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 2,
		    "join tokens are the cluster's, and its coordination did not answer (%s); no "
		    "token was created; check pkishare-coordd and etcd ('pkishare status') and "
		    "try again",
		    cs.error);
	}
	if (r < 0) {
		a.result = r == -EEXIST ? "exists" : "too-many";
		log_audit(&a, "refused token creation: %s", a.result);
		return http_error(c, MHD_HTTP_CONFLICT,
				  r == -EEXIST ? API_R_EXISTS : API_R_TOO_MANY,
				  r == -EEXIST ? "a token with this id exists; delete it first"
					       : "too many tokens (%d); delete some",
				  STORE_MAX_TOKENS);
	}
	a.result = "ok";
	a.client = idbuf;
	log_audit(&a, "join token %s created (%llds, uses %lld) by %s", idbuf, (long long)ttl,
		  (long long)uses, who);
	return http_json(c, MHD_HTTP_CREATED, json_pack("{s:s}", API_F_ID, idbuf));
}

#define ADMIN_FLUSH_MS 5000

/* DELETE /v1/bundle. */
static enum MHD_Result do_delete(struct daemon_ctx *ctx, struct MHD_Connection *c, const char *who)
{
	char id[BUNDLE_ID_HEX_LEN + 1];
	struct ledger_coord_state cs;
	if (store_delete(&ctx->store, id) < 0)
		return http_error(c, MHD_HTTP_NOT_FOUND, API_R_NOT_FOUND,
				  "no bundle is held; nothing to delete");
	/* With coordination: the other nodes learn it from etcd; wait for that write. */
	if (store_flush(&ctx->store, ADMIN_FLUSH_MS) < 0) {
		store_coord_state(&ctx->store, &cs);
		log_audit(&(struct audit){.event = AUDIT_WIPE,
					  .peer = "admin",
					  .client = who,
					  .bundle_id = id,
					  .result = "pending"},
			  "bundle %s wiped here on request; the cluster not told yet: %s", id,
			  cs.error);
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 5,
		    "bundle %s is wiped on this node, but the cluster's coordination did not take "
		    "the delete yet (its last failure: %s): other nodes may still serve it until "
		    "they hear; "
		    "pkishared keeps trying; check pkishare-coordd and etcd, and run delete-certs "
		    "again to see it done",
		    id, cs.error);
	}
	log_audit(&(struct audit){.event = AUDIT_WIPE,
				  .peer = "admin",
				  .client = who,
				  .bundle_id = id,
				  .result = "ok"},
		  "bundle %s wiped on request", id);
	return http_json(c, MHD_HTTP_OK, json_pack("{s:s}", API_F_DELETED, id));
}

/* GET /v1/tokens. */
static enum MHD_Result do_token_list(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	struct store_view v;
	store_view(&ctx->store, &v);
	json_t *list = status_tokens_json(&v);
	store_view_done(&v);
	return http_json(c, MHD_HTTP_OK, list);
}

/* DELETE /v1/tokens/ID. */
static enum MHD_Result do_token_delete(struct daemon_ctx *ctx, struct MHD_Connection *c,
				       const char *id, const char *who)
{
	int r = token_id_valid(id) ? store_token_delete(&ctx->store, id) : -ENOENT;
	if (r == -ENOLINK)
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 2,
		    "join tokens are the cluster's, and its coordination did not answer; token "
		    "%.16s was not deleted; check pkishare-coordd and etcd and try again",
		    id);
	if (r < 0)
		return http_error(c, MHD_HTTP_NOT_FOUND, API_R_NOT_FOUND,
				  "no join token with id '%.16s'", id);
	log_audit(
	    &(struct audit){
		.event = AUDIT_TOKEN, .peer = "admin", .client = id, .result = "deleted"},
	    "join token %s deleted by %s", id, who);
	return http_json(c, MHD_HTTP_OK, json_pack("{s:s}", API_F_DELETED, id));
}

/* GET /v1/status: the store's view, with what only the serving side knows. */
static enum MHD_Result do_status(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	struct store_view v;
	store_view(&ctx->store, &v);
	json_t *st = status_json(&v);
	store_view_done(&v);
	if (st) {
		json_object_set_new(st, API_F_LISTEN, json_string(ctx->listen_name));
		json_object_set_new(st, API_F_VERSION, json_string(PKISHARE_VERSION));
		json_object_set_new(st, API_F_DEFAULT_TTL_SECONDS,
				    json_integer((json_int_t)ctx->cfg->ttl_s));
		json_object_set_new(st, API_F_MAX_TTL_SECONDS,
				    json_integer((json_int_t)ctx->cfg->max_ttl_s));
		/* A reference: a reload meanwhile cannot free what is read here. */
		struct tls_files *tls = daemon_tls_get(ctx);
		if (tls->ca_cert_hash[0])
			json_object_set_new(st, API_F_CA_CERT_HASH, json_string(tls->ca_cert_hash));
		if (tls->pinned_pubkey[0])
			json_object_set_new(st, API_F_PINNED_PUBKEY,
					    json_string(tls->pinned_pubkey));
		json_t *names = json_array();
		for (size_t i = 0; names && i < tls->n_serving_names; i++)
			json_array_append_new(names, json_string(tls->serving_names[i]));
		if (names)
			json_object_set_new(st, API_F_SERVING_NAMES, names);
		/* Token-only: no client CA, so only enrolled identities can fetch. */
		json_object_set_new(st, API_F_CLIENT_CA,
				    tls->client_ca_path ? json_string(tls->client_ca_path)
							: json_null());
		json_object_set_new(st, API_F_TOKEN_ONLY, json_boolean(!tls->client_ca_path));
		tls_files_unref(tls);
	}
	return http_json(c, MHD_HTTP_OK, st);
}

/* The first call for a request: only root or the daemon's user, and a body within its cap
 * (said before it is read). */
static enum MHD_Result admin_begin(struct daemon_ctx *ctx, struct MHD_Connection *c, void **req_ctx)
{
	char who[64];
	if (!peer_is_trusted(c, who, sizeof(who))) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_ADMIN);
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = "admin",
					  .client = who,
					  .result = "forbidden"},
			  "refused admin request from %s", who);
		return http_error(c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
				  "the admin socket accepts only root or the daemon's user");
	}
	const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (clen && strtoull(clen, NULL, 10) > ADMIN_BODY_MAX)
		return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, API_R_TOO_LARGE,
				  "request body over %d bytes", ADMIN_BODY_MAX);
	struct admin_req *req = calloc(1, sizeof(*req));
	if (!req)
		return MHD_NO;
	*req_ctx = req;
	return MHD_YES;
}

/* A piece of the body, into guarded memory, capped (the whole is refused once read). */
static void admin_collect(struct admin_req *req, const char *data, size_t size)
{
	if (req->too_big)
		return;
	if (!req->body)
		req->body = secret_new(16384);
	if (!req->body || req->body->len + size > ADMIN_BODY_MAX ||
	    secret_append(req->body, data, size) < 0) {
		req->too_big = true;
		req->body = secret_free(req->body);
	}
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* The whole request is read: route it. */
static enum MHD_Result admin_route(struct daemon_ctx *ctx, struct MHD_Connection *c,
				   const char *url, const char *method, struct admin_req *req,
				   const char *who)
{
	if (is(url, API_ROUTE_RELOAD) && is(method, MHD_HTTP_METHOD_POST))
		return do_reload(ctx, c, who);
	if (is(url, API_ROUTE_BUNDLE)) {
		if (is(method, MHD_HTTP_METHOD_PUT))
			return do_upload(ctx, c, req, who);
		if (is(method, MHD_HTTP_METHOD_DELETE))
			return do_delete(ctx, c, who);
	} else if (is(url, API_ROUTE_TOKENS)) {
		if (is(method, MHD_HTTP_METHOD_POST))
			return do_token_create(ctx, c, req, who);
		if (is(method, MHD_HTTP_METHOD_GET))
			return do_token_list(ctx, c);
	} else if (strncmp(url, API_ROUTE_TOKENS "/", sizeof(API_ROUTE_TOKENS)) == 0 &&
		   is(method, MHD_HTTP_METHOD_DELETE)) {
		return do_token_delete(ctx, c, url + sizeof(API_ROUTE_TOKENS), who);
	} else if (is(url, API_ROUTE_METRICS) && is(method, MHD_HTTP_METHOD_GET)) {
		return http_metrics(ctx, c);
	} else if (is(url, API_ROUTE_STATUS) && is(method, MHD_HTTP_METHOD_GET)) {
		return do_status(ctx, c);
	} else {
		return http_error(c, MHD_HTTP_NOT_FOUND, API_R_NO_SUCH_ROUTE, "no route %.64s",
				  url);
	}
	return http_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, API_R_METHOD_NOT_ALLOWED,
			  "method %.16s not allowed on %.64s", method, url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx)
{
	struct daemon_ctx *ctx = cls;
	struct admin_req *req = *req_ctx;
	char who[64];
	(void)version;

	if (!req)
		return admin_begin(ctx, c, req_ctx);
	if (*upload_data_size != 0) {
		admin_collect(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->too_big)
		return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, API_R_TOO_LARGE,
				  "request body over %d bytes", ADMIN_BODY_MAX);
	peer_is_trusted(c, who, sizeof(who));
	return admin_route(ctx, c, url, method, req, who);
}

/* Is the socket at path served by a live process? Only a refused connection means
 * stale (ECONNREFUSED: nobody listens); anything else (it answered, or we cannot tell)
 * keeps it. 0 stale, -EADDRINUSE live, or -errno. */
static int socket_stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? -EADDRINUSE
		: errno == ECONNREFUSED					   ? 0
									   : -errno;
	close(fd);
	return r;
}

/* Make the socket's directory if missing (0755; pkishared runs as root, so root owns
 * it), as systemd's RuntimeDirectory= would: a by-hand run on a fresh machine works. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	str_copy(dir, sizeof(dir), path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	struct stat st;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return chmod(dir, 0755) < 0 ? -errno : 0;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	str_copy(sa.sun_path, sizeof(sa.sun_path), path);
	int r = make_parent(path);
	if (r < 0)
		return r;
	/* Replace a stale socket, but never a live one (another pkishared holding a bundle
	 * would lose its only way to delete-certs) and never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		r = socket_stale(&sa);
		if (r < 0)
			return r;
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int admin_start(struct daemon_ctx *ctx)
{
	if (ctx->admin_fd < 0) {
		ctx->admin_fd = listen_unix(ctx->cfg->admin_socket);
		if (ctx->admin_fd < 0)
			return ctx->admin_fd;
	}
	ctx->admin = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC, 0, NULL, NULL,
	    handle, ctx, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_logger, NULL,
	    MHD_OPTION_LISTEN_SOCKET, ctx->admin_fd, MHD_OPTION_NOTIFY_COMPLETED, request_completed,
	    ctx, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 64u,
	    MHD_OPTION_END);
	return ctx->admin ? 0 : -EIO;
}

void admin_stop(struct daemon_ctx *ctx)
{
	if (ctx->admin) {
		MHD_quiesce_daemon(ctx->admin); /* the socket is closed by main() */
		MHD_stop_daemon(ctx->admin);
	}
	ctx->admin = NULL;
}
