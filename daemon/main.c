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

/* Unusable TLS files (missing, unreadable, not matching): the configuration is wrong, and
 * restarting will not help. Listed in the unit's RestartPreventExitStatus= with 2 (bad
 * options). sysexits.h's EX_CONFIG. */
#define EXIT_CONFIG 78

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

/* SIGHUP: re-read the configuration and the TLS files, and restart the HTTPS side on the
 * same listening socket. The held bundle, tokens and the admin API are untouched. On any
 * error the running configuration stays.
 *
 * Settings a reload changes point into the options that were read for it (*live); those
 * are freed only after the HTTPS side has been restarted without them, so there are never
 * more than two sets however many reloads there are. The admin thread reads only
 * settings that a reload does not change. */
static bool reload(struct daemon_ctx *ctx, struct daemon_config *cfg, struct options **live,
		   int argc, char **argv, char *why, size_t why_len)
{
	struct options *o = calloc(1, sizeof(*o));
	struct tls_files *tls = NULL;

	if (!o || options_load(o, argc, argv) != 0) {
		log_msg(LOG_ERR, "reload: the configuration is not valid (see the message above); "
				 "keeping the running one");
		snprintf(why, why_len,
			 "the configuration is not valid (the daemon's log says "
			 "which setting)");
		if (o)
			options_free(o);
		free(o);
		return false;
	}
	if (tls_files_load(&o->cfg, &tls, why, why_len) < 0) {
		log_msg(LOG_ERR, "reload: keeping the running TLS files");
		options_free(o);
		free(o);
		return false;
	}
	if (strcmp(o->cfg.listen, cfg->listen) != 0 ||
	    strcmp(o->cfg.admin_socket, cfg->admin_socket) != 0 || o->cfg.ttl_s != cfg->ttl_s ||
	    o->cfg.max_ttl_s != cfg->max_ttl_s)
		log_msg(LOG_WARNING, "reload: listen, admin-socket, ttl and max-ttl take effect "
				     "only at the next restart");
	server_stop(ctx);
	struct daemon_config old_cfg = *cfg;
	/* Only what the (stopped) HTTPS side reads changes. */
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
	cfg->enrolled_fetch = o->cfg.enrolled_fetch;
	pthread_mutex_lock(&ctx->tls_lock);
	struct tls_files *old_tls = ctx->tls;
	ctx->tls = tls;
	pthread_mutex_unlock(&ctx->tls_lock);
	int r = server_start(ctx);
	bool ok = r >= 0;
	if (r < 0) {
		log_msg(LOG_ERR,
			"reload: cannot serve with the new settings: %s; back to the "
			"running ones",
			error_message(r));
		snprintf(why, why_len, "cannot serve with the new settings: %s", error_message(r));
		*cfg = old_cfg;
		pthread_mutex_lock(&ctx->tls_lock);
		ctx->tls = old_tls;
		pthread_mutex_unlock(&ctx->tls_lock);
		old_tls = tls;
		r = server_start(ctx);
		if (r < 0)
			log_msg(LOG_ERR, "reload: cannot serve at all: %s", error_message(r));
		options_free(o);
		free(o);
	} else {
		log_msg(LOG_NOTICE, "reloaded the configuration and TLS files; the held bundle "
				    "was kept");
		if (*live) {
			options_free(*live);
			free(*live);
		}
		*live = o;
	}
	tls_files_unref(old_tls);
	return ok;
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
	uint64_t memlock = 0;
	r = secret_lock_check(&memlock);
	if (r < 0)
		log_msg(
		    LOG_WARNING,
		    "cannot lock memory (%s; RLIMIT_MEMLOCK is %llu bytes): secrets and the held "
		    "bundle may be swapped out; raise LimitMEMLOCK= (the unit sets 64M) or grant "
		    "CAP_IPC_LOCK (a container may need it)",
		    strerror(-r), (unsigned long long)memlock);

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
	struct options *live = NULL; /* the settings of the last successful reload */
	ratelimit_init(&ctx.ratelimit);
	ratelimit_init(&ctx.tls_ratelimit);
	pthread_mutex_init(&ctx.tls_lock, NULL);
	pthread_mutex_init(&ctx.reload_lock, NULL);
	pthread_cond_init(&ctx.reload_done, NULL);
	if (store_init(&ctx.store) < 0) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	if (tls_files_load(&cfg, &ctx.tls, NULL, 0) < 0) {
		exit_code = EXIT_CONFIG; /* systemd does not restart on it */
		goto out;
	}
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
	sd_notifyf(0, "READY=1\nSTATUS=Serving on %s; no bundle held", ctx.listen_name);

	for (;;) {
		int sig = 0;
		if (sigwait(&mask, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			char why[256] = "";
			sd_notify(0, "RELOADING=1");
			bool ok = reload(&ctx, &cfg, &live, argc, argv, why, sizeof(why));
			if (ok)
				sd_notifyf(0, "READY=1\nSTATUS=Reloaded; serving on %s",
					   ctx.listen_name);
			else
				sd_notifyf(0,
					   "READY=1\nSTATUS=Reload refused: %s; serving with the "
					   "previous configuration",
					   why);
			/* Tell a waiting POST /v1/reload (systemctl reload) how it went. */
			pthread_mutex_lock(&ctx.reload_lock);
			ctx.reload_gen++;
			ctx.reload_ok = ok;
			str_copy(ctx.reload_why, sizeof(ctx.reload_why), why);
			pthread_cond_broadcast(&ctx.reload_done);
			pthread_mutex_unlock(&ctx.reload_lock);
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
	ctx.tls = tls_files_unref(ctx.tls);
	enroll_done(&ctx);
	ratelimit_done(&ctx.ratelimit);
	ratelimit_done(&ctx.tls_ratelimit);
	pthread_mutex_destroy(&ctx.tls_lock);
	pthread_mutex_destroy(&ctx.reload_lock);
	pthread_cond_destroy(&ctx.reload_done);
	options_free(&opts);
	if (live) {
		options_free(live);
		free(live);
	}
	return exit_code;
}
