/* options.c - defaults, the configuration file and command-line flags for pkishared.
 *
 * The file format (pkishared.conf(5)): one "name = value" per line, names as the long
 * flags without "--", '#' starts a comment. Flags given on the command line override the
 * file; "allow" adds patterns from both. Never holds a secret: only paths and settings. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "options.h"
#include "util.h"

enum {
	OPT_LISTEN = 256,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_ALLOW,
	OPT_ADMIN,
	OPT_TTL,
	OPT_MAXTTL,
	OPT_LOG,
	OPT_TIMEOUT,
	OPT_PRIO,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_ENROLL,
	OPT_CONNLIMIT,
	OPT_PERIP,
	OPT_MAXAGE,
	OPT_AUTHLIMIT,
	OPT_TLSLIMIT,
	OPT_ENROLLCA,
	OPT_ENROLLFETCH,
};

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
    {"connection-limit", required_argument, NULL, OPT_CONNLIMIT},
    {"connection-max-age", required_argument, NULL, OPT_MAXAGE},
    {"auth-failure-limit", required_argument, NULL, OPT_AUTHLIMIT},
    {"tls-failure-limit", required_argument, NULL, OPT_TLSLIMIT},
    {"per-address-limit", required_argument, NULL, OPT_PERIP},
    {"tls-priorities", required_argument, NULL, OPT_PRIO},
    {"enroll-ttl", required_argument, NULL, OPT_ENROLL},
    {"enroll-ca-lifetime", required_argument, NULL, OPT_ENROLLCA},
    {"enrolled-fetch", required_argument, NULL, OPT_ENROLLFETCH},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {0},
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: pkishared [OPTIONS]\n"
	    "Hold a sealed PKI bundle in memory and serve it to joining control-plane nodes\n"
	    "over mutual TLS. See pkishared(8) and pkishared.conf(5).\n\n"
	    "  --config FILE            configuration file (default %s if present)\n"
	    "  --listen ADDR:PORT       HTTPS address (default %s; port 0 picks one)\n"
	    "  --tls-cert FILE          serving certificate (PEM, chain allowed)\n"
	    "  --tls-key FILE           serving key (PEM)\n"
	    "  --client-ca FILE         CA that client certificates must chain to\n"
	    "  --allow PATTERN          allowed CN of client-CA certificates (shell pattern;\n"
	    "                           repeatable; enrolled identities: --enrolled-fetch)\n"
	    "  --admin-socket PATH      admin unix socket (default %s,\n"
	    "                           or $PKISHARE_ADMIN_SOCKET)\n"
	    "  --ttl DURATION           default bundle lifetime (default 2h)\n"
	    "  --max-ttl DURATION       longest lifetime an upload may ask for (default 24h)\n"
	    "  --connection-timeout DURATION  idle connection timeout (default 10s)\n"
	    "  --connection-max-age DURATION  total time a connection may stay open (default 30s)\n"
	    "  --connection-limit N     concurrent connections (default %d)\n"
	    "  --per-address-limit N    concurrent connections per client address (default %d)\n"
	    "  --auth-failure-limit N   failed enrollments per address per minute before 429\n"
	    "                           (default 5)\n"
	    "  --tls-failure-limit N    refused client identities per address per minute before\n"
	    "                           that address is turned away at accept (default 30)\n"
	    "  --tls-priorities STRING  GnuTLS priority string (default: TLS 1.3/1.2 AEAD)\n"
	    "  --enroll-ttl DURATION    lifetime of enrolled client certificates (default 10m)\n"
	    "  --enroll-ca-lifetime DURATION  lifetime of the in-memory enrollment CA, renewed\n"
	    "                           before it ends (default 720h)\n"
	    "  --enrolled-fetch yes|no  may identities enrolled with a join token fetch the\n"
	    "                           bundle (default yes)\n"
	    "  --log-level LEVEL        error, warning, notice, info or debug (default info)\n"
	    "  -h, --help               show this help\n"
	    "  --version                show the version\n"
	    "  pkishared --on-stop      the unit's ExecStop=: on a stop (not a restart), have\n"
	    "                           the daemon wipe the state it keeps in systemd's store\n",
	    DEFAULT_CONFIG_FILE, DEFAULT_LISTEN, DEFAULT_ADMIN_SOCKET, DEFAULT_CONNECTION_LIMIT,
	    DEFAULT_PER_IP_LIMIT);
}

/* Apply one setting. where says where it came from, for the message. */
static int apply(struct options *o, int id, const char *v, const char *where)
{
	struct daemon_config *cfg = &o->cfg;
	int64_t d;
	uint64_t n;

	switch (id) {
	case OPT_LISTEN:
		cfg->listen = v;
		return 0;
	case OPT_CERT:
		cfg->tls_cert = v;
		return 0;
	case OPT_KEY:
		cfg->tls_key = v;
		return 0;
	case OPT_CA:
		cfg->client_ca = v;
		return 0;
	case OPT_ALLOW:
		if (cfg->n_allow >= DAEMON_MAX_ALLOW) {
			fprintf(stderr, "pkishared: %s: at most %d allow patterns\n", where,
				DAEMON_MAX_ALLOW);
			return 2;
		}
		cfg->allow[cfg->n_allow++] = v;
		return 0;
	case OPT_ADMIN:
		cfg->admin_socket = v;
		return 0;
	case OPT_PRIO:
		cfg->tls_priorities = v;
		return 0;
	case OPT_TTL:
	case OPT_MAXTTL:
	case OPT_TIMEOUT:
	case OPT_ENROLL:
	case OPT_ENROLLCA:
	case OPT_MAXAGE:
		if (duration_parse(v, &d) < 0) {
			fprintf(stderr, "pkishared: %s: invalid duration '%s': %s\n", where, v,
				error_message(-PKS_E_DURATION));
			return 2;
		}
		if ((id == OPT_TTL || id == OPT_MAXTTL) && d > STORE_MAX_TTL_S) {
			fprintf(stderr,
				"pkishared: %s: '%s' is longer than 1000 days, the longest "
				"lifetime pkishared keeps\n",
				where, v);
			return 2;
		}
		if (id == OPT_TTL)
			cfg->ttl_s = d;
		else if (id == OPT_MAXTTL)
			cfg->max_ttl_s = d;
		else if (id == OPT_ENROLL)
			cfg->enroll_ttl_s = d;
		else if (id == OPT_ENROLLCA)
			cfg->enroll_ca_lifetime_s = d;
		else if (id == OPT_MAXAGE)
			cfg->connection_max_age_s = (unsigned)d;
		else
			cfg->connection_timeout_s = (unsigned)d;
		if (id == OPT_TTL)
			cfg->ttl_given = true;
		return 0;
	case OPT_CONNLIMIT:
	case OPT_PERIP:
	case OPT_AUTHLIMIT:
	case OPT_TLSLIMIT:
		if (uint_parse(v, 100000, &n) < 0 || n == 0) {
			fprintf(stderr, "pkishared: %s: '%s' is not a number from 1 to 100000\n",
				where, v);
			return 2;
		}
		if (id == OPT_CONNLIMIT)
			cfg->connection_limit = (unsigned)n;
		else if (id == OPT_AUTHLIMIT)
			cfg->auth_failure_limit = (unsigned)n;
		else if (id == OPT_TLSLIMIT)
			cfg->tls_failure_limit = (unsigned)n;
		else
			cfg->per_ip_limit = (unsigned)n;
		return 0;
	case OPT_ENROLLFETCH:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
			fprintf(stderr,
				"pkishared: %s: enrolled-fetch is 'yes' or 'no', not '%.32s'\n",
				where, v);
			return 2;
		}
		cfg->enrolled_fetch = strcmp(v, "yes") == 0;
		return 0;
	case OPT_LOG:
		o->log_level = log_level_parse(v);
		if (o->log_level < 0) {
			fprintf(
			    stderr,
			    "pkishared: %s: unknown log level '%s' (use error, warning, notice, "
			    "info or debug)\n",
			    where, v);
			return 2;
		}
		return 0;
	default:
		return 2;
	}
}

