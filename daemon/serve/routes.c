/* routes.c - the public API's routes: GET /v1/bundle, /v1/bundle/info, /healthz,
 * /metrics, and POST /v1/enroll (handed to enroll.c).
 *
 * Reads the client identity that identity.c decided in the handshake; never verifies a
 * certificate itself. Must never serve the bundle to a connection without a verified
 * identity that the operator allows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "api.h"
#include "daemon.h"
#include "log.h"
#include "status.h"
#include "util.h"

static void blob_free_cb(void *cls)
{
	held_blob_unref(cls);
}

/* Why a fetch got no bundle (when: the time it went; kept: whether the held state survives
 * a restart, systemd's store), for the client and the metric. */
static enum api_reason fetch_refusal(enum store_fetch res, const char *when, bool kept, char *msg,
				     size_t len, enum metric_fetch *ret_metric)
{
	switch (res) {
	case STORE_FETCH_EXPIRED:
		*ret_metric = M_FETCH_EXPIRED;
		snprintf(msg, len,
			 "the bundle expired at %s; run 'pkishare upload-certs' on the first "
			 "control-plane node and join with the new certificate key",
			 when);
		return API_R_EXPIRED;
	case STORE_FETCH_USED_UP:
		*ret_metric = M_FETCH_USED_UP;
		snprintf(msg, len,
			 "the bundle reached its maximum number of fetches at %s; run 'pkishare "
			 "upload-certs' on the first control-plane node again",
			 when);
		return API_R_USED_UP;
	case STORE_FETCH_DELETED:
		*ret_metric = M_FETCH_DELETED;
		snprintf(msg, len,
			 "the bundle was deleted by an operator at %s; run 'pkishare "
			 "upload-certs' on the first control-plane node again",
			 when);
		return API_R_DELETED;
	case STORE_FETCH_LOST:
		*ret_metric = M_FETCH_NONE;
		snprintf(msg, len,
			 "the bundle held before pkishared restarted could not be restored at %s "
			 "(see 'pkishare status'); run 'pkishare upload-certs' on the first "
			 "control-plane node again",
			 when);
		return API_R_LOST;
	case STORE_FETCH_NONE:
	default:
		*ret_metric = M_FETCH_NONE;
		/* Run by hand, a restart loses what was uploaded: never say "none was". */
		snprintf(msg, len,
			 kept ? "pkishared holds no bundle: none has been uploaded; run 'pkishare "
				"upload-certs' on the first control-plane node"
			      : "pkishared holds no bundle (none was uploaded since it started; "
				"it may have restarted without systemd's store, which keeps "
				"nothing when run by hand): run 'pkishare upload-certs' on the "
				"first control-plane node (again)");
		return API_R_NOT_FOUND;
	}
}

/* Does the held state survive a restart (systemd's store)? Read once a fetch found
 * nothing. */
static bool state_kept(struct daemon_ctx *ctx)
{
	struct store_view v;
	store_view(&ctx->store, &v);
	bool kept = v.kept.kept;
	store_view_done(&v);
	return kept;
}

static enum MHD_Result fetch_answer(struct daemon_ctx *ctx, struct MHD_Connection *c,
				    struct fetch_job *j);

/* Coordination: this node has no copy of bundle id: the cluster's current one, not
 * copied here yet (copies follow an upload within about a second), or one this node has
 * not heard of (it may be behind the cluster). 503: another server, or again. */
static enum MHD_Result not_held_here(struct MHD_Connection *c, const char *id)
{
	return http_error_retry_status(
	    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_NOT_HELD_HERE, 1,
	    "this node holds no copy of bundle %s (a copy from another control-plane node "
	    "follows each upload; a node cut off from etcd hears of none); nothing was sent "
	    "or counted; try another --server, or this one again in a second",
	    id);
}

/* GET /v1/bundle, first call (serving thread): check the request; a claim that cannot
 * wait is made and answered here; one that may wait gets a place in the claim queue, the
 * connection is suspended and the claim handed to a worker (fetchq.c), and fetch_answer
 * answers once the worker resumes the connection. */
