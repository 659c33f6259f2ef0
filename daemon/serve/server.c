/* server.c - the HTTPS listener and the serving thread that drives libmicrohttpd.
 *
 * Why select(2) and not epoll: with MHD_USE_EPOLL and an external loop, libmicrohttpd
 * 0.9.75 (Debian 12) leaves a connection whose gnutls_handshake() returned
 * GNUTLS_E_AGAIN on its ready list, MHD_get_timeout() answers 0, and the loop spins
 * (poll(0), epoll_wait(0), recvfrom() = EAGAIN) until the client's next flight arrives:
 * a client that sends a ClientHello and waits costs a whole core. Select mode
 * (MHD_get_fdset2 + select + MHD_run_from_select) waits in the kernel instead. Its cost
 * is FD_SETSIZE: connection-limit stays below it (CONNECTION_LIMIT_MAX). Do not switch
 * back to epoll without re-running the stalled-handshake test and bench/run.sh.
 *
 * Routes live in routes.c, client identities in identity.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <systemd/sd-daemon.h>

#include "addr.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "util.h"

/* Bind a listening socket to spec, a listen address (addr_parse_listen; options.c has
 * already refused any other text). */
static int listen_tcp(const char *spec, char *name, size_t name_len)
{
	char host[ADDR_HOST_MAX], port[8], detail[DETAIL_MAX];
	uint16_t portno;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;

	if (addr_parse_listen(spec, host, &portno, detail) < 0)
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", (unsigned)portno);
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0) {
		freeaddrinfo(ai);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6) {
		/* [::]:PORT takes IPv4 clients too, whatever net.ipv6.bindv6only says. */
		int zero = 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
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
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_format((struct sockaddr *)&ss, name, name_len);
}

/* One line for systemd's STATUS=: whether a bundle is held and until when. */
const char *server_mode_note(const struct daemon_ctx *ctx)
{
	return ctx->serving_tls && !ctx->serving_tls->client_ca_pem ? " (token-only)" : "";
}

static void status_line(struct daemon_ctx *ctx, char *buf, size_t len)
{
	struct store_view v;
	char until[RFC3339_LEN];
	store_view(&ctx->store, &v);
	if (v.held) {
		time_format(v.bundle.expires_at, until);
		snprintf(buf, len, "Serving on %s%s; holding bundle %.8s until %s (%llu fetches)",
			 ctx->listen_name, server_mode_note(ctx), v.bundle.id, until,
			 (unsigned long long)v.bundle.fetches);
	} else {
		snprintf(buf, len, "Serving on %s%s; no bundle held", ctx->listen_name,
			 server_mode_note(ctx));
	}
	size_t n = strlen(buf);
	if (v.kept.under && !v.kept.kept && getenv("NOTIFY_SOCKET") && n < len)
		snprintf(buf + n, len - n,
			 "; held state NOT kept across restarts (pkishare status)");
	store_view_done(&v);
}

/* Read the wake counter back to zero where the loop reads it: a write nobody reads
 * leaves the descriptor readable, and select() would then return at once on every pass
 * (a whole core, for ever, after one reload). */
static void wake_drain(int fd)
{
	uint64_t n;
	/* One read takes an eventfd's whole count back to zero. */
	(void)!read(fd, &n, sizeof(n));
}

/* The serving thread: runs libmicrohttpd's event loop itself, so that the watchdog
 * keep-alive proves that requests are actually being served (a hung loop stops it). */