static int load_file(struct options *o, const char *path, bool must_exist)
{
	FILE *f = fopen(path, "re");
	char line[4096], where[256];
	unsigned lineno = 0;

	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fprintf(stderr, "pkishared: cannot read configuration file %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	o->config_path = path;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		snprintf(where, sizeof(where), "%.200s:%u", path, lineno);
		char *p = line + strspn(line, " \t");
		p[strcspn(p, "#\r\n")] = 0;
		size_t len = strlen(p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			p[--len] = 0;
		if (!*p)
			continue;
		char *eq = strchr(p, '=');
		if (!eq) {
			fprintf(stderr, "pkishared: %s: expected 'name = value'\n", where);
			fclose(f);
			return 2;
		}
		char *name = p, *value = eq + 1;
		*eq = 0;
		name[strcspn(name, " \t")] = 0;
		value += strspn(value, " \t");
		int id = 0;
		for (const struct option *op = opts; op->name; op++)
			if (op->has_arg == required_argument && strcmp(op->name, name) == 0 &&
			    op->val != OPT_CONFIG)
				id = op->val;
		if (!id) {
			fprintf(stderr,
				"pkishared: %s: unknown setting '%.64s' (see "
				"pkishared.conf(5))\n",
				where, name);
			fclose(f);
			return 2;
		}
		if (o->n_strings >= OPTIONS_MAX_STRINGS ||
		    !(o->strings[o->n_strings] = strdup(value))) {
			fclose(f);
			return 2;
		}
		int r = apply(o, id, o->strings[o->n_strings++], where);
		if (r) {
			fclose(f);
			return r;
		}
	}
	fclose(f);
	return 0;
}

int options_load(struct options *o, int argc, char **argv)
{
	const char *env_sock = getenv("PKISHARE_ADMIN_SOCKET");
	const char *config = NULL;
	int c, r;

	memset(o, 0, sizeof(*o));
	o->log_level = LOG_INFO;
	o->cfg = (struct daemon_config){
	    .listen = DEFAULT_LISTEN,
	    .admin_socket = env_sock && *env_sock ? env_sock : DEFAULT_ADMIN_SOCKET,
	    .ttl_s = DEFAULT_TTL_S,
	    .max_ttl_s = DEFAULT_MAX_TTL_S,
	    .connection_timeout_s = DEFAULT_CONNECTION_TIMEOUT_S,
	    .connection_limit = DEFAULT_CONNECTION_LIMIT,
	    .per_ip_limit = DEFAULT_PER_IP_LIMIT,
	    .tls_priorities = DEFAULT_TLS_PRIORITIES,
	    .enroll_ttl_s = DEFAULT_ENROLL_TTL_S,
	    .enroll_ca_lifetime_s = DEFAULT_ENROLL_CA_LIFETIME_S,
	    .enrolled_fetch = true,
	    .connection_max_age_s = DEFAULT_CONNECTION_MAX_AGE_S,
	    .auth_failure_limit = DEFAULT_AUTH_FAILURE_LIMIT,
	    .tls_failure_limit = DEFAULT_TLS_FAILURE_LIMIT,
	};
	/* The file first, so that flags override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	r = load_file(o, config ? config : DEFAULT_CONFIG_FILE, config != NULL);
	if (r)
		return r;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == OPT_VERSION) {
			printf("pkishared %s\n", PKISHARE_VERSION);
			return 1;
		}
		if (c == OPT_CONFIG)
			continue;
		if (c == '?' || c == ':') {
			usage(stderr);
			return 2;
		}
		r = apply(o, c, optarg, "command line");
		if (r)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "pkishared: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	struct daemon_config *cfg = &o->cfg;
	if (!cfg->tls_cert || !cfg->tls_key || !cfg->client_ca) {
		fprintf(stderr,
			"pkishared: tls-cert, tls-key and client-ca are required, as flags or "
			"in the configuration file (make them with 'pkishare pki init' or "
			"'pkishare pki serving-cert')\n");
		return 2;
	}
	if (cfg->enroll_ca_lifetime_s < 3 * cfg->enroll_ttl_s) {
		fprintf(stderr, "pkishared: enroll-ca-lifetime must be at least three times "
				"enroll-ttl (the CA is renewed when two enroll-ttl are left)\n");
		return 2;
	}
	if (cfg->connection_limit > CONNECTION_LIMIT_MAX) {
		fprintf(stderr,
			"pkishared: connection-limit is at most %d (the serving loop uses "
			"select(2); see pkishared(8))\n",
			CONNECTION_LIMIT_MAX);
		return 2;
	}
	if (!cfg->ttl_given && cfg->ttl_s > cfg->max_ttl_s)
		cfg->ttl_s = cfg->max_ttl_s; /* a short max-ttl alone lowers the default too */
	if (cfg->ttl_s > cfg->max_ttl_s) {
		fprintf(stderr,
			"pkishared: ttl is longer than max-ttl; lower ttl or raise max-ttl\n");
		return 2;
	}
	return 0;
}

void options_free(struct options *o)
{
	for (size_t i = 0; i < o->n_strings; i++)
		free(o->strings[i]);
	o->n_strings = 0;
}