static enum MHD_Result fetch_begin(struct daemon_ctx *ctx, struct MHD_Connection *c,
				   const char *peer, const struct client_id *id, void **req_ctx)
{
	/* ?id=: the bundle the client planned on (pkishare join); without it, whatever is
	 * held (curl). */
	const char *want = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, API_Q_ID);

	if (want && !str_is_lower_hex(want, BUNDLE_ID_HEX_LEN))
		return http_error(c, MHD_HTTP_BAD_REQUEST, API_R_BAD_REQUEST,
				  "?" API_Q_ID "= must be a bundle id: %d lowercase hex characters",
				  BUNDLE_ID_HEX_LEN);
	struct fetch_job *j = fetch_job_new(ctx, c);
	if (!j)
		return MHD_NO;
	str_copy(j->want, sizeof(j->want), want ? want : "");
	str_copy(j->client, sizeof(j->client), id->name);
	str_copy(j->cert, sizeof(j->cert), id->cert);
	str_copy(j->source, sizeof(j->source), client_source_name(id->source));
	str_copy(j->peer, sizeof(j->peer), peer);
	if (!store_fetch_waits(&ctx->store)) {
		/* A claim that cannot wait (the one-node ledger): here, without a thread hop. */
		fetch_job_claim(j, false);
		enum MHD_Result ret = fetch_answer(ctx, c, j);
		fetch_job_free(j);
		return ret;
	}
	int r = ctx->fetchq.running ? fetchq_reserve(&ctx->fetchq) : -ESHUTDOWN;
	if (r < 0) {
		fetch_job_free(j);
		log_audit(&(struct audit){.event = AUDIT_FETCH,
					  .peer = peer,
					  .client = id->name,
					  .source = client_source_name(id->source),
					  .result = api_reason_name(API_R_BUSY)},
			  "fetch by %s not taken: %s; not counted", LOG_Q(id->name),
			  r == -EBUSY ? "too many fetches wait for their claim"
				      : "the serving side is stopping");
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
		    r == -EBUSY ? "pkishared has %d fetches waiting; nothing was sent or counted; "
				  "try again in a second"
				: "pkishared is stopping or reloading (%d); nothing was sent or "
				  "counted; try again in a second",
		    r == -EBUSY ? FETCHQ_MAX : 0);
	}
	*req_ctx = j;
	fetch_job_suspend(j);
	return MHD_YES;
}

/* GET /v1/bundle, after the worker resumed the connection (serving thread): answer from
 * the claim's outcome. */
static enum MHD_Result fetch_answer(struct daemon_ctx *ctx, struct MHD_Connection *c,
				    struct fetch_job *j)
{
	char when[RFC3339_LEN], msg[256];
	enum metric_fetch m;
	const char *want = j->want[0] ? j->want : NULL;
	struct audit a = {
	    .event = AUDIT_FETCH, .peer = j->peer, .client = j->client, .source = j->source};

