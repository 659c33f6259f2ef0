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

#include "daemon.h"
#include "error.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "x509.h"

#define ENROLL_CN_MAX 64

int enroll_init(struct daemon_ctx *ctx)
{
	struct cert_spec spec = {.cn = "pkishared enrollment CA", .is_ca = true, .days = 30};

	int r = x509_key_new(KEY_TYPE_P256, &ctx->enroll_key);
	if (r >= 0)
		r = x509_cert_new(&spec, ctx->enroll_key, NULL, NULL, &ctx->enroll_ca);
	return r < 0 ? r : enroll_trust_build(ctx, ctx->client_ca_pem, &ctx->trust_pem);
}

int enroll_trust_build(struct daemon_ctx *ctx, const struct secret *client_ca, struct secret **ret)
{
	struct secret *ca_pem = NULL;
	int r = x509_cert_pem(ctx->enroll_ca, &ca_pem);
	if (r < 0)
		return r;
	/* The TLS layer trusts both the operator's client CA and the enrollment CA. */
	struct secret *t = secret_dup(client_ca->data, client_ca->len);
	if (!t || secret_append(t, "\n", 1) < 0 || secret_append(t, ca_pem->data, ca_pem->len) < 0)
		t = secret_free(t);
	secret_free(ca_pem);
	if (!t)
		return -ENOMEM;
	*ret = t;
	return 0;
}

void enroll_done(struct daemon_ctx *ctx)
{
	EVP_PKEY_free(ctx->enroll_key);
	ctx->enroll_key = NULL;
	X509_free(ctx->enroll_ca);
	ctx->enroll_ca = NULL;
	ctx->trust_pem = secret_free(ctx->trust_pem);
}

/* The address part of "host:port" / "[v6]:port". */
static void peer_addr(const char *peer, char *out, size_t len)
{
	str_copy(out, len, peer);
	char *colon = strrchr(out, ':');
	if (colon && out[0] != '[' && strchr(out, ':') == colon)
		*colon = 0;
	else if (out[0] == '[' && (colon = strstr(out, "]:")))
		colon[1] = 0;
}

int64_t ratelimit_wait_ms(struct ratelimit *rl, const char *peer, unsigned limit)
{
	char addr[64];
	int64_t now = time_mono_ms(), wait = 0;
	peer_addr(peer, addr, sizeof(addr));
	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < RATELIMIT_SLOTS; i++)
		if (rl->slot[i].failures && strcmp(rl->slot[i].addr, addr) == 0) {
			int64_t end = rl->slot[i].window_start_ms + RATELIMIT_WINDOW_MS;
			if (now >= end)
				rl->slot[i].failures = 0;
			else if (rl->slot[i].failures >= limit)
				wait = end - now;
			break;
		}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void ratelimit_fail(struct ratelimit *rl, const char *peer)
{
	char addr[64];
	int64_t now = time_mono_ms();
	size_t victim = 0;
	peer_addr(peer, addr, sizeof(addr));
	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < RATELIMIT_SLOTS; i++) {
		if (rl->slot[i].failures && strcmp(rl->slot[i].addr, addr) == 0) {
			if (now >= rl->slot[i].window_start_ms + RATELIMIT_WINDOW_MS) {
				rl->slot[i].failures = 0;
				rl->slot[i].window_start_ms = now;
			}
			rl->slot[i].failures++;
			pthread_mutex_unlock(&rl->lock);
			return;
		}
		/* Reuse an empty slot, else the oldest window. */
		if (!rl->slot[i].failures ||
		    (rl->slot[victim].failures &&
		     rl->slot[i].window_start_ms < rl->slot[victim].window_start_ms))
			victim = i;
	}
	str_copy(rl->slot[victim].addr, sizeof(rl->slot[victim].addr), addr);
	rl->slot[victim].failures = 1;
	rl->slot[victim].window_start_ms = now;
	pthread_mutex_unlock(&rl->lock);
}

