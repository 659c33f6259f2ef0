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
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "options.h"
#include "persist.h"
#include "pin.h"
#include "replica.h"
#include "testhook.h"
#include "util.h"

/* Unusable TLS files (missing, unreadable, not matching): the configuration is wrong, and
 * restarting will not help. Listed in the unit's RestartPreventExitStatus= with 2 (bad
 * options). sysexits.h's EX_CONFIG. */
#define EXIT_CONFIG 78

/* Sockets passed by systemd (pkishared.socket), told apart by FileDescriptorName=. */
static int take_systemd_sockets(struct daemon_ctx *ctx, struct persist *p)
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
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		} else if (strcmp(name, "admin") == 0 &&
			   sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			ctx->admin_fd = fd;
			ctx->admin_from_systemd = true;
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		} else if (!persist_take_fd(p, fd, name)) {
			log_msg(LOG_WARNING,
				"ignoring descriptor %d named '%s' from systemd (expected the "
				"sockets 'https' and 'admin', and pkishared-* state files)",
				fd, name);
			close(fd);
		}
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return n;
}

/* pkishared --on-stop, the unit's ExecStop= (run with full privileges, "+"): tell a stop
 * from a restart. systemd runs ExecStop= for both, and for a crashed daemon before an
 * automatic restart; only a stop job (systemctl stop, shutdown) makes the daemon wipe
 * the state it keeps in systemd's store (SIGUSR1, taken before the SIGTERM that
 * follows). Asks the service manager over its private socket which job is running. */
static int on_stop(void)
{
	const char *mp = getenv("MAINPID");
	long pid = mp ? strtol(mp, NULL, 10) : 0;
	sd_bus *bus = NULL;
	sd_bus_message *reply = NULL, *job = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	const char *unit = NULL, *job_path = NULL;
	char *type = NULL;
	uint32_t job_id = 0;
	int r;

	if (pid <= 1) {
		log_msg(LOG_INFO, "--on-stop: no MAINPID: the daemon is not running");
		return 0;
	}
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r >= 0)
		r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				       "org.freedesktop.systemd1.Manager", "GetUnitByPID", &err,
				       &reply, "u", (uint32_t)pid);
	if (r >= 0)
		r = sd_bus_message_read(reply, "o", &unit);
	if (r >= 0)
		r = sd_bus_get_property(bus, "org.freedesktop.systemd1", unit,
					"org.freedesktop.systemd1.Unit", "Job", &err, &job, "(uo)");
	if (r >= 0)
		r = sd_bus_message_read(job, "(uo)", &job_id, &job_path);
	if (r >= 0 && job_id)
		r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", job_path,
					       "org.freedesktop.systemd1.Job", "JobType", &err,
					       &type);
	if (r < 0)
		log_msg(LOG_WARNING,
			"--on-stop: cannot ask systemd which job runs (%s); the state stays in "
			"systemd's store until systemd drops it",
			err.message ? err.message : strerror(-r));
	else if (type && strcmp(type, "stop") == 0)
		kill((pid_t)pid, SIGUSR1);
	else
		log_msg(LOG_INFO, "--on-stop: %s%s: keeping the state for the next start",
			job_id ? "job " : "no job (the daemon ended by itself)",
			job_id ? type : "");
	free(type);
	sd_bus_error_free(&err);
	sd_bus_message_unref(job);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return 0;
}

/* The pin of this node's serving key (sha256:HEX), its identity to its peers, into out
 * ("" if the certificate does not parse). */
static void serving_pin_of(const struct daemon_ctx *ctx, char out[PIN_TEXT_LEN + 1])
{
	uint8_t pin[PIN_BYTES];
	out[0] = 0;
	if (pin_of_leaf(ctx->tls->cert_pem->data, ctx->tls->cert_pem->len, pin) == 0)
		pin_format(pin, out);
}

/* After a reload: a new serving key is a new peer identity, registered again (peers pin
 * the key registered in etcd). */