	if (j->outcome == FETCH_JOB_ABANDONED) {
		a.result = "abandoned";
		log_audit(&a,
			  "fetch by %s abandoned: the client left while it waited; nothing "
			  "claimed or counted",
			  LOG_Q(j->client));
		return MHD_NO;
	}
	if (j->outcome == FETCH_JOB_TOO_LATE) {
		a.result = api_reason_name(API_R_BUSY);
		log_audit(&a,
			  "fetch by %s not claimed: it waited for a claim worker until its "
			  "connection reached connection-max-age (%us); answered busy, not counted",
			  LOG_Q(j->client), ctx->cfg->connection_max_age_s);
		return http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared has more fetches waiting for their claim "
					       "than it can finish in time; nothing was sent or "
					       "counted; try again in a second");
	}
	if (j->outcome != FETCH_JOB_CLAIMED) {
		a.result = api_reason_name(API_R_BUSY);
		log_audit(&a, "fetch by %s not claimed: the serving side is stopping; not counted",
			  LOG_Q(j->client));
		return http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared is stopping or reloading; nothing was "
					       "sent or counted; try again in a second");
	}
	enum store_fetch res = j->res;
	a.bundle_id = j->bid[0] ? j->bid : NULL;
	if (res == STORE_FETCH_ABANDONED) {
		a.result = "abandoned";
		log_audit(&a,
			  "fetch by %s of bundle %s abandoned: the client left while its claim "
			  "ran; nothing was sent, the slot was given back; not counted",
			  LOG_Q(j->client), j->bid);
		return MHD_NO;
	}
	if (res == STORE_FETCH_OTHER) {
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_OTHER);
		a.result = api_reason_name(API_R_OTHER_BUNDLE_HELD);
		log_audit(&a, "refused fetch by %s: %s (bundle %s is held, not %s); not counted",
			  LOG_Q(j->client), a.result, j->bid, want);
		return http_error(
		    c, MHD_HTTP_CONFLICT, API_R_OTHER_BUNDLE_HELD,
		    "bundle %s is held now, not bundle %s that was asked for (a newer "
		    "'pkishare upload-certs' replaced it); nothing was sent or counted; "
		    "join again with the certificate key that upload printed",
		    j->bid, want);
	}
	if (res == STORE_FETCH_NOT_HERE) {
		a.result = api_reason_name(API_R_NOT_HELD_HERE);
		log_audit(&a,
			  "fetch by %s: bundle %s is the cluster's, not held here yet; not counted",
			  LOG_Q(j->client), j->bid);
		return not_held_here(c, j->bid);
	}
	if (res == STORE_FETCH_UNAVAILABLE) {
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_UNAVAILABLE);
		a.result = api_reason_name(API_R_COORDINATION_UNAVAILABLE);
		log_audit(&a,
			  "fetch by %s of bundle %s not served: coordination could not grant a "
			  "slot in time ('pkishare status' says why); not counted",
			  LOG_Q(j->client), j->bid);
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 2,
		    "this server cannot reach the cluster's coordination (pkishare-coordd or etcd "
		    "quorum) to grant a fetch slot; nothing was sent or counted; try another "
		    "control-plane node (another --server), or this one again shortly");
	}
	if (res == STORE_FETCH_OK) {
		struct held_blob *blob = TAKE_PTR(j->blob);
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_OK);
		METRIC_INC(&ctx->metrics, fetch_by_source,
			   !strcmp(j->source, "enrolled") ? M_SOURCE_ENROLLED : M_SOURCE_CA);
		a.result = "ok";
		log_audit(&a, "bundle %s fetched by %s identity %s from %s (fetch #%llu%s)", j->bid,
			  j->source, LOG_Q(j->client), j->peer, (unsigned long long)j->fetch_no,
			  j->repeat ? " again, not counted" : "");
		/* By reference: nothing is copied or allocated per fetch. */
		return http_buffer(c, MHD_HTTP_OK, blob->data->len, blob->data->data, blob_free_cb,
				   blob);
	}
	time_format(j->gone_at, when);
	enum api_reason why = fetch_refusal(res, when, state_kept(ctx), msg, sizeof(msg), &m);
	a.result = api_reason_name(why);
	METRIC_INC(&ctx->metrics, fetch, m);
	log_audit(&a, "refused fetch by %s: bundle %s", LOG_Q(j->client), a.result);
	return http_error(c, res == STORE_FETCH_NONE ? MHD_HTTP_NOT_FOUND : MHD_HTTP_GONE, why,
			  "%s", msg);
}

/* What became of the last bundle (gone) as the fetch result that says it. */
static enum store_fetch gone_as_fetch(enum store_gone gone)
{
	switch (gone) {
	case STORE_GONE_EXPIRED:
		return STORE_FETCH_EXPIRED;
	case STORE_GONE_DELETED:
		return STORE_FETCH_DELETED;
	case STORE_GONE_USED_UP:
		return STORE_FETCH_USED_UP;
	case STORE_GONE_LOST:
		return STORE_FETCH_LOST;
	case STORE_GONE_NEVER:
	case STORE_GONE_REPLACED:
	default:
		return STORE_FETCH_NONE;
	}
}

/* The peer route: bundle a->bundle_id is not held here (audited as asked by a->client). */
static enum MHD_Result peer_not_held(struct MHD_Connection *c, struct audit *a)
{
	a->result = api_reason_name(API_R_NOT_HELD_HERE);
	log_audit(a, "peer %s asked for bundle %s, not held here", LOG_Q(a->client), a->bundle_id);
	return http_error(c, MHD_HTTP_NOT_FOUND, API_R_NOT_HELD_HERE,
			  "bundle %s is not held on this node", a->bundle_id);
}