static void *serve_main(void *arg)
{
	struct daemon_ctx *ctx = arg;
	uint64_t wd_usec = 0;
	int64_t next_wd = 0, next_status = 0, next_tick = 0;
	char status[256] = "", last_status[256] = "";
	bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;

	while (!ctx->serve_stop) {
		fd_set rs, ws, es;
		MHD_socket max = -1;
		MHD_UNSIGNED_LONG_LONG mhd_to = 0;
		int64_t timeout_ms = 1000;

		FD_ZERO(&rs);
		FD_ZERO(&ws);
		FD_ZERO(&es);
		if (MHD_get_fdset2(ctx->https, &rs, &ws, &es, &max, FD_SETSIZE) != MHD_YES) {
			log_msg(LOG_ERR, "libmicrohttpd cannot list its sockets; serving stops");
			break;
		}
		FD_SET(ctx->serve_wake_fd, &rs);
		if (ctx->serve_wake_fd > max)
			max = ctx->serve_wake_fd;
		if (MHD_get_timeout(ctx->https, &mhd_to) == MHD_YES && mhd_to < 1000)
			timeout_ms = (int64_t)mhd_to;
		if (watchdog && timeout_ms > (int64_t)(wd_usec / 4000))
			timeout_ms = (int64_t)(wd_usec / 4000);
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
		int n = select(max + 1, &rs, &ws, &es, &tv);
		if (ctx->serve_stop)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "select: %s; serving stops", strerror(errno));
			break;
		}
		if (n > 0 && FD_ISSET(ctx->serve_wake_fd, &rs))
			wake_drain(ctx->serve_wake_fd);
		MHD_run_from_select(ctx->https, &rs, &ws, &es);
		int64_t now = time_mono_ms();
		if (watchdog && now >= next_wd) {
			sd_notify(0, "WATCHDOG=1");
			next_wd = now + (int64_t)(wd_usec / 2000);
		}
		/* Queued fetches at their connection's max age first: answered 503, then
		 * the age cut (which spares a fetch a claim worker owns). */
		if (ctx->fetchq.running)
			fetchq_expire(&ctx->fetchq, now);
		identity_cut_old(ctx, now);
		if (now >= next_tick) {
			enroll_tick(ctx, time_now());
			next_tick = now + 1000;
		}
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

int server_start(struct daemon_ctx *ctx)
{
	const struct daemon_config *cfg = ctx->cfg;

	if (ctx->https_fd < 0) {
		ctx->https_fd = listen_tcp(cfg->listen, ctx->listen_name, sizeof(ctx->listen_name));
		if (ctx->https_fd < 0)
			return ctx->https_fd;
	}
	/* The files this libmicrohttpd daemon points into stay referenced until it stops. */
	struct tls_files *tls = daemon_tls_get(ctx);
	int r = enroll_trust_build(ctx, tls->client_ca_pem, &ctx->trust_pem);
	if (r >= 0)
		r = identity_trust_build(ctx, tls->client_ca_pem);
	if (r < 0) {
		ctx->trust_pem = secret_free(ctx->trust_pem);
		tls_files_unref(tls);
		return r;
	}
	ctx->serving_tls = tls;
	ctx->https = MHD_start_daemon(
	    MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME, 0,
	    identity_accept_policy, ctx, routes_handle, ctx, MHD_OPTION_EXTERNAL_LOGGER,
	    http_mhd_logger, NULL, MHD_OPTION_LISTEN_SOCKET, ctx->https_fd,
	    MHD_OPTION_HTTPS_MEM_KEY, (const char *)tls->key_pem->data, MHD_OPTION_HTTPS_MEM_CERT,
	    (const char *)tls->cert_pem->data, MHD_OPTION_HTTPS_MEM_TRUST,
	    (const char *)ctx->trust_pem->data, MHD_OPTION_NOTIFY_COMPLETED, routes_completed, ctx,
	    MHD_OPTION_HTTPS_PRIORITIES, cfg->tls_priorities, MHD_OPTION_NOTIFY_CONNECTION,
	    identity_notify, ctx, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)cfg->connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
	    cfg->connection_limit + CONNECTION_EVICT_HEADROOM, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    cfg->per_ip_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
	    MHD_OPTION_END);
	if (!ctx->https) {
		server_stop(ctx);
		return -EIO;
	}
	if (ctx->serve_wake_fd < 0) {
		ctx->serve_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ctx->serve_wake_fd < 0) {
			r = -errno;
			server_stop(ctx);
			return r;
		}
	}
	/* The claim workers only where a claim may wait (fetchq.c): none for the one-node
	 * ledger, which claims inline. */
	r = store_fetch_waits(&ctx->store)
		? fetchq_start(&ctx->fetchq, &ctx->metrics.fetches_waiting)
		: 0;
	if (r < 0) {
		server_stop(ctx);
		return r;
	}
	/* server_stop()'s wake-up may still be unread when the thread had already left. */
	wake_drain(ctx->serve_wake_fd);
	ctx->serve_stop = false;
	r = pthread_create(&ctx->serve_thread, NULL, serve_main, ctx);
	if (r != 0) {
		server_stop(ctx);
		return -r;
	}
	ctx->serving = true;
	return 0;
}

void server_stop(struct daemon_ctx *ctx)
{
	/* While the serving loop still runs: fetches waiting for a claim are resumed (and
	 * answered), so libmicrohttpd never stops with a suspended connection. */
	if (ctx->fetchq.running)
		fetchq_stop(&ctx->fetchq);
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
	ctx->trust_pem = secret_free(ctx->trust_pem);
	identity_trust_free(ctx);
	ctx->serving_tls = tls_files_unref(ctx->serving_tls);
}
