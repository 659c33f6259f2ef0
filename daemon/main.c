/* main.c - pkishared: option parsing, start-up, signal handling, shutdown.
 *
 * The only place with process-wide state (the parsed configuration). Must wipe every
 * secret before exit, on every path. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "options.h"
#include "util.h"

#define PEM_MAX_BYTES (64 * 1024)

/* Sockets passed by systemd (pkishared.socket), told apart by FileDescriptorName=. */
static int take_systemd_sockets(struct daemon_ctx *ctx)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	if (n <= 0)
		return n;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "";
		if (strcmp(name, "https") == 0 && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
			ctx->https_fd = fd;
			server_sock_name(fd, ctx->listen_name, sizeof(ctx->listen_name));
		} else if (strcmp(name, "admin") == 0 &&
			   sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			ctx->admin_fd = fd;
			ctx->admin_from_systemd = true;
		} else {
			log_msg(LOG_WARNING,
				"ignoring socket %d named '%s' from systemd (expected "
				"'https' and 'admin')",
				fd, name);
			close(fd);
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return n;
}

static int load_pem(const char *what, const char *path, struct secret **ret)
{
	int r = secret_read_file(path, PEM_MAX_BYTES, ret);
	if (r < 0)
		log_msg(LOG_ERR, "cannot read %s %s: %s; check the path and permissions", what,
			path, error_message(r));
	return r;
}

/* Settings read by reloads; kept until exit because the TLS layer may point into them. */
static struct options *reloaded[64];
static size_t n_reloaded;

static void free_reloaded(void)
{
	for (size_t i = 0; i < n_reloaded; i++) {
		options_free(reloaded[i]);
		free(reloaded[i]);
	}
	n_reloaded = 0;
}

/* SIGHUP: re-read the configuration and the TLS files, and restart the HTTPS side on the
 * same listening socket. The held bundle, tokens and the admin API are untouched. On any
 * error the running configuration stays. */
static void reload(struct daemon_ctx *ctx, struct daemon_config *cfg, int argc, char **argv)
{
	struct options *o = calloc(1, sizeof(*o));
	struct secret *key = NULL, *cert = NULL, *ca = NULL, *trust = NULL;

	if (!o || n_reloaded >= ELEMENTSOF(reloaded) || options_load(o, argc, argv) != 0) {
		log_msg(LOG_ERR, "reload: the configuration is not valid; keeping the running one");
		if (o)
			options_free(o);
		free(o);
		return;
	}
	if (load_pem("TLS key", o->cfg.tls_key, &key) < 0 ||
	    load_pem("TLS certificate", o->cfg.tls_cert, &cert) < 0 ||
	    load_pem("client CA", o->cfg.client_ca, &ca) < 0 ||
	    enroll_trust_build(ctx, ca, &trust) < 0 || server_check_tls(cert, key) < 0) {
		log_msg(LOG_ERR, "reload: keeping the running TLS files");
		secret_free(key);
		secret_free(cert);
		secret_free(ca);
		secret_free(trust);
		options_free(o);
		free(o);
		return;
	}
	if (strcmp(o->cfg.listen, cfg->listen) != 0 ||
	    strcmp(o->cfg.admin_socket, cfg->admin_socket) != 0 || o->cfg.ttl_s != cfg->ttl_s ||
	    o->cfg.max_ttl_s != cfg->max_ttl_s)
		log_msg(LOG_WARNING, "reload: listen, admin-socket, ttl and max-ttl take effect "
				     "only at the next restart");
	server_stop(ctx);
	struct daemon_config old_cfg = *cfg;
	struct secret *old[4] = {ctx->tls_key_pem, ctx->tls_cert_pem, ctx->client_ca_pem,
				 ctx->trust_pem};
	/* Only what the (stopped) HTTPS side reads changes; the admin thread's fields stay. */
	cfg->tls_cert = o->cfg.tls_cert;
	cfg->tls_key = o->cfg.tls_key;
	cfg->client_ca = o->cfg.client_ca;
	memcpy(cfg->allow, o->cfg.allow, sizeof(cfg->allow));
	cfg->n_allow = o->cfg.n_allow;
	cfg->tls_priorities = o->cfg.tls_priorities;
	cfg->connection_timeout_s = o->cfg.connection_timeout_s;
	cfg->connection_limit = o->cfg.connection_limit;
	cfg->connection_max_age_s = o->cfg.connection_max_age_s;
	cfg->tls_failure_limit = o->cfg.tls_failure_limit;
	cfg->per_ip_limit = o->cfg.per_ip_limit;
	ctx->tls_key_pem = key;
	ctx->tls_cert_pem = cert;
	ctx->client_ca_pem = ca;
	ctx->trust_pem = trust;
	reloaded[n_reloaded++] = o;
	int r = server_start(ctx);
	if (r < 0) {
		log_msg(LOG_ERR,
			"reload: cannot serve with the new settings: %s; back to the "
			"running ones",
			error_message(r));
		*cfg = old_cfg;
		ctx->tls_key_pem = old[0];
		ctx->tls_cert_pem = old[1];
		ctx->client_ca_pem = old[2];
		ctx->trust_pem = old[3];
		old[0] = key;
		old[1] = cert;
		old[2] = ca;
		old[3] = trust;
		r = server_start(ctx);
		if (r < 0)
			log_msg(LOG_ERR, "reload: cannot serve at all: %s", error_message(r));
	} else {
		log_msg(LOG_NOTICE, "reloaded the configuration and TLS files; the held bundle "
				    "was kept");
	}
	for (size_t i = 0; i < ELEMENTSOF(old); i++)
		secret_free(old[i]);
}

