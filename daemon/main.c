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

#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "util.h"

#define PEM_MAX_BYTES (64 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pkishared [OPTIONS]\n"
		"Hold a sealed PKI bundle in memory and serve it to joining control-plane nodes\n"
		"over mutual TLS. See pkishared(8).\n\n"
		"  --listen ADDR:PORT       HTTPS address (default %s; port 0 picks one)\n"
		"  --tls-cert FILE          serving certificate (PEM, chain allowed)\n"
		"  --tls-key FILE           serving key (PEM)\n"
		"  --client-ca FILE         CA that client certificates must chain to\n"
		"  --allow PATTERN          allowed client CN (shell pattern; repeatable)\n"
		"  --admin-socket PATH      admin unix socket (default %s,\n"
		"                           or $PKISHARE_ADMIN_SOCKET)\n"
		"  --ttl DURATION           default bundle lifetime (default 2h)\n"
		"  --max-ttl DURATION       longest lifetime an upload may ask for (default 24h)\n"
		"  --connection-timeout DURATION  idle connection timeout (default 10s)\n"
		"  --tls-priorities STRING  GnuTLS priority string (default: TLS 1.3/1.2 AEAD)\n"
		"  --enroll-ttl DURATION    lifetime of enrolled client certificates (default 10m)\n"
		"  --log-level LEVEL        error, warning, notice, info or debug (default info)\n"
		"  -h, --help               show this help\n"
		"  --version                show the version\n",
		DEFAULT_LISTEN, DEFAULT_ADMIN_SOCKET);
}

static int load_pem(const char *what, const char *path, struct secret **ret)
{
	int r = secret_read_file(path, PEM_MAX_BYTES, ret);
	if (r < 0)
		log_msg(LOG_ERR, "cannot read %s %s: %s; check the path and permissions", what,
			path, error_message(r));
	return r;
}


int main(int argc, char **argv)
{
	enum { OPT_LISTEN = 256, OPT_CERT, OPT_KEY, OPT_CA, OPT_ALLOW, OPT_ADMIN, OPT_TTL,
	       OPT_MAXTTL, OPT_LOG, OPT_TIMEOUT, OPT_PRIO, OPT_VERSION, OPT_CONFIG, OPT_ENROLL };
	static const struct option opts[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"tls-cert", required_argument, NULL, OPT_CERT},
		{"tls-key", required_argument, NULL, OPT_KEY},
		{"client-ca", required_argument, NULL, OPT_CA},
		{"allow", required_argument, NULL, OPT_ALLOW},
		{"admin-socket", required_argument, NULL, OPT_ADMIN},
		{"ttl", required_argument, NULL, OPT_TTL},
		{"max-ttl", required_argument, NULL, OPT_MAXTTL},
		{"connection-timeout", required_argument, NULL, OPT_TIMEOUT},
		{"tls-priorities", required_argument, NULL, OPT_PRIO},
		{"enroll-ttl", required_argument, NULL, OPT_ENROLL},
		{"log-level", required_argument, NULL, OPT_LOG},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{0},
	};
	struct daemon_config cfg = {
		.listen = DEFAULT_LISTEN,
		.admin_socket = getenv("PKISHARE_ADMIN_SOCKET") ? getenv("PKISHARE_ADMIN_SOCKET")
								 : DEFAULT_ADMIN_SOCKET,
		.ttl_s = DEFAULT_TTL_S,
		.max_ttl_s = DEFAULT_MAX_TTL_S,
		.connection_timeout_s = DEFAULT_CONNECTION_TIMEOUT_S,
		.connection_limit = DEFAULT_CONNECTION_LIMIT,
		.per_ip_limit = DEFAULT_PER_IP_LIMIT,
		.tls_priorities = DEFAULT_TLS_PRIORITIES,
		.enroll_ttl_s = DEFAULT_ENROLL_TTL_S,
	};
	int level = LOG_INFO, c, r;
	bool ttl_given = false;
	int64_t d;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			cfg.listen = optarg;
			break;
		case OPT_CERT:
			cfg.tls_cert = optarg;
			break;
		case OPT_KEY:
			cfg.tls_key = optarg;
			break;
		case OPT_CA:
			cfg.client_ca = optarg;
			break;
		case OPT_ALLOW:
			if (cfg.n_allow >= DAEMON_MAX_ALLOW) {
				fprintf(stderr, "pkishared: at most %d --allow patterns\n",
					DAEMON_MAX_ALLOW);
				return 2;
			}
			cfg.allow[cfg.n_allow++] = optarg;
			break;
		case OPT_ADMIN:
			cfg.admin_socket = optarg;
			break;
		case OPT_TTL:
		case OPT_MAXTTL:
		case OPT_TIMEOUT:
		case OPT_ENROLL:
			if (duration_parse(optarg, &d) < 0) {
				fprintf(stderr, "pkishared: invalid duration '%s': %s\n", optarg,
					error_message(-PKS_E_DURATION));
				return 2;
			}
			if (c == OPT_TTL) {
				cfg.ttl_s = d;
				ttl_given = true;
			}
			else if (c == OPT_MAXTTL)
				cfg.max_ttl_s = d;
			else if (c == OPT_ENROLL)
				cfg.enroll_ttl_s = d;
			else
				cfg.connection_timeout_s = (unsigned)d;
			break;
		case OPT_PRIO:
			cfg.tls_priorities = optarg;
			break;
		case OPT_LOG:
			level = log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "pkishared: unknown log level '%s' (use error, "
						"warning, notice, info or debug)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_CONFIG:
			fprintf(stderr, "pkishared: --config is not supported yet; pass options "
					"on the command line\n");
			return 2;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("pkishared %s\n", PKISHARE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pkishared: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!cfg.tls_cert || !cfg.tls_key || !cfg.client_ca) {
		fprintf(stderr, "pkishared: --tls-cert, --tls-key and --client-ca are required "
				"(make them with 'pkishare pki init' or 'pkishare pki "
				"serving-cert')\n");
		return 2;
	}
	if (!ttl_given && cfg.ttl_s > cfg.max_ttl_s)
		cfg.ttl_s = cfg.max_ttl_s; /* a short --max-ttl alone lowers the default too */
	if (cfg.ttl_s > cfg.max_ttl_s) {
		fprintf(stderr, "pkishared: --ttl is longer than --max-ttl; lower --ttl or raise "
				"--max-ttl\n");
		return 2;
	}

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

	struct daemon_ctx ctx = {.cfg = &cfg, .https_fd = -1, .admin_fd = -1};
	int exit_code = 1;
	pthread_mutex_init(&ctx.ratelimit.lock, NULL);
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
			log_msg(LOG_NOTICE, "SIGHUP: reload is not implemented yet; ignoring");
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
		unlink(cfg.admin_socket);
	}
	if (ctx.https_fd >= 0)
		close(ctx.https_fd);
	secret_free(ctx.tls_key_pem);
	secret_free(ctx.tls_cert_pem);
	secret_free(ctx.client_ca_pem);
	enroll_done(&ctx);
	pthread_mutex_destroy(&ctx.ratelimit.lock);
	return exit_code;
}