static void coordination_identity(struct daemon_ctx *ctx)
{
	char pin[PIN_TEXT_LEN + 1];
	if (!ctx->cfg->coord_socket)
		return;
	serving_pin_of(ctx, pin);
	if (store_coord_identity(&ctx->store, pin))
		log_msg(LOG_NOTICE,
			"coordination: a new serving key (%.23s...): registered again "
			"for peers to pin",
			pin);
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

	if (!o || options_load(o, argc, argv) <= 0) {
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
		log_msg(LOG_ERR, "reload: %s; keeping the running TLS files", why);
		options_free(o);
		free(o);
		return false;
	}
	server_stop(ctx);
	struct daemon_config old_cfg = *cfg;
	/* Only what the (stopped) HTTPS side reads changes: options.c's table says which. */
	char ignored[256];
	options_reload_into(cfg, o, ignored, sizeof(ignored));
	if (ignored[0])
		log_msg(LOG_WARNING, "reload: %s take effect only at the next restart", ignored);
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
		coordination_identity(ctx);
		if (*live) {
			options_free(*live);
			free(*live);
		}
		*live = o;
	}
	tls_files_unref(old_tls);
	return ok;
}

/* Say at start what became of the previous process's state. */
static void log_persist(const struct persist *p, struct store *s)
{
	char since[RFC3339_LEN];
	struct store_counts v;
	store_counts(s, &v);
	if (p->restored) {
		time_format(p->held_since, since);
		log_msg(LOG_NOTICE,
			"resumed the state kept in systemd's store (held since %s, restart %llu): "
			"%s%s, %zu join token(s), %zu key id(s) in the history; the enrollment CA "
			"is new, so token holders enroll again",
			since, (unsigned long long)p->restores, v.held ? "bundle " : "no bundle",
			v.id, v.n_tokens, v.n_seen);
		if (p->why[0])
			log_msg(LOG_WARNING, "the kept state was not resumed whole: %s", p->why);
	} else if (p->refused) {
		log_msg(LOG_WARNING,
			"starting empty: the state kept in systemd's store is not usable (%s); it "
			"was wiped. Upload again (pkishare upload-certs) and re-create join tokens",
			p->why);
	} else if (p->enabled && !p->why[0]) {
		log_msg(LOG_INFO,
			"the held state is kept in systemd's store (%s): it survives a "
			"restart of this service, never a reboot",
			persist_kind(p));
	} else {
		/* Run by hand it is expected; under systemd it is a failure worth a warning. */
		log_msg(getenv("NOTIFY_SOCKET") ? LOG_WARNING : LOG_INFO, "%s", p->why);
	}
}

/* Say which settings are in force: a by-hand run merges the packaged file too. */
static void log_config(const struct options *opts)
{
	if (opts->config_path)
		log_msg(LOG_NOTICE, "configuration file %s read", opts->config_path);
	else
		log_msg(LOG_NOTICE,
			"no configuration file read (%s is not there; --config FILE "
			"names one)",
			DEFAULT_CONFIG_FILE);
}

/* libsodium, a process that cannot be dumped, and whether memory can be locked. 0, or <0
 * after saying why the daemon cannot run. */
static int secrets_setup(void)
{
	uint64_t memlock = 0;
	if (secret_init() < 0) {
		log_msg(LOG_ERR, "cannot initialise libsodium");
		return -EIO;
	}
	int r = secret_harden_process();
	if (r < 0)
		log_msg(LOG_WARNING, "cannot make the process non-dumpable: %s", strerror(-r));
	r = secret_lock_check(&memlock);
	if (r < 0)
		log_msg(
		    LOG_WARNING,
		    "cannot lock memory (%s; RLIMIT_MEMLOCK is %llu bytes): secrets and the held "
		    "bundle may be swapped out; raise LimitMEMLOCK= (the unit sets 64M) or grant "
		    "CAP_IPC_LOCK (a container may need it)",
		    strerror(-r), (unsigned long long)memlock);
	return 0;
}

/* Signals are taken synchronously by the main thread; block them before any thread starts
 * so that every thread inherits the mask. */
