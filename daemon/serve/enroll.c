/* enroll.c - enrollment: a node that holds only a join token sends a CSR with
 * "Authorization: Bearer <token>" and gets a short-lived client certificate from an
 * enrollment CA that exists only in this process's memory.
 *
 * The only route that accepts a TLS client without a certificate. Never logs a token
 * secret (ids only); failed attempts are counted per peer address and slowed down. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "api.h"
#include "cleanup.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "signer.h"
#include "token.h"
#include "util.h"
#include "x509.h"

/* The enrollment CAs' certificates as GnuTLS reads them, from the signer's PEM. */
static int crts_load(struct daemon_ctx *ctx)
{
	struct secret *pem[2] = {NULL, NULL};
	gnutls_x509_crt_t crt[2] = {NULL, NULL};
	int r = signer_cas(ctx->signer, &pem[0], &pem[1]);
	for (size_t i = 0; r >= 0 && i < 2 && pem[i]; i++) {
		gnutls_datum_t d = {.data = pem[i]->data, .size = (unsigned)pem[i]->len};
		if (gnutls_x509_crt_init(&crt[i]) < 0 ||
		    gnutls_x509_crt_import(crt[i], &d, GNUTLS_X509_FMT_PEM) < 0)
			r = -PKS_E_X509;
	}
	secret_free(pem[0]);
	secret_free(pem[1]);
	for (size_t i = 0; i < 2; i++) {
		gnutls_x509_crt_t drop = r < 0 ? crt[i] : ctx->enroll_crt[i];
		if (drop)
			gnutls_x509_crt_deinit(drop);
		if (r >= 0)
			ctx->enroll_crt[i] = crt[i];
	}
	return r;
}

int enroll_init(struct daemon_ctx *ctx)
{
	int r = signer_new(ctx->cfg->enroll_ca_lifetime_s, ctx->cfg->enroll_ttl_s, time_now(),
			   &ctx->signer);
	return r < 0 ? r : crts_load(ctx);
}

bool enroll_tick(struct daemon_ctx *ctx, int64_t now)
{
	unsigned done = signer_tick(ctx->signer, now);
	if (done & SIGNER_RETIRED)
		log_msg(LOG_INFO, "the previous enrollment CA is no longer trusted: every "
				  "certificate it issued has lapsed");
	if (done & SIGNER_RENEW_FAILED)
		log_msg(LOG_ERR, "cannot renew the enrollment CA; retrying");
	if (done & SIGNER_RENEWED)
		log_msg(LOG_NOTICE,
			"renewed the enrollment CA (valid %llds); the previous one stays "
			"trusted for %llds, until its certificates lapse",
			(long long)ctx->cfg->enroll_ca_lifetime_s,
			(long long)ctx->cfg->enroll_ttl_s + 1);
	if (!(done & (SIGNER_RETIRED | SIGNER_RENEWED)))
		return false;
	if (crts_load(ctx) < 0 ||
	    (ctx->serving_tls && identity_trust_build(ctx, ctx->serving_tls->client_ca_pem) < 0))
		log_msg(LOG_ERR, "cannot rebuild the client trust list after renewing the "
				 "enrollment CA; enrolled certificates may be refused");
	return true;
}

int enroll_trust_build(struct daemon_ctx *ctx, const struct secret *client_ca, struct secret **ret)
{
	struct secret *ca_pem = NULL, *prev_pem = NULL;
	int r = signer_cas(ctx->signer, &ca_pem, &prev_pem);
	if (r < 0)
		return r;
	secret_free(prev_pem);
	/* The CA names offered in the handshake: the operator's client CA (none in
	 * token-only) and the enrollment CA. (Verification uses identity.c's own trust
	 * lists.) */
	struct secret *t = client_ca ? secret_dup(client_ca->data, client_ca->len)
				     : secret_dup(ca_pem->data, ca_pem->len);
	if (t && client_ca &&
	    (secret_append(t, "\n", 1) < 0 || secret_append(t, ca_pem->data, ca_pem->len) < 0))
		t = secret_free(t);
	secret_free(ca_pem);
	if (!t)
		return -ENOMEM;
	*ret = t;
	return 0;
}

void enroll_done(struct daemon_ctx *ctx)
{
	ctx->signer = signer_free(ctx->signer);
	for (size_t i = 0; i < 2; i++)
		if (ctx->enroll_crt[i]) {
			gnutls_x509_crt_deinit(ctx->enroll_crt[i]);
			ctx->enroll_crt[i] = NULL;
		}
}

