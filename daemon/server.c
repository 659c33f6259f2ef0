/* server.c - the public API over HTTPS with mutual TLS (libmicrohttpd + GnuTLS).
 *
 * libmicrohttpd only *requests* a client certificate; this file makes it required and
 * checks it (chain to --client-ca, client-auth key purpose) during the handshake, and
 * again in every handler. Must never serve the bundle to an unverified client. */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "error.h"
#include "log.h"
#include "util.h"

#define CLIENT_ID_MAX 256

static void peer_of_session(gnutls_session_t session, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN + 1], port[8];
	int fd = gnutls_transport_get_int(session);

	str_copy(buf, len, "unknown");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Chain to the client CA and the TLS client key purpose; 0 when both hold. A server
 * certificate from the same CA fails the purpose check. */
static int verify_peer(gnutls_session_t session, unsigned *ret_status)
{
	gnutls_typed_vdata_st purpose = {
	    .type = GNUTLS_DT_KEY_PURPOSE_OID,
	    .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT,
	    .size = 0,
	};
	unsigned status = 0;
	int r = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
	*ret_status = status;
	if (r < 0)
		return r;
	return status == 0 ? 0 : GNUTLS_E_CERTIFICATE_ERROR;
}

/* Runs inside the handshake: a client with a bad certificate never reaches HTTP. */
static int handshake_verify(gnutls_session_t session)
{
	unsigned status = 0, n = 0;
	/* No certificate at all: let the handshake finish. Only POST /v1/enroll answers
	 * such a client; every other route refuses it with 403. */
	if (!gnutls_certificate_get_peers(session, &n) || n == 0)
		return 0;
	int r = verify_peer(session, &status);
	if (r == 0)
		return 0;
	char peer[96], why[256] = "";
	gnutls_datum_t out = {0};
	peer_of_session(session, peer, sizeof(peer));
	if (r == GNUTLS_E_CERTIFICATE_ERROR &&
	    gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
		str_copy(why, sizeof(why), (const char *)out.data);
		gnutls_free(out.data);
	} else {
		str_copy(why, sizeof(why), gnutls_strerror(r));
	}
	/* The audit event follows when the connection closes without a request. */
	log_msg(LOG_NOTICE, "client certificate from %s refused in the TLS handshake: %s", peer,
		why);
	return GNUTLS_E_CERTIFICATE_ERROR;
}

/* "addr:port" of a sockaddr. */
static void addr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN + 1] = "?", port[8] = "0";
	getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, n, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Addresses that keep presenting refused identities are turned away at accept(), before
 * any TLS work, until their minute is over. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct daemon_ctx *ctx = cls;
	char peer[96];
	addr_text(addr, addrlen, peer, sizeof(peer));
	if (ratelimit_wait_ms(&ctx->tls_ratelimit, peer, ctx->cfg->tls_failure_limit) > 0) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TLS);
		log_msg(LOG_INFO, "turned away %s: too many refused client identities", peer);
		return MHD_NO;
	}
	return MHD_YES;
}

/* Per TLS connection: did it get as far as an HTTP request, and how old is it? Kept in a
 * list that only the serving thread touches (libmicrohttpd calls back from MHD_run). */