/* The peer route's answer once etcd said whether the bundle is current (serving thread). */
static enum MHD_Result peer_answer(struct MHD_Connection *c, struct fetch_job *j)
{
	struct audit a = {.event = AUDIT_FETCH,
			  .peer = j->peer,
			  .client = j->client,
			  .source = j->source,
			  .bundle_id = j->want};
	if (j->outcome != FETCH_JOB_CLAIMED) {
		a.result = api_reason_name(API_R_BUSY);
		log_audit(&a, "peer %s's copy of bundle %s not answered: pkishared is busy",
			  LOG_Q(j->client), j->want);
		if (j->outcome == FETCH_JOB_ABANDONED)
			return MHD_NO;
		return http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared is busy or stopping; try again");
	}
	if (j->result == -ENOLINK) {
		a.result = api_reason_name(API_R_COORDINATION_UNAVAILABLE);
		log_audit(&a,
			  "peer %s's copy of bundle %s refused: this node cannot reach etcd to "
			  "confirm it is still the cluster's current bundle",
			  LOG_Q(j->client), j->want);
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 2,
		    "this node cannot reach the cluster's coordination to confirm that bundle %s "
		    "is still current; copy it from another holder",
		    j->want);
	}
	if (j->result < 0) {
		a.result = api_reason_name(API_R_NOT_FOUND);
		log_audit(&a,
			  "peer %s's copy of bundle %s refused: it is no longer the cluster's "
			  "current bundle (etcd says so)",
			  LOG_Q(j->client), j->want);
		return http_error(c, MHD_HTTP_NOT_FOUND, API_R_NOT_FOUND,
				  "bundle %s is no longer the cluster's current bundle", j->want);
	}
	struct held_blob *blob = store_peer_ref(&j->ctx->store, j->want);
	if (!blob)
		return peer_not_held(c, &a);
	a.result = "ok";
	log_audit(&a, "bundle %s copied by peer %s (not a fetch: not counted)", j->want,
		  LOG_Q(j->client));
	return http_buffer(c, MHD_HTTP_OK, blob->data->len, blob->data->data, blob_free_cb, blob);
}

/* GET /v1/peer/bundle?id=ID (a registered peer only: begin_request): the held bytes of
 * bundle id, as they are, for another control-plane node's copy. Not a fetch: nothing is
 * counted (the joiners' slots are claimed wherever they fetch); the copy is checked by
 * the receiver against the digest in etcd. Held here, the connection is suspended while
 * a worker asks etcd whether id is still current (peer_answer answers): a node cut off
 * from etcd hands nothing to a peer that may be cut off too. */
static enum MHD_Result peer_bundle(struct daemon_ctx *ctx, struct MHD_Connection *c,
				   const char *peer, const struct client_id *id, void **req_ctx)
{
	const char *want = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, API_Q_ID);
	struct audit a = {.event = AUDIT_FETCH,
			  .peer = peer,
			  .client = id->name,
			  .source = client_source_name(id->source)};
	if (!want || !str_is_lower_hex(want, BUNDLE_ID_HEX_LEN))
		return http_error(c, MHD_HTTP_BAD_REQUEST, API_R_BAD_REQUEST,
				  "?" API_Q_ID
				  "= must name the bundle: %d lowercase hex characters",
				  BUNDLE_ID_HEX_LEN);
	a.bundle_id = want;
	struct held_blob *blob = store_peer_ref(&ctx->store, want);
	if (!blob)
		return peer_not_held(c, &a);
	held_blob_unref(blob);
	struct fetch_job *j = fetch_job_new(ctx, c);
	int r = !j ? -ENOMEM : ctx->fetchq.running ? fetchq_reserve(&ctx->fetchq) : -ESHUTDOWN;
	if (r < 0) {
		free(j);
		a.result = api_reason_name(API_R_BUSY);
		log_audit(&a, "peer %s's copy of bundle %s not taken: pkishared is busy",
			  LOG_Q(id->name), want);
		return http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared is busy or stopping; try again");
	}
	j->peer_copy = true;
	str_copy(j->want, sizeof(j->want), want);
	str_copy(j->client, sizeof(j->client), id->name);
	str_copy(j->source, sizeof(j->source), client_source_name(id->source));
	str_copy(j->peer, sizeof(j->peer), peer);
	*req_ctx = j;
	fetch_job_suspend(j);
	return MHD_YES;
}

enum MHD_Result routes_bundle_info(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	struct store_view v;
	char when[RFC3339_LEN], msg[256];
	enum metric_fetch unused;
	store_view(&ctx->store, &v);
	json_t *info = v.held ? status_bundle_info_json(&v.bundle) : NULL;
	enum store_fetch gone = gone_as_fetch(v.gone);
	time_format(v.gone_at, when);
	if (info) {
		store_view_done(&v);
		return http_json(c, MHD_HTTP_OK, info);
	}
	if (v.cluster.current) {
		char id[BUNDLE_ID_HEX_LEN + 1];
		str_copy(id, sizeof(id), v.cluster.id);
		store_view_done(&v);
		return not_held_here(c, id);
	}
	/* 404 whatever became of it (the description of nothing), with the reason a fetch
	 * would get: the plan stops there, spending nothing. */
	enum api_reason why = fetch_refusal(gone, when, v.kept.kept, msg, sizeof(msg), &unused);
	store_view_done(&v);
	return http_error(c, MHD_HTTP_NOT_FOUND, why, "%s", msg);
}