/* A refusal that counts against the address: every failure of this route does. */
static enum MHD_Result refuse(struct daemon_ctx *ctx, struct MHD_Connection *c, const char *peer,
			      enum metric_enroll m, unsigned status, enum api_reason reason,
			      const char *msg)
{
	ratelimit_fail(&ctx->ratelimit, peer);
	METRIC_INC(&ctx->metrics, enroll, m);
	if (m == M_ENROLL_BAD_TOKEN || m == M_ENROLL_TOKEN_EXPIRED)
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TOKEN);
	return http_error(c, status, reason, "%s", msg);
}

static enum MHD_Result job_suspend(struct daemon_ctx *ctx, struct MHD_Connection *c,
				   struct enroll_req *req, const char *id,
				   const uint8_t hash[TOKEN_HASH_BYTES], struct secret *pem,
				   const char *peer);

/* The bearer token: well formed, known, unexpired, with uses left. 0 with id and hash
 * filled in, or <0 with the refusal answered in *ret. Spends nothing. With the cluster's
 * tokens, one this node has not heard of may have been made on another node an instant
 * ago: the connection is suspended while a worker hears the cluster's tokens again
 * (-EINPROGRESS, *ret answered), and the check is made again on its return. */
static int token_check(struct daemon_ctx *ctx, struct MHD_Connection *c, struct enroll_req *req,
		       const char *peer, struct audit *a, char id[TOKEN_ID_LEN + 1],
		       uint8_t hash[TOKEN_HASH_BYTES], enum MHD_Result *ret)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	_cleanup_(secret_mem_freep) char *secret = secret_mem(TOKEN_SECRET_LEN + 1);
	if (!secret) {
		*ret = MHD_NO;
		return -ENOMEM;
	}
	if (!auth || strncmp(auth, "Bearer ", 7) != 0 ||
	    token_parse(auth + 7, id, secret, NULL) < 0) {
		a->result = "bad-token";
		log_audit(a, "enrollment refused: missing or malformed bearer token");
		*ret =
		    refuse(ctx, c, peer, M_ENROLL_BAD_TOKEN, MHD_HTTP_UNAUTHORIZED, API_R_BAD_TOKEN,
			   "send 'Authorization: Bearer <join token>' with a token from "
			   "'pkishare token create'");
		return -EACCES;
	}
	token_hash(id, secret, hash);
	struct store_spent_token spent = {0};
	int r = store_token_check(&ctx->store, id, hash, &spent);
	if (r == -ENOENT && !req->refreshed && store_tokens_wait(&ctx->store)) {
		*ret = job_suspend(ctx, c, req, id, NULL, NULL, peer);
		return -EINPROGRESS;
	}
	if (r == -ESTALE) {
		char when[RFC3339_LEN], msg[480];
		time_format(spent.at, when);
		a->result = "token-used-up";
		log_audit(a, "refused: token %s is used up (its last use enrolled %s at %s)", id,
			  LOG_Q(spent.client), when);
		str_format(
		    msg, sizeof(msg),
		    "the join token is used up: its last use was spent at %s: if that "
		    "use was this node's and its join finished, it is done; if that join was "
		    "refused after its fetch, or this is another node, create a new token "
		    "with 'pkishare print-join-command' (or 'pkishare token create') on the "
		    "first node",
		    when);
		*ret = refuse(ctx, c, peer, M_ENROLL_BAD_TOKEN, MHD_HTTP_UNAUTHORIZED,
			      API_R_USED_UP, msg);
		return r;
	}
	if (r == -ETIMEDOUT) {
		char when[RFC3339_LEN] = "", msg[256];
		if (spent.expired)
			time_format(spent.at, when);
		a->result = "token-expired";
		log_audit(a, "refused: token %s expired%s%s", id, when[0] ? " at " : "", when);
		str_format(msg, sizeof(msg),
			   "the join token expired%s%s; create a new one with 'pkishare token "
			   "create' (or print-join-command) on the first node",
			   when[0] ? " at " : "", when);
		*ret = refuse(ctx, c, peer, M_ENROLL_TOKEN_EXPIRED, MHD_HTTP_UNAUTHORIZED,
			      API_R_TOKEN_EXPIRED, msg);
		return r;
	}
	if (r < 0) {
		a->result = "bad-token";
		log_audit(a, "refused: token %s unknown or wrong secret", id);
		*ret =
		    refuse(ctx, c, peer, M_ENROLL_BAD_TOKEN, MHD_HTTP_UNAUTHORIZED, API_R_BAD_TOKEN,
			   "the join token is unknown or wrong (a kubeadm bootstrap token? or one "
			   "made before pkishared restarted without systemd's store?); create a "
			   "new one with 'pkishare token create' on the first node");
		return r;
	}
	return 0;
}