struct conn_state {
	bool reached_http;
	bool cut;
	int fd;
	int64_t started_ms;
	struct conn_state *prev, *next;
};

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			      enum MHD_ConnectionNotificationCode code)
{
	struct daemon_ctx *ctx = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		const union MHD_ConnectionInfo *fi =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct conn_state *st = calloc(1, sizeof(struct conn_state));
		*socket_ctx = st;
		if (st) {
			st->fd = fi ? fi->connect_fd : -1;
			st->started_ms = time_mono_ms();
			st->next = ctx->conns;
			if (ctx->conns)
				ctx->conns->prev = st;
			ctx->conns = st;
		}
		if (!ci || !ci->tls_session)
			return;
		gnutls_session_t session = (gnutls_session_t)ci->tls_session;
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(session, handshake_verify);
		return;
	}
	struct conn_state *st = *socket_ctx;
	*socket_ctx = NULL;
	if (st) {
		if (st->prev)
			st->prev->next = st->next;
		else
			ctx->conns = st->next;
		if (st->next)
			st->next->prev = st->prev;
	}
	/* Closed without a single request: a refused certificate, no certificate, an old
	 * protocol or cipher, a port scan, or a client that gave up. One audit event. */
	if (st && !st->reached_http) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_TLS);
		char peer[96];
		http_peer(c, peer, sizeof(peer));
		ratelimit_fail(&ctx->tls_ratelimit, peer);
		log_audit(
		    &(struct audit){.event = AUDIT_REFUSE, .peer = peer, .result = "tls-refused"},
		    "connection closed before any request: TLS handshake refused (client "
		    "certificate missing or not accepted, or protocol or cipher not allowed) "
		    "or abandoned");
	}
	free(st);
}

static void mark_reached_http(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context)
		((struct conn_state *)ci->socket_context)->reached_http = true;
}