static void signals_block(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The context's locks, limits and store. 0, or -ENOMEM. */
static int ctx_init(struct daemon_ctx *ctx)
{
	ratelimit_init(&ctx->ratelimit);
	ratelimit_init(&ctx->tls_ratelimit);
	pthread_mutex_init(&ctx->tls_lock, NULL);
	pthread_mutex_init(&ctx->reload_lock, NULL);
	pthread_cond_init(&ctx->reload_done, NULL);
	if (store_init(&ctx->store) < 0) {
		log_msg(LOG_ERR, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* The listeners: HTTPS, then the admin socket. 0, or <0 after saying what to check. */
static int listeners_start(struct daemon_ctx *ctx)
{
	const struct daemon_config *cfg = ctx->cfg;
	int r = server_start(ctx);
	if (r < 0) {
		log_msg(LOG_ERR,
			"cannot serve HTTPS on %s: %s; check that the address is local and free, "
			"and that the certificate matches the key",
			cfg->listen, error_message(r));
		return r;
	}
	r = admin_start(ctx);
	if (r == -EADDRINUSE)
		log_msg(LOG_ERR,
			"admin socket %s is in use: another pkishared answers on it; stop that one "
			"first (it may hold a bundle), or give this one its own --admin-socket",
			cfg->admin_socket);
	else if (r < 0)
		log_msg(LOG_ERR,
			"cannot listen on admin socket %s: %s; check that its directory exists and "
			"no other pkishared runs",
			cfg->admin_socket, error_message(r));
	return r;
}

/* At stop: a delete or an expiry this node decided reaches etcd before it goes, if etcd
 * answers within a few seconds; else it is said (other nodes serve that bundle until
 * they hear otherwise or it expires). */
static void coordination_flush(struct daemon_ctx *ctx)
{
	struct ledger_coord_state cs;
	if (!ctx->cfg->coord_socket || store_flush(&ctx->store, 3000) == 0)
		return;
	store_coord_state(&ctx->store, &cs);
	log_msg(LOG_WARNING,
		"coordination: %zu write(s) this node made (a delete or an expiry) were not "
		"taken by etcd before this stop (%s): other nodes may serve that bundle until "
		"it expires; it is written again at the next start when systemd kept this "
		"node's state, else run delete-certs on another node",
		cs.pending, cs.error);
}

/* Coordination on (coord-socket): the ledger over pkishare-coordd, before the kept state
 * is taken back (a restored copy is checked against etcd before it serves). */
static int coordination_start(struct daemon_ctx *ctx)
{
	const struct daemon_config *cfg = ctx->cfg;
	char pin_text[PIN_TEXT_LEN + 1] = "";
	if (!cfg->coord_socket)
		return 0;
	serving_pin_of(ctx, pin_text);
	struct ledger_coord_config cc = {.socket = cfg->coord_socket,
					 .node = cfg->node_name,
					 .peer_address = cfg->peer_address ? cfg->peer_address : "",
					 .serving_pin = pin_text};
	int r = store_coordinate(&ctx->store, &cc);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot set up coordination over %s: %s", cfg->coord_socket,
			error_message(r));
		return r;
	}
	log_msg(LOG_NOTICE,
		"coordination on: node %s, pkishare-coordd at %s, peers reach this node at %s",
		cfg->node_name, cfg->coord_socket,
		cfg->peer_address ? cfg->peer_address : "(no peer-address)");
	return 0;
}

/* Coordination: the copier that pulls the cluster's bundle from a holder (replica.c). It
 * checks holders against the cluster CA, which the serving chain carries after its leaf. */
static int replica_begin(struct daemon_ctx *ctx)
{
	uint8_t pin[PIN_BYTES];
	if (!ctx->cfg->coord_socket)
		return 0;
	if (pin_of_chain_ca(ctx->tls->cert_pem->data, ctx->tls->cert_pem->len, pin) < 0) {
		log_msg(LOG_WARNING,
			"coordination: the serving certificate file %s holds no CA after the leaf, "
			"so this node cannot check the nodes it would copy the bundle from: it "
			"serves what is uploaded here only ('pkishare pki serving-cert' writes the "
			"cluster CA after the leaf)",
			ctx->cfg->tls_cert);
		return 0;
	}
	int r = replica_start(&ctx->replica, &ctx->store, ctx->cfg->tls_cert, ctx->cfg->tls_key,
			      pin, ctx->cfg->max_ttl_s * 1000);
	if (r < 0)
		log_msg(LOG_ERR, "cannot start the copier thread: %s", strerror(-r));
	return r;
}

/* Everything after the TLS files: the enrollment CA, systemd's sockets and kept state,
 * the reaper, the listeners. 0, or <0 after saying what failed. */
static int daemon_start(struct daemon_ctx *ctx, struct persist *persist)
{
	/* OpenSSL keeps private keys it creates from now on (the enrollment CA's) in its
	 * locked secure heap. */
	int r = secret_openssl_heap_init(SECRET_OPENSSL_HEAP_BYTES);
	if (r != 0)
		log_msg(LOG_WARNING, "OpenSSL secure heap %s; the enrollment CA key stays in %s",
			r > 0 ? "not locked (RLIMIT_MEMLOCK)" : "unavailable",
			r > 0 ? "memory that can be swapped" : "ordinary memory");
	r = enroll_init(ctx);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot create the enrollment CA: %s", error_message(r));
		return r;
	}
	r = coordination_start(ctx);
	if (r < 0)
		return r;
	r = take_systemd_sockets(ctx, persist);
	if (r > 0)
		log_msg(LOG_INFO, "socket activation: %d descriptor(s) from systemd", r);
	store_attach(&ctx->store, persist);
	log_persist(persist, &ctx->store);
	r = store_start_reaper(&ctx->store);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot start the reaper thread: %s", strerror(-r));
		return r;
	}
	r = replica_begin(ctx);
	if (r < 0)
		return r;
	return listeners_start(ctx);
}