/* The CSR of a valid token holder: parsed, self-signature and key checked, a usable CN.
 * 0 with *ret_csr and cn, or <0 with the refusal answered in *ret. */
static int csr_check(struct daemon_ctx *ctx, struct MHD_Connection *c, const char *peer,
		     struct enroll_req *req, struct audit *a, const char *id, X509_REQ **ret_csr,
		     char cn[SIGNER_CN_MAX + 2], enum MHD_Result *ret)
{
	char msg[256];
	int r = req->body
		    ? x509_csr_load(req->body->data, req->body->len, ret_csr, cn, SIGNER_CN_MAX + 2)
		    : -PKS_E_X509;
	if (r == 0 && signer_name_ok(cn))
		return 0;
	bool weak = r == -PKS_E_WEAK_KEY;
	a->result = weak ? "weak-key" : "bad-csr";
	log_audit(a, "enrollment with token %s refused: %s", id,
		  weak ? "the CSR's key is not P-256 or RSA 2048-4096 with e=65537"
		       : "unusable CSR");
	if (weak) {
		*ret = refuse(ctx, c, peer, M_ENROLL_BAD_CSR, MHD_HTTP_BAD_REQUEST, API_R_WEAK_KEY,
			      error_message(-PKS_E_WEAK_KEY));
		return r;
	}
	snprintf(msg, sizeof(msg),
		 "the body must be a PEM certificate signing request, correctly self-signed, "
		 "whose CN (the node name) is 1-%d characters of letters, digits, '.', '-', '_' "
		 "or ':'",
		 SIGNER_CN_MAX);
	*ret = refuse(ctx, c, peer, M_ENROLL_BAD_CSR, MHD_HTTP_BAD_REQUEST, API_R_BAD_CSR, msg);
	return r < 0 ? r : -EINVAL;
}

/* A client certificate for the CSR's key from the current enrollment CA, as PEM: the
 * signer gets the public key as DER and the name, nothing else. */
static int issue(struct daemon_ctx *ctx, X509_REQ *csr, const char *cn, struct secret **ret_pem)
{
	unsigned char *spki = NULL;
	int n = i2d_PUBKEY(X509_REQ_get0_pubkey(csr), &spki);
	if (n <= 0)
		return -PKS_E_X509;
	enroll_tick(ctx, time_now());
	int r = signer_issue(ctx->signer, spki, (size_t)n, cn, ret_pem);
	OPENSSL_free(spki);
	return r;
}

/* A hearing of the cluster's tokens (job_suspend without a hash) done: 0 to check the
 * token again, or <0 with the answer in *ret. */
static int refresh_done(struct MHD_Connection *c, struct enroll_req *req, const char *peer,
			enum MHD_Result *ret)
{
	struct fetch_job *j = req->job;
	enum fetch_job_outcome outcome = j->outcome;
	int r = j->result;
	req->job = fetch_job_free(j);
	req->refreshed = true;
	if (outcome == FETCH_JOB_ABANDONED) {
		*ret = MHD_NO;
		return -ECONNRESET;
	}
	if (outcome != FETCH_JOB_CLAIMED) {
		*ret = http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared is busy or stopping; the join token was "
					       "not used; try again in a second");
		return -EBUSY;
	}
	if (r < 0) {
		log_audit(
		    &(struct audit){.event = req->describe ? AUDIT_REFUSE : AUDIT_ENROLL,
				    .peer = peer,
				    .source = "enrolled",
				    .result = api_reason_name(API_R_COORDINATION_UNAVAILABLE)},
		    "a join token this node has not heard of could not be looked up: "
		    "coordination did not answer");
		*ret = http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 2,
		    "this server has not heard of the join token and cannot reach the cluster's "
		    "coordination (pkishare-coordd or etcd quorum) to look it up; the token was "
		    "not used; try another control-plane node (another --server), or this one "
		    "again shortly");
		return r;
	}
	return 0;
}

static enum MHD_Result describe(struct daemon_ctx *ctx, struct MHD_Connection *c,
				struct enroll_req *req, const char *peer)
{
	char id[TOKEN_ID_LEN + 1] = "";
	uint8_t hash[TOKEN_HASH_BYTES];
	struct audit a = {.event = AUDIT_REFUSE, .peer = peer, .source = "enrolled"};
	enum MHD_Result answer = MHD_NO;