void routes_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
		      enum MHD_RequestTerminationCode toe)
{
	(void)c;
	(void)toe;
	if (*req_ctx && *req_ctx != cls) {
		enum req_kind *kind = *req_ctx;
		if (*kind == REQ_FETCH) {
			fetch_job_free(*req_ctx);
		} else {
			struct enroll_req *er = *req_ctx;
			secret_free(er->body);
			secret_free(er->pem);
			fetch_job_free(er->job);
			free(er);
		}
	}
	*req_ctx = NULL;
}

static void peer_of(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	addr_format(ci ? ci->client_addr : NULL, buf, len);
}

/* First call for a request (headers only): authorize it, or answer at once. */
static enum MHD_Result begin_request(struct daemon_ctx *ctx, struct MHD_Connection *c,
				     const char *url, const char *method, void **req_ctx)
{
	char peer[ADDR_TEXT_MAX];

	const struct client_id *id = identity_of(c);
	peer_of(c, peer, sizeof(peer));
	const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (strcmp(url, API_ROUTE_ENROLL) == 0 && id->source == CLIENT_PEER) {
		log_audit(
		    &(struct audit){.event = AUDIT_REFUSE,
				    .peer = peer,
				    .client = id->name,
				    .source = client_source_name(id->source),
				    .result = "forbidden"},
		    "refused enrollment by peer %s: a control-plane node's serving identity does "
		    "not enroll",
		    LOG_Q(id->name));
		return http_error(
		    c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
		    "a control-plane node's serving identity copies the bundle through "
		    "the peer route only; it does not enroll");
	}
	if (strcmp(url, API_ROUTE_ENROLL) == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
		/* The one route open to clients without a certificate. A body announced as too
		 * large is refused before a byte of it is read. */
		if (clen && strtoull(clen, NULL, 10) > CSR_MAX_BYTES) {
			METRIC_INC(&ctx->metrics, enroll, M_ENROLL_TOO_LARGE);
			ratelimit_fail(&ctx->ratelimit, peer);
			log_audit(&(struct audit){.event = AUDIT_ENROLL,
						  .peer = peer,
						  .result = "too-large"},
				  "enrollment refused: CSR over %d bytes", CSR_MAX_BYTES);
			return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, API_R_TOO_LARGE,
					  "the CSR is larger than %d bytes", CSR_MAX_BYTES);
		}
		struct enroll_req *er = calloc(1, sizeof(*er));
		if (!er)
			return MHD_NO;
		er->kind = REQ_ENROLL;
		*req_ctx = er;
		return MHD_YES;
	}
	bool has_body = (clen && strcmp(clen, "0") != 0) ||
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	if (id->source == CLIENT_NONE && strcmp(url, API_ROUTE_BUNDLE_INFO) == 0 &&
	    strcmp(method, MHD_HTTP_METHOD_GET) == 0 && !has_body &&
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")) {
		/* A join token holder plans before it enrolls: checked, not spent (answered
		 * on the next call, as an enrollment is: its check may suspend). */
		struct enroll_req *er = calloc(1, sizeof(*er));
		if (!er)
			return MHD_NO;
		er->kind = REQ_ENROLL;
		er->describe = true;
		*req_ctx = er;
		return MHD_YES;
	}
	if (id->source == CLIENT_NONE) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_CLIENT);
		log_audit(
		    &(struct audit){.event = AUDIT_REFUSE, .peer = peer, .result = "forbidden"},
		    "refused request for %s: no client certificate", LOG_Q(url));
		/* Told from the operator's side: which way in this pkishared has. */
		if (server_mode_note(ctx)[0])
			return http_error(
			    c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
			    "this pkishared is token-only (no client CA): a node fetches with the "
			    "client certificate it enrolls for with a join token (POST "
			    "/v1/enroll); 'pkishare print-join-command --curl' on the first "
			    "control-plane node prints the commands, enrollment included");
		return http_error(c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
				  "a client certificate signed by the daemon's client CA is "
				  "required (or enroll first with a join token: POST /v1/enroll; "
				  "'pkishare print-join-command --curl' prints the commands)");
	}
	/* The peer route is for registered control-plane nodes, and they for it alone. */
	bool peer_route = strcmp(url, API_ROUTE_PEER_BUNDLE) == 0;
	if (peer_route != (id->source == CLIENT_PEER)) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_CLIENT);
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = peer,
					  .client = id->name,
					  .source = client_source_name(id->source),
					  .result = "forbidden"},
			  "refused %s identity %s on %s: %s", client_source_name(id->source),
			  LOG_Q(id->name), LOG_Q(url),
			  peer_route ? "the peer route is for registered control-plane nodes"
				     : "a peer copies through the peer route only");
		return http_error(c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN, "%s",
				  peer_route
				      ? "the peer route is for other control-plane nodes "
					"(registered in the cluster's etcd) only"
				      : "a control-plane node's serving identity copies the "
					"bundle through the peer route only; it does not join");
	}
	enum policy_fetch may = peer_route
				    ? POLICY_FETCH_OK
				    : policy_may_fetch(id, ctx->cfg->allow, ctx->cfg->n_allow,
						       ctx->cfg->enrolled_fetch);
	if (may != POLICY_FETCH_OK) {
		bool enrolled = may == POLICY_FETCH_ENROLLED_REFUSED;
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_CLIENT);
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = peer,
					  .client = id->name,
					  .source = client_source_name(id->source),
					  .result = "forbidden"},
			  "refused %s identity %s: %s", client_source_name(id->source),
			  LOG_Q(id->name),
			  enrolled ? "enrolled identities may not fetch (enrolled-fetch = no)"
				   : "not on the allow-list");
		if (enrolled)
			return http_error(c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
					  "identities enrolled with a join token may not fetch "
					  "here (pkishared enrolled-fetch = no); use a client "
					  "certificate from the operator's client CA");
		return http_error(c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
				  "client '%s' is not on pkishared's allow-list (--allow)",
				  id->name);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 || has_body)
		return http_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, API_R_METHOD_NOT_ALLOWED,
				  "only GET without a body is served here (and POST /v1/enroll)");
	*req_ctx = ctx;
	return MHD_YES;
}