/* The verified client's identity (subject CN), or a negative error. */
static int client_identity(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned status = 0, n = 0;
	gnutls_x509_crt_t crt;

	if (!ci || !ci->tls_session)
		return -EPERM;
	gnutls_session_t session = (gnutls_session_t)ci->tls_session;
	/* Checked again here: resumed sessions skip the handshake callback. */
	if (verify_peer(session, &status) != 0)
		return -EPERM;
	const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &n);
	if (!chain || n == 0)
		return -EPERM;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	size_t sz = len;
	int r = gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER);
	if (r >= 0)
		r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &sz);
	gnutls_x509_crt_deinit(crt);
	if (r < 0)
		return -EPERM;
	/* Keep log lines printable whatever the certificate says. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return 0;
}

static bool allowed(const struct daemon_config *cfg, const char *client)
{
	if (cfg->n_allow == 0)
		return true;
	for (size_t i = 0; i < cfg->n_allow; i++)
		if (fnmatch(cfg->allow[i], client, 0) == 0)
			return true;
	return false;
}

static enum MHD_Result serve_bundle(struct daemon_ctx *ctx, struct MHD_Connection *c,
				    const char *peer, const char *client)
{
	struct secret *copy = NULL;
	char id[BUNDLE_ID_HEX_LEN + 1] = "", when[RFC3339_LEN];
	uint64_t fetch_no = 0;
	int64_t gone_at = 0;
	struct audit a = {.event = AUDIT_FETCH, .peer = peer, .client = client};

	enum store_fetch res =
	    store_fetch(&ctx->store, client, peer, &copy, id, &fetch_no, &gone_at);
	time_format(gone_at, when);
	a.bundle_id = id[0] ? id : NULL;
	switch (res) {
	case STORE_FETCH_OK:
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_OK);
		a.result = "ok";
		log_audit(&a, "bundle %s fetched by %s from %s (fetch #%llu)", id, client, peer,
			  (unsigned long long)fetch_no);
		return http_secret(c, MHD_HTTP_OK, copy);
	case STORE_FETCH_EXPIRED:
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_EXPIRED);
		a.result = "expired";
		log_audit(&a, "refused fetch by %s: bundle expired", client);
		return http_error(c, MHD_HTTP_GONE, "expired",
				  "the bundle expired at %s; run 'pkishare upload-certs' on the "
				  "first control-plane node and join with the new certificate key",
				  when);
	case STORE_FETCH_USED_UP:
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_USED_UP);
		a.result = "used-up";
		log_audit(&a, "refused fetch by %s: bundle used up", client);
		return http_error(c, MHD_HTTP_GONE, "used-up",
				  "the bundle reached its maximum number of fetches at %s; run "
				  "'pkishare upload-certs' on the first control-plane node again",
				  when);
	case STORE_FETCH_DELETED:
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_DELETED);
		a.result = "deleted";
		log_audit(&a, "refused fetch by %s: bundle deleted", client);
		return http_error(c, MHD_HTTP_GONE, "deleted",
				  "the bundle was deleted by an operator at %s; run 'pkishare "
				  "upload-certs' on the first control-plane node again",
				  when);
	case STORE_FETCH_NONE:
	default:
		METRIC_INC(&ctx->metrics, fetch, M_FETCH_NONE);
		a.result = "not-found";
		log_audit(&a, "refused fetch by %s: no bundle held", client);
		return http_error(c, MHD_HTTP_NOT_FOUND, "not-found",
				  "no bundle has been uploaded; run 'pkishare upload-certs' on the "
				  "first control-plane node");
	}
}

static void request_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
			      enum MHD_RequestTerminationCode toe)
{
	(void)c;
	(void)toe;
	if (*req_ctx && *req_ctx != cls) {
		struct enroll_req *er = *req_ctx;
		secret_free(er->body);
		free(er);
	}
	*req_ctx = NULL;
}

/* First call for a request (headers only): authorize it, or answer at once. */
static enum MHD_Result begin_request(struct daemon_ctx *ctx, struct MHD_Connection *c,
				     const char *url, const char *method, void **req_ctx)
{
	char peer[96], client[CLIENT_ID_MAX];

	mark_reached_http(c);
	http_peer(c, peer, sizeof(peer));
	const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (strcmp(url, "/v1/enroll") == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
		/* The one route open to clients without a certificate. A body announced as too
		 * large is refused before a byte of it is read. */
		if (clen && strtoull(clen, NULL, 10) > CSR_MAX_BYTES) {
			METRIC_INC(&ctx->metrics, enroll, M_ENROLL_TOO_LARGE);
			log_audit(&(struct audit){.event = AUDIT_ENROLL,
						  .peer = peer,
						  .result = "too-large"},
				  "enrollment refused: CSR over %d bytes", CSR_MAX_BYTES);
			return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too-large",
					  "the CSR is larger than %d bytes", CSR_MAX_BYTES);
		}
		struct enroll_req *er = calloc(1, sizeof(*er));
		if (!er)
			return MHD_NO;
		*req_ctx = er;
		return MHD_YES;
	}
	if (client_identity(c, client, sizeof(client)) < 0) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_CLIENT);
		ratelimit_fail(&ctx->tls_ratelimit, peer);
		log_audit(
		    &(struct audit){.event = AUDIT_REFUSE, .peer = peer, .result = "forbidden"},
		    "refused request for %.64s: no verified client certificate", url);
		return http_error(c, MHD_HTTP_FORBIDDEN, "forbidden",
				  "a client certificate signed by the daemon's client CA is "
				  "required (or enroll first with a join token: POST /v1/enroll)");
	}
	if (!allowed(ctx->cfg, client)) {
		METRIC_INC(&ctx->metrics, auth_fail, M_AUTH_CLIENT);
		log_audit(&(struct audit){.event = AUDIT_REFUSE,
					  .peer = peer,
					  .client = client,
					  .result = "forbidden"},
			  "refused %s: client identity not on the allow-list", client);
		return http_error(c, MHD_HTTP_FORBIDDEN, "forbidden",
				  "client '%s' is not on pkishared's allow-list (--allow)", client);
	}
	bool has_body = (clen && strcmp(clen, "0") != 0) ||
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 || has_body)
		return http_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed",
				  "only GET without a body is served here (and POST /v1/enroll)");
	*req_ctx = ctx;
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx)
{
	struct daemon_ctx *ctx = cls;
	char peer[96], client[CLIENT_ID_MAX];
	(void)version;

	if (*req_ctx == NULL)
		return begin_request(ctx, c, url, method, req_ctx);
	http_peer(c, peer, sizeof(peer));
	if (*req_ctx != ctx) {
		/* An enrollment: collect the CSR, capped, then answer. */
		struct enroll_req *er = *req_ctx;
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
	if (client_identity(c, client, sizeof(client)) < 0)
		return MHD_NO;
	if (strcmp(url, "/healthz") == 0)
		return http_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	if (strcmp(url, "/v1/bundle") == 0)
		return serve_bundle(ctx, c, peer, client);
	if (strcmp(url, "/metrics") == 0)
		return http_metrics(ctx, c);
	if (strcmp(url, "/v1/bundle/info") == 0) {
		json_t *info = store_bundle_info(&ctx->store);
		if (!info)
			return http_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no bundle is held");
		return http_json(c, MHD_HTTP_OK, info);
	}
	return http_error(c, MHD_HTTP_NOT_FOUND, "no-such-route", "no route %.64s", url);
}

/* Parse "host:port" or "[v6]:port" and bind a listening socket. */
static int listen_tcp(const char *spec, char *name, size_t name_len)
{
	char host[256], port[16];
	const char *colon;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = 0;
	}
	str_copy(port, sizeof(port), colon + 1);
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0) {
		freeaddrinfo(ai);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 512) < 0) {
		int e = -errno;
		close(fd);
		freeaddrinfo(ai);
		return e;
	}
	freeaddrinfo(ai);
	server_sock_name(fd, name, name_len);
	return fd;
}