/* Say who can join: in token-only mode, only nodes that enroll with a join token. */
static void log_joiners(const struct daemon_ctx *ctx)
{
	const char *ca = ctx->serving_tls ? ctx->serving_tls->client_ca_path : NULL;
	if (!ca)
		log_msg(LOG_NOTICE,
			"token-only: no client CA (client-ca not set); only nodes that enroll "
			"with a join token can fetch ('pkishare print-join-command' prints the "
			"join command, 'pkishare token create' makes tokens)");
	else
		log_msg(LOG_NOTICE, "client CA %s; nodes with a join token may enroll%s", ca,
			ctx->cfg->enrolled_fetch ? " and fetch too"
						 : " but not fetch (enrolled-fetch = no)");
}

/* A serving chain without its CA (the leaf alone, as an operator copies apiserver.crt):
 * joiners find nothing to check their --ca-cert-hash against and refuse this server, so
 * say it at start rather than leave it to each of them. */
static void log_chain(const struct daemon_ctx *ctx)
{
	if (ctx->serving_tls && !ctx->serving_tls->ca_cert_hash[0])
		log_msg(LOG_WARNING,
			"the serving certificate file %s holds no CA certificate after the leaf: "
			"joining nodes cannot check this server against their --ca-cert-hash "
			"and will refuse it ('pkishare status' shows no CA pin); put the "
			"cluster CA's certificate after the leaf in that file ('pkishare pki "
			"serving-cert' writes it so) and reload",
			ctx->cfg->tls_cert);
}

/* READY=1, with what the start found in systemd's store. */
static void notify_ready(const struct daemon_ctx *ctx, const struct persist *persist)
{
	log_msg(LOG_NOTICE, "listening on %s (admin socket %s), TTL %llds, max TTL %llds",
		ctx->listen_name, ctx->cfg->admin_socket, (long long)ctx->cfg->ttl_s,
		(long long)ctx->cfg->max_ttl_s);
	if (testhook_claim_set())
		log_msg(LOG_WARNING,
			"TEST HOOK: every fetch's claim runs off the serving thread and waits %lld "
			"ms first (PKISHARE_TEST_CLAIM_DELAY_MS; only a test build honours it)",
			(long long)testhook_claim_delay_ms());
	if (testhook_watch_delay_ms())
		log_msg(LOG_WARNING,
			"TEST HOOK: a change the coordination watch reports is read %lld ms late "
			"(PKISHARE_TEST_WATCH_DELAY_MS; only a test build honours it)",
			(long long)testhook_watch_delay_ms());
	log_joiners(ctx);
	log_chain(ctx);
	const char *mode = server_mode_note(ctx);
	if (persist->refused && !persist->restored)
		sd_notifyf(0, "READY=1\nSTATUS=Serving on %s%s; started empty: %s",
			   ctx->listen_name, mode, persist->why);
	else if (persist->why[0] && (persist->restored || persist->fdstore_max >= 0))
		sd_notifyf(
		    0, "READY=1\nSTATUS=Serving on %s%s; %s%s", ctx->listen_name, mode,
		    persist->enabled ? "" : "state NOT kept across restarts: ", persist->why);
	else
		sd_notifyf(0, "READY=1\nSTATUS=Serving on %s%s; %s", ctx->listen_name, mode,
			   ctx->store.held.blob ? "bundle restored" : "no bundle held");
}