static bool cn_ok(const char *cn)
{
	size_t n = strlen(cn);
	if (n == 0 || n > ENROLL_CN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = cn[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' || ch == ':'))
			return false;
	}
	return true;
}

enum MHD_Result enroll_handle(struct daemon_ctx *ctx, struct MHD_Connection *c,
			      struct enroll_req *req, const char *peer)
{
	char id[TOKEN_ID_LEN + 1] = "", cn[ENROLL_CN_MAX + 2] = "";
	struct audit a = {.event = AUDIT_ENROLL, .peer = peer};

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
		METRIC_INC(&ctx->metrics, enroll, M_ENROLL_TOO_LARGE);
		a.result = "too-large";
		log_audit(&a, "enrollment refused: CSR over %d bytes", CSR_MAX_BYTES);
		return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too-large",
				  "the CSR is larger than %d bytes", CSR_MAX_BYTES);
	}
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	_cleanup_(secret_mem_freep) char *secret = secret_mem(TOKEN_SECRET_LEN + 1);
	uint8_t hash[TOKEN_HASH_BYTES];
	if (!secret)
		return MHD_NO;
	if (!auth || strncmp(auth, "Bearer ", 7) != 0 ||
	    token_parse(auth + 7, id, secret, NULL) < 0) {
		ratelimit_fail(&ctx->ratelimit, peer);
		METRIC_INC(&ctx->metrics, enroll, M_ENROLL_BAD_TOKEN);
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TOKEN);
		a.result = "bad-token";
		log_audit(&a, "enrollment refused: missing or malformed bearer token");
		return http_error(c, MHD_HTTP_UNAUTHORIZED, "bad-token",
				  "send 'Authorization: Bearer <join token>' with a token from "
				  "'pkishare token create'");
	}
	X509_REQ *csr = NULL;
	if (!req->body ||
	    x509_csr_load(req->body->data, req->body->len, &csr, cn, sizeof(cn)) < 0 ||
	    !cn_ok(cn)) {
		X509_REQ_free(csr);
		METRIC_INC(&ctx->metrics, enroll, M_ENROLL_BAD_CSR);
		a.result = "bad-csr";
		a.client = id;
		log_audit(&a, "enrollment with token %s refused: unusable CSR", id);
		return http_error(c, MHD_HTTP_BAD_REQUEST, "bad-csr",
				  "the body must be a PEM certificate signing request, correctly "
				  "self-signed, whose CN (the node name) is 1-%d characters of "
				  "letters, digits, '.', '-', '_' or ':'",
				  ENROLL_CN_MAX);
	}
	token_hash(id, secret, hash);
	int r = store_token_use(&ctx->store, id, hash);
	secret_wipe(hash, sizeof(hash));
	if (r < 0) {
		X509_REQ_free(csr);
		ratelimit_fail(&ctx->ratelimit, peer);
		METRIC_INC(&ctx->metrics, enroll,
			   r == -ETIMEDOUT ? M_ENROLL_TOKEN_EXPIRED : M_ENROLL_BAD_TOKEN);
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TOKEN);
		a.result = r == -ETIMEDOUT ? "token-expired" : "bad-token";
		a.client = cn;
		log_audit(&a, "enrollment of %s refused: token %s %s", cn, id,
			  r == -ETIMEDOUT ? "expired" : "unknown or wrong secret");
		return http_error(c, MHD_HTTP_UNAUTHORIZED, a.result,
				  "the join token is unknown, used up, expired or wrong; create a "
				  "new one with 'pkishare token create' on the first node");
	}
	X509 *cert = NULL;
	struct secret *pem = NULL;
	struct cert_spec spec = {.cn = cn,
				 .org = "pkishare:enrolled",
				 .client_auth = true,
				 .seconds = (long)ctx->cfg->enroll_ttl_s};
	r = x509_cert_new(&spec, X509_REQ_get0_pubkey(csr), ctx->enroll_ca, ctx->enroll_key, &cert);
	if (r >= 0)
		r = x509_cert_pem(cert, &pem);
	X509_free(cert);
	X509_REQ_free(csr);
	if (r < 0)
		return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				  "could not issue the certificate");
	METRIC_INC(&ctx->metrics, enroll, M_ENROLL_OK);
	a.result = "ok";
	a.client = cn;
	log_audit(&a, "enrolled %s with token %s: client certificate valid %llds", cn, id,
		  (long long)ctx->cfg->enroll_ttl_s);
	return http_pem(c, pem);
}