void server_sock_name(int fd, char *name, size_t name_len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[INET6_ADDRSTRLEN + 1], p[8];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(name, name_len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

/* One line for systemd's STATUS=: whether a bundle is held and until when. */
static void status_line(struct daemon_ctx *ctx, char *buf, size_t len)
{
	json_t *st = store_bundle_info(&ctx->store);
	if (st)
		snprintf(buf, len, "Serving on %s; holding bundle %.8s until %s (%lld fetches)",
			 ctx->listen_name, json_string_value(json_object_get(st, "id")),
			 json_string_value(json_object_get(st, "expiresAt")),
			 (long long)json_integer_value(json_object_get(st, "fetches")));
	else
		snprintf(buf, len, "Serving on %s; no bundle held", ctx->listen_name);
	json_decref(st);
}

/* An idle timeout does not stop a client that sends a byte every few seconds: every
 * connection also has a total age limit, enforced here by shutting its socket down. */
static void cut_old_connections(struct daemon_ctx *ctx, int64_t now)
{
	int64_t max_ms = (int64_t)ctx->cfg->connection_max_age_s * 1000;
	for (struct conn_state *st = ctx->conns; st; st = st->next) {
		if (st->cut || st->fd < 0 || now - st->started_ms < max_ms)
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[INET6_ADDRSTRLEN + 1] = "?", port[8] = "?", peer[96];
		if (getpeername(st->fd, (struct sockaddr *)&ss, &sl) == 0)
			getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
				    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(peer, sizeof(peer), "%s:%s", host, port);
		log_audit(
		    &(struct audit){.event = AUDIT_REFUSE, .peer = peer, .result = "too-slow"},
		    "connection open for %llds (connection-max-age) without finishing; cut",
		    (long long)ctx->cfg->connection_max_age_s);
		shutdown(st->fd, SHUT_RDWR);
		st->cut = true;
		st->reached_http = true; /* audited here; no second event when it closes */
	}
}

/* The serving thread: runs libmicrohttpd's event loop itself, so that the watchdog
 * keep-alive proves that requests are actually being served (a hung loop stops it). */
static void *serve_main(void *arg)
{
	struct daemon_ctx *ctx = arg;
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(ctx->https, MHD_DAEMON_INFO_EPOLL_FD);
	int efd = info ? info->epoll_fd : -1;
	uint64_t wd_usec = 0;
	int64_t next_wd = 0, next_status = 0;
	char status[256] = "", last_status[256] = "";
	bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;

	while (!ctx->serve_stop) {
		struct pollfd p[2] = {{.fd = efd, .events = POLLIN},
				      {.fd = ctx->serve_wake_fd, .events = POLLIN}};
		MHD_UNSIGNED_LONG_LONG mhd_to = 0;
		int timeout = 1000;
		if (MHD_get_timeout(ctx->https, &mhd_to) == MHD_YES && mhd_to < 1000)
			timeout = (int)mhd_to;
		if (watchdog && timeout > (int)(wd_usec / 4000))
			timeout = (int)(wd_usec / 4000);
		(void)poll(p, 2, timeout);
		if (ctx->serve_stop)
			break;
		MHD_run(ctx->https);
		int64_t now = time_mono_ms();
		if (watchdog && now >= next_wd) {
			sd_notify(0, "WATCHDOG=1");
			next_wd = now + (int64_t)(wd_usec / 2000);
		}
		cut_old_connections(ctx, now);
		if (now >= next_status) {
			status_line(ctx, status, sizeof(status));
			if (strcmp(status, last_status) != 0) {
				sd_notifyf(0, "STATUS=%s", status);
				str_copy(last_status, sizeof(last_status), status);
			}
			next_status = now + 1000;
		}
	}
	return NULL;
}

int server_check_tls(const struct secret *cert, const struct secret *key)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = {.data = cert->data, .size = (unsigned)cert->len};
	gnutls_datum_t k = {.data = key->data, .size = (unsigned)key->len};
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	int r = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	return r < 0 ? -PKS_E_X509 : 0;
}

int server_start(struct daemon_ctx *ctx)
{
	const struct daemon_config *cfg = ctx->cfg;

	if (ctx->https_fd < 0) {
		ctx->https_fd = listen_tcp(cfg->listen, ctx->listen_name, sizeof(ctx->listen_name));
		if (ctx->https_fd < 0)
			return ctx->https_fd;
	}
	ctx->https = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_ITC, 0, accept_policy, ctx,
	    handle, ctx, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_logger, NULL,
	    MHD_OPTION_LISTEN_SOCKET, ctx->https_fd, MHD_OPTION_HTTPS_MEM_KEY,
	    (const char *)ctx->tls_key_pem->data, MHD_OPTION_HTTPS_MEM_CERT,
	    (const char *)ctx->tls_cert_pem->data, MHD_OPTION_HTTPS_MEM_TRUST,
	    (const char *)ctx->trust_pem->data, MHD_OPTION_NOTIFY_COMPLETED, request_completed, ctx,
	    MHD_OPTION_HTTPS_PRIORITIES, cfg->tls_priorities, MHD_OPTION_NOTIFY_CONNECTION,
	    notify_connection, ctx, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)cfg->connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024, MHD_OPTION_END);
	if (!ctx->https)
		return -EIO;
	if (ctx->serve_wake_fd < 0) {
		ctx->serve_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ctx->serve_wake_fd < 0)
			return -errno;
	}
	ctx->serve_stop = false;
	int r = pthread_create(&ctx->serve_thread, NULL, serve_main, ctx);
	if (r != 0) {
		MHD_stop_daemon(ctx->https);
		ctx->https = NULL;
		return -r;
	}
	ctx->serving = true;
	return 0;
}

void server_stop(struct daemon_ctx *ctx)
{
	if (ctx->serving) {
		uint64_t one = 1;
		ctx->serve_stop = true;
		(void)!write(ctx->serve_wake_fd, &one, sizeof(one));
		pthread_join(ctx->serve_thread, NULL);
		ctx->serving = false;
	}
	if (ctx->https) {
		/* Keep the listening socket: it is ours (or systemd's), and a reload reuses it. */
		MHD_quiesce_daemon(ctx->https);
		MHD_stop_daemon(ctx->https);
	}
	ctx->https = NULL;
}