/* SIGHUP: reload, tell systemd, and tell a waiting POST /v1/reload (systemctl reload). */
static void on_sighup(struct daemon_ctx *ctx, struct daemon_config *cfg, struct options **live,
		      int argc, char **argv)
{
	char why[512] = "";
	sd_notify(0, "RELOADING=1");
	bool ok = reload(ctx, cfg, live, argc, argv, why, sizeof(why));
	if (ok) {
		log_joiners(ctx);
		sd_notifyf(0, "READY=1\nSTATUS=Reloaded; serving on %s%s", ctx->listen_name,
			   server_mode_note(ctx));
	} else
		sd_notifyf(0,
			   "READY=1\nSTATUS=Reload refused: %s; serving with the previous "
			   "configuration",
			   why);
	pthread_mutex_lock(&ctx->reload_lock);
	ctx->reload_gen++;
	ctx->reload_ok = ok;
	str_copy(ctx->reload_why, sizeof(ctx->reload_why), why);
	pthread_cond_broadcast(&ctx->reload_done);
	pthread_mutex_unlock(&ctx->reload_lock);
}

/* The main thread's life while serving: signals, until SIGTERM or SIGINT. */
static void wait_signals(struct daemon_ctx *ctx, struct daemon_config *cfg, struct options **live,
			 const sigset_t *mask, int argc, char **argv)
{
	for (;;) {
		int sig = 0;
		if (sigwait(mask, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			on_sighup(ctx, cfg, live, argc, argv);
		} else if (sig == SIGUSR1) {
			store_forget_persisted(&ctx->store);
			log_msg(LOG_NOTICE, "systemctl stop: the state kept in systemd's store is "
					    "wiped; nothing survives this stop");
		} else {
			log_msg(LOG_NOTICE, "signal %d: wiping secrets and stopping", sig);
			return;
		}
	}
}

/* Stop serving and wipe every secret. What systemd keeps for the next start is left as it
 * is (see --on-stop). */
static void daemon_stop(struct daemon_ctx *ctx, struct persist *persist)
{
	admin_stop(ctx);
	server_stop(ctx);
	replica_stop(&ctx->replica);
	coordination_flush(ctx);
	store_detach(&ctx->store);
	store_done(&ctx->store);
	persist_close(persist);
	if (ctx->admin_fd >= 0) {
		close(ctx->admin_fd);
		if (!ctx->admin_from_systemd)
			unlink(ctx->cfg->admin_socket);
	}
	if (ctx->https_fd >= 0)
		close(ctx->https_fd);
	if (ctx->serve_wake_fd >= 0)
		close(ctx->serve_wake_fd);
	ctx->tls = tls_files_unref(ctx->tls);
	enroll_done(ctx);
	ratelimit_done(&ctx->ratelimit);
	ratelimit_done(&ctx->tls_ratelimit);
	pthread_mutex_destroy(&ctx->tls_lock);
	pthread_mutex_destroy(&ctx->reload_lock);
	pthread_cond_destroy(&ctx->reload_done);
}

int main(int argc, char **argv)
{
	struct options opts;
	struct options *live = NULL; /* the settings of the last successful reload */
	struct persist persist;
	sigset_t mask;
	char tls_why[512];
	int exit_code = 1;

	if (argc == 2 && strcmp(argv[1], "--on-stop") == 0) {
		log_setup(LOG_INFO);
		return on_stop();
	}
	int r = options_load(&opts, argc, argv);
	if (r <= 0) {
		options_free(&opts);
		return r == 0 ? 0 : 2;
	}
	struct daemon_config cfg = opts.cfg; /* strings stay owned by opts until exit */
	log_setup(opts.log_level);
	log_config(&opts);
	if (secrets_setup() < 0)
		return 1;
	signals_block(&mask);

	struct daemon_ctx ctx = {.cfg = &cfg, .https_fd = -1, .admin_fd = -1, .serve_wake_fd = -1};
	persist_init(&persist);
	if (ctx_init(&ctx) < 0)
		return 1;
	if (tls_files_load(&cfg, &ctx.tls, tls_why, sizeof(tls_why)) < 0) {
		log_msg(LOG_ERR, "%s", tls_why);
		exit_code = EXIT_CONFIG; /* systemd does not restart on it */
	} else if (daemon_start(&ctx, &persist) == 0) {
		notify_ready(&ctx, &persist);
		wait_signals(&ctx, &cfg, &live, &mask, argc, argv);
		sd_notify(0, "STOPPING=1");
		exit_code = 0;
	}
	daemon_stop(&ctx, &persist);
	options_free(&opts);
	if (live) {
		options_free(live);
		free(live);
	}
	return exit_code;
}