int main(int argc, char **argv)
{
	struct options opts;
	int r = options_load(&opts, argc, argv);
	if (r) {
		options_free(&opts);
		return r == 1 ? 0 : 2;
	}
	struct daemon_config cfg = opts.cfg; /* strings stay owned by opts until exit */
	int level = opts.log_level;

	log_setup(level);
	if (secret_init() < 0) {
		log_msg(LOG_ERR, "cannot initialise libsodium");
		return 1;
	}
	r = secret_harden_process();
	if (r < 0)
		log_msg(LOG_WARNING, "cannot make the process non-dumpable: %s", strerror(-r));

	/* Signals are taken synchronously by the main thread; block them before any thread
	 * starts so that every thread inherits the mask. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct daemon_ctx ctx = {.cfg = &cfg, .https_fd = -1, .admin_fd = -1, .serve_wake_fd = -1};
	int exit_code = 1;
	pthread_mutex_init(&ctx.ratelimit.lock, NULL);
	pthread_mutex_init(&ctx.tls_ratelimit.lock, NULL);
	if (store_init(&ctx.store) < 0) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	if (load_pem("TLS key", cfg.tls_key, &ctx.tls_key_pem) < 0 ||
	    load_pem("TLS certificate", cfg.tls_cert, &ctx.tls_cert_pem) < 0 ||
	    load_pem("client CA", cfg.client_ca, &ctx.client_ca_pem) < 0)
		goto out;
	/* OpenSSL keeps private keys it creates from now on (the enrollment CA's) in its
	 * locked secure heap. */
	if (CRYPTO_secure_malloc_init(64 * 1024, 32) != 1)
		log_msg(LOG_WARNING, "OpenSSL secure heap unavailable; the enrollment CA key "
				     "stays in ordinary memory");
	r = enroll_init(&ctx);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot create the enrollment CA: %s", error_message(r));
		goto out;
	}
	r = store_start_reaper(&ctx.store);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot start the reaper thread: %s", strerror(-r));
		goto out;
	}
	r = take_systemd_sockets(&ctx);
	if (r > 0)
		log_msg(LOG_INFO, "socket activation: %d socket(s) from systemd", r);
	r = server_start(&ctx);
	if (r < 0) {
		log_msg(LOG_ERR,
			"cannot serve HTTPS on %s: %s; check that the address is local and free, "
			"and that the certificate matches the key",
			cfg.listen, error_message(r));
		goto out;
	}
	r = admin_start(&ctx);
	if (r < 0) {
		log_msg(LOG_ERR,
			"cannot listen on admin socket %s: %s; check that its directory exists and "
			"no other pkishared runs",
			cfg.admin_socket, error_message(r));
		goto out;
	}
	log_msg(LOG_NOTICE, "listening on %s (admin socket %s), TTL %llds, max TTL %llds",
		ctx.listen_name, cfg.admin_socket, (long long)cfg.ttl_s, (long long)cfg.max_ttl_s);
	sd_notifyf(0, "READY=1\nSTATUS=Serving on %s, no bundle held", ctx.listen_name);

	for (;;) {
		int sig = 0;
		if (sigwait(&mask, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			reload(&ctx, &cfg, argc, argv);
			sd_notify(0, "READY=1");
			continue;
		}
		log_msg(LOG_NOTICE, "signal %d: wiping secrets and stopping", sig);
		break;
	}
	sd_notify(0, "STOPPING=1");
	exit_code = 0;
out:
	admin_stop(&ctx);
	server_stop(&ctx);
	store_done(&ctx.store);
	if (ctx.admin_fd >= 0) {
		close(ctx.admin_fd);
		if (!ctx.admin_from_systemd)
			unlink(cfg.admin_socket);
	}
	if (ctx.https_fd >= 0)
		close(ctx.https_fd);
	if (ctx.serve_wake_fd >= 0)
		close(ctx.serve_wake_fd);
	secret_free(ctx.tls_key_pem);
	secret_free(ctx.tls_cert_pem);
	secret_free(ctx.client_ca_pem);
	enroll_done(&ctx);
	pthread_mutex_destroy(&ctx.ratelimit.lock);
	pthread_mutex_destroy(&ctx.tls_ratelimit.lock);
	options_free(&opts);
	free_reloaded();
	return exit_code;
}