enum MHD_Result routes_handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx)
{
	struct daemon_ctx *ctx = cls;
	char peer[ADDR_TEXT_MAX];
	(void)version;

	if (*req_ctx == NULL)
		return begin_request(ctx, c, url, method, req_ctx);
	peer_of(c, peer, sizeof(peer));
	if (*req_ctx != ctx && *(enum req_kind *)*req_ctx == REQ_FETCH) {
		identity_fetch_resumed(c, time_mono_ms());
		struct fetch_job *j = *req_ctx;
		return j->peer_copy ? peer_answer(c, j) : fetch_answer(ctx, c, j);
	}
	if (*req_ctx != ctx) {
		/* An enrollment: collect the CSR, capped, then answer. */
		struct enroll_req *er = *req_ctx;
		if (er->job)
			identity_fetch_resumed(c, time_mono_ms());
		if (*upload_data_size != 0) {
			if (!er->too_big) {
				if (!er->body)
					er->body = secret_new(4096);
				if (!er->body ||
				    er->body->len + *upload_data_size > CSR_MAX_BYTES ||
				    secret_append(er->body, upload_data, *upload_data_size) < 0) {
					er->too_big = true;
					er->body = secret_free(er->body);
				}
			}
			*upload_data_size = 0;
			return MHD_YES;
		}
		return enroll_handle(ctx, c, er, peer);
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* refused in begin_request; never reached */
		return MHD_YES;
	}
	/* Authorized in begin_request from the identity the handshake decided. */
	const struct client_id *id = identity_of(c);
	if (id->source == CLIENT_NONE)
		return MHD_NO;
	if (strcmp(url, API_ROUTE_HEALTHZ) == 0)
		return http_json(c, MHD_HTTP_OK, json_pack("{s:s}", API_F_STATUS, "ok"));
	if (strcmp(url, API_ROUTE_BUNDLE) == 0)
		return fetch_begin(ctx, c, peer, id, req_ctx);
	if (strcmp(url, API_ROUTE_METRICS) == 0)
		return http_metrics(ctx, c);
	if (strcmp(url, API_ROUTE_BUNDLE_INFO) == 0)
		return routes_bundle_info(ctx, c);
	if (strcmp(url, API_ROUTE_PEER_BUNDLE) == 0 && id->source == CLIENT_PEER)
		return peer_bundle(ctx, c, peer, id, req_ctx);
	return http_error(c, MHD_HTTP_NOT_FOUND, API_R_NO_SUCH_ROUTE, "no route %.64s", url);
}