	int64_t wait = ratelimit_wait_ms(&ctx->ratelimit, peer, ctx->cfg->auth_failure_limit);
	if (wait > 0) {
		a.result = "rate-limited";
		log_audit(&a,
			  "description for a token holder at %s refused: too many failed "
			  "attempts",
			  peer);
		return http_error_retry(c, (wait + 999) / 1000,
					"too many failed attempts from this address; wait and "
					"check the join token");
	}
	int r = token_check(ctx, c, req, peer, &a, id, hash, &answer);
	secret_wipe(hash, sizeof(hash));
	if (r < 0)
		return answer;
	if (!ctx->cfg->enrolled_fetch)
		return http_error(c, MHD_HTTP_FORBIDDEN, API_R_FORBIDDEN,
				  "identities enrolled with a join token may not fetch here "
				  "(pkishared enrolled-fetch = no); use a client certificate from "
				  "the operator's client CA");
	return routes_bundle_info(ctx, c);
}

/* The use spent (or not) by a worker while the connection was suspended: answered. */
static enum MHD_Result enroll_resumed(struct daemon_ctx *ctx, struct MHD_Connection *c,
				      struct enroll_req *req, const char *peer)
{
	struct fetch_job *j = req->job;
	struct audit a = {
	    .event = AUDIT_ENROLL, .peer = peer, .source = "enrolled", .client = req->cn};
	if (j->outcome != FETCH_JOB_CLAIMED) {
		a.result = api_reason_name(API_R_BUSY);
		log_audit(&a, "enrollment of %s with token %s not done: %s; the token was not used",
			  req->cn, j->token_id,
			  j->outcome == FETCH_JOB_ABANDONED ? "the client left"
							    : "pkishared is busy");
		if (j->outcome == FETCH_JOB_ABANDONED)
			return MHD_NO;
		return http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared is busy or stopping; the join token was "
					       "not used; try again in a second");
	}
	if (j->result == -ENOLINK) {
		a.result = api_reason_name(API_R_COORDINATION_UNAVAILABLE);
		log_audit(&a,
			  "enrollment of %s with token %s not done: coordination did not answer",
			  req->cn, j->token_id);
		return http_error_retry_status(
		    c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_COORDINATION_UNAVAILABLE, 2,
		    "this server cannot reach the cluster's coordination (pkishare-coordd or etcd "
		    "quorum) to spend a use of the join token (its use may or may not be spent if "
		    "etcd lost the answer); try another control-plane node (another --server), or "
		    "this one again shortly");
	}
	if (j->result < 0) {
		a.result = "bad-token";
		log_audit(&a, "enrollment of %s refused: token %s is no longer good (%s)", req->cn,
			  j->token_id,
			  j->result == -ESTALE	    ? "used up"
			  : j->result == -ETIMEDOUT ? "expired"
						    : "unknown");
		return refuse(ctx, c, peer, M_ENROLL_BAD_TOKEN, MHD_HTTP_UNAUTHORIZED,
			      j->result == -ESTALE ? API_R_USED_UP : API_R_BAD_TOKEN,
			      "the join token was deleted, used up or expired meanwhile (another "
			      "node may have spent its last use); create a new one with 'pkishare "
			      "token create' on a control-plane node");
	}
	METRIC_INC(&ctx->metrics, enroll, M_ENROLL_OK);
	a.result = "ok";
	log_audit(&a,
		  "enrolled %s with token %s (its use spent in the cluster): client "
		  "certificate valid %llds",
		  req->cn, j->token_id, (long long)ctx->cfg->enroll_ttl_s);
	struct secret *pem = TAKE_PTR(req->pem);
	return http_pem(c, pem);
}

/* Coordination: hand the token's use to a worker and suspend (the use waits for etcd;
 * the serving thread never does). pem and hash are the job's from now on. Without a hash,
 * the worker hears the cluster's tokens again instead (for token_check). */
static enum MHD_Result job_suspend(struct daemon_ctx *ctx, struct MHD_Connection *c,
				   struct enroll_req *req, const char *id,
				   const uint8_t hash[TOKEN_HASH_BYTES], struct secret *pem,
				   const char *peer)
{
	int r = ctx->fetchq.running ? fetchq_reserve(&ctx->fetchq) : -ESHUTDOWN;
	struct fetch_job *j = r == 0 ? fetch_job_new(ctx, c) : NULL;
	if (!j) {
		if (r == 0)
			fetchq_release(&ctx->fetchq);
		secret_free(pem);
		log_audit(&(struct audit){.event = AUDIT_ENROLL,
					  .peer = peer,
					  .source = "enrolled",
					  .client = req->cn,
					  .result = api_reason_name(API_R_BUSY)},
			  "%s of %s not taken: pkishared is busy; the token was not used",
			  req->describe ? "description" : "enrollment",
			  req->cn[0] ? req->cn : "a token holder");
		return http_error_retry_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_R_BUSY, 1,
					       "pkishared has too much waiting; the join token was "
					       "not used; try again in a second");
	}
	j->token_use = hash != NULL;
	j->token_refresh = hash == NULL;
	str_copy(j->token_id, sizeof(j->token_id), id);
	if (hash)
		memcpy(j->token_hash, hash, TOKEN_HASH_BYTES);
	str_copy(j->client, sizeof(j->client), req->cn);
	req->job = j;
	req->pem = pem;
	fetch_job_suspend(j);
	return MHD_YES;
}

enum MHD_Result enroll_handle(struct daemon_ctx *ctx, struct MHD_Connection *c,
			      struct enroll_req *req, const char *peer)
{
	if (req->job && !req->job->token_refresh)
		return enroll_resumed(ctx, c, req, peer);
	enum MHD_Result refreshed = MHD_NO;
	if (req->job && refresh_done(c, req, peer, &refreshed) < 0)
		return refreshed;
	if (req->describe)
		return describe(ctx, c, req, peer);
	char id[TOKEN_ID_LEN + 1] = "", cn[SIGNER_CN_MAX + 2] = "", msg[256];
	uint8_t hash[TOKEN_HASH_BYTES];
	_cleanup_(x509_req_freep) X509_REQ *csr = NULL;
	struct secret *pem = NULL;
	struct audit a = {.event = AUDIT_ENROLL, .peer = peer, .source = "enrolled"};
	enum MHD_Result answer = MHD_NO;

	/* Cheapest first: the address's budget, the size, the token; only a valid token
	 * holder's CSR is parsed and its signature verified. */
	int64_t wait = ratelimit_wait_ms(&ctx->ratelimit, peer, ctx->cfg->auth_failure_limit);
	if (wait > 0) {
		METRIC_INC(&ctx->metrics, enroll, M_ENROLL_RATE_LIMITED);
		a.result = "rate-limited";
		log_audit(&a, "enrollment from %s refused: too many failed attempts", peer);
		return http_error_retry(c, (wait + 999) / 1000,
					"too many failed enrollment attempts from this address; "
					"wait and check the join token");
	}
	if (req->too_big) {
		a.result = "too-large";
		log_audit(&a, "enrollment refused: CSR over %d bytes", CSR_MAX_BYTES);
		snprintf(msg, sizeof(msg), "the CSR is larger than %d bytes", CSR_MAX_BYTES);
		return refuse(ctx, c, peer, M_ENROLL_TOO_LARGE, MHD_HTTP_CONTENT_TOO_LARGE,
			      API_R_TOO_LARGE, msg);
	}
	if (token_check(ctx, c, req, peer, &a, id, hash, &answer) < 0 ||
	    csr_check(ctx, c, peer, req, &a, id, &csr, cn, &answer) < 0) {
		secret_wipe(hash, sizeof(hash));
		return answer;
	}
	a.client = cn;
	if (issue(ctx, csr, cn, &pem) < 0) {
		secret_wipe(hash, sizeof(hash));
		return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_R_INTERNAL,
				  "could not issue the certificate; the token was not used");
	}
	/* The use is spent only once the certificate exists (and still atomically: a token
	 * deleted meanwhile gets nothing). The cluster's tokens: by a worker, suspended. */
	if (store_tokens_wait(&ctx->store)) {
		str_copy(req->cn, sizeof(req->cn), cn);
		enum MHD_Result ret = job_suspend(ctx, c, req, id, hash, pem, peer);
		secret_wipe(hash, sizeof(hash));
		return ret;
	}
	int r = store_token_use(&ctx->store, id, hash, cn);
	secret_wipe(hash, sizeof(hash));
	if (r < 0) {
		secret_free(pem);
		a.result = "bad-token";
		log_audit(&a, "enrollment of %s refused: token %s went away meanwhile", cn, id);
		return refuse(ctx, c, peer, M_ENROLL_BAD_TOKEN, MHD_HTTP_UNAUTHORIZED,
			      API_R_BAD_TOKEN,
			      "the join token was deleted or used up meanwhile; create a new one "
			      "with 'pkishare token create' on the first node");
	}
	METRIC_INC(&ctx->metrics, enroll, M_ENROLL_OK);
	a.result = "ok";
	log_audit(&a, "enrolled %s with token %s: client certificate valid %llds", cn, id,
		  (long long)ctx->cfg->enroll_ttl_s);
	return http_pem(c, pem);
}
