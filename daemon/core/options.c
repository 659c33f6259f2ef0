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

#include "addr.h"
#include "conffile.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "options.h"
#include "store.h"
#include "util.h"

#define CFG(field) offsetof(struct options, cfg.field), sizeof(((struct options *)0)->cfg.field)
#define COUNT_MAX 100000

/* Every setting, once: its flag and configuration key, how its value is read and bounded,
 * its default, its help line, and whether a reload (SIGHUP) may change it. --help, the
 * file, the flags, the defaults and reload() are all driven from here; unit.options holds
 * the man pages and the sample configuration against it. */
static const struct option_def defs[] = {
    {"listen", OPTION_LISTEN, CFG(listen), 0, 0, "ADDR:PORT", 0, DEFAULT_LISTEN,
     "HTTPS address (port 0 picks one)", false, NULL},
    {"tls-cert", OPTION_STRING, CFG(tls_cert), 0, 0, "FILE", 0, NULL,
     "serving certificate (PEM, chain allowed)", true, NULL},
    {"tls-key", OPTION_STRING, CFG(tls_key), 0, 0, "FILE", 0, NULL, "serving key (PEM)", true,
     NULL},
    {"client-ca", OPTION_STRING, CFG(client_ca), 0, 0, "FILE", 0, NULL,
     "CA that client certificates must chain to (none:\n"
     "token-only, joiners enroll with join tokens)",
     true, NULL},
    {"allow", OPTION_LIST, CFG(allow), 0, DAEMON_MAX_ALLOW, "PATTERN", 0, NULL,
     "allowed CN of client-CA certificates (shell pattern;\n"
     "repeatable; enrolled identities: --enrolled-fetch)",
     true, NULL},
    {"admin-socket", OPTION_STRING, CFG(admin_socket), 0, 0, "PATH", 0, DEFAULT_ADMIN_SOCKET,
     "admin unix socket (or $PKISHARE_ADMIN_SOCKET)", false, NULL},
    {"ttl", OPTION_DURATION, CFG(ttl_s), 1, STORE_MAX_TTL_S, "DURATION", DEFAULT_TTL_S, NULL,
     "default bundle lifetime", false, NULL},
    {"max-ttl", OPTION_DURATION, CFG(max_ttl_s), 1, STORE_MAX_TTL_S, "DURATION", DEFAULT_MAX_TTL_S,
     NULL, "longest lifetime an upload may ask for", false, NULL},
    {"connection-timeout", OPTION_DURATION, CFG(connection_timeout_s), 1, 24 * 3600, "DURATION",
     DEFAULT_CONNECTION_TIMEOUT_S, NULL, "idle connection timeout", true, NULL},
    {"connection-max-age", OPTION_DURATION, CFG(connection_max_age_s), 1, 24 * 3600, "DURATION",
     DEFAULT_CONNECTION_MAX_AGE_S, NULL, "total time a connection may stay open", true, NULL},
    {"connection-limit", OPTION_COUNT, CFG(connection_limit), 1, CONNECTION_LIMIT_MAX, "N",
     DEFAULT_CONNECTION_LIMIT, NULL,
     "concurrent connections (below FD_SETSIZE: the serving\nloop uses select(2))", true,
     " (the serving loop uses select(2); see pkishared(8))"},
    {"handshake-timeout", OPTION_DURATION, CFG(handshake_timeout_s), 1, 3600, "DURATION",
     DEFAULT_HANDSHAKE_TIMEOUT_S, NULL,
     "time to finish the TLS handshake and send the first\nrequest", true, NULL},
    {"per-address-limit", OPTION_COUNT, CFG(per_ip_limit), 1, COUNT_MAX, "N", DEFAULT_PER_IP_LIMIT,
     NULL, "concurrent connections per client address", true, NULL},
    {"per-network-limit", OPTION_COUNT, CFG(per_net_limit), 1, COUNT_MAX, "N",
     DEFAULT_PER_NET_LIMIT, NULL, "concurrent connections per IPv4 /24 or IPv6 /64", true, NULL},
    {"auth-failure-limit", OPTION_COUNT, CFG(auth_failure_limit), 1, COUNT_MAX, "N",
     DEFAULT_AUTH_FAILURE_LIMIT, NULL, "failed enrollments per address per minute before 429",
     false, NULL},
    {"tls-failure-limit", OPTION_COUNT, CFG(tls_failure_limit), 1, COUNT_MAX, "N",
     DEFAULT_TLS_FAILURE_LIMIT, NULL,
     "refused client identities per address per minute before\nthat address is turned "
     "away at accept",
     true, NULL},
    {"tls-priorities", OPTION_STRING, CFG(tls_priorities), 0, 0, "STRING", 0, NULL,
     "GnuTLS priority string (default: TLS 1.3/1.2 AEAD)", true, NULL},
    {"enroll-ttl", OPTION_DURATION, CFG(enroll_ttl_s), 1, 24 * 3600, "DURATION",
     DEFAULT_ENROLL_TTL_S, NULL, "lifetime of enrolled client certificates", false, NULL},
    {"enroll-ca-lifetime", OPTION_DURATION, CFG(enroll_ca_lifetime_s), 1, STORE_MAX_TTL_S,
     "DURATION", DEFAULT_ENROLL_CA_LIFETIME_S, NULL,
     "lifetime of the in-memory enrollment CA, renewed\nbefore it ends", false, NULL},
    {"enrolled-fetch", OPTION_YESNO, CFG(enrolled_fetch), 0, 0, "yes|no", 1, NULL,
     "may identities enrolled with a join token fetch the\nbundle", true, NULL},
    {"coord-socket", OPTION_STRING, CFG(coord_socket), 0, 0, "PATH", 0, NULL,
     "pkishare-coordd's socket: set, coordination is on (the\n"
     "cluster's etcd decides; pkishare-coordd(8))",
     false, NULL},
    {"node-name", OPTION_STRING, CFG(node_name), 0, 0, "NAME", 0, NULL,
     "this node's name in the cluster (default: the host name)", false, NULL},
    {"peer-address", OPTION_STRING, CFG(peer_address), 0, 0, "HOST:PORT", 0, NULL,
     "where other nodes reach this one (default: listen, when\nit is a specific address)", false,
     NULL},
    {"log-level", OPTION_LOGLEVEL, offsetof(struct options, log_level), sizeof(int), 0, 0, "LEVEL",
     LOG_INFO, NULL, "error, warning, notice, info or debug", false, NULL},
};

/* A number into a field of its own width (int64_t, unsigned, int or bool). */
static void store_number(void *p, size_t size, int64_t n)
{
	if (size == sizeof(int64_t))
		*(int64_t *)p = n;
	else if (size == sizeof(unsigned))
		*(unsigned *)p = (unsigned)n;
	else if (size == sizeof(bool))
		*(bool *)p = n != 0;
}

const struct option_def *options_table(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(defs);
	return defs;
}

enum { OPT_VERSION = 256, OPT_CONFIG, OPT_FIRST_DEF };

static void usage(FILE *f)
{
	char left[64], def[64];
	fprintf(f,
		"Usage: pkishared [OPTIONS]\n"
		"Hold a sealed PKI bundle in memory and serve it to joining control-plane nodes\n"
		"over mutual TLS. See pkishared(8) and pkishared.conf(5).\n\n"
		"  --config FILE            configuration file (default %s if present)\n",
		DEFAULT_CONFIG_FILE);
	for (size_t i = 0; i < ELEMENTSOF(defs); i++) {
		const struct option_def *d = &defs[i];
		snprintf(left, sizeof(left), "--%s %s", d->name, d->arg);
		def[0] = 0;
		if (d->def_str)
			snprintf(def, sizeof(def), " (default %s)", d->def_str);
		else if (d->type == OPTION_DURATION) {
			char t[32];
			duration_format(d->def_num, t, sizeof(t));
			snprintf(def, sizeof(def), " (default %s)", t);
		} else if (d->type == OPTION_COUNT)
			snprintf(def, sizeof(def), " (default %lld)", (long long)d->def_num);
		else if (d->type == OPTION_YESNO)
			snprintf(def, sizeof(def), " (default %s)", d->def_num ? "yes" : "no");
		else if (d->type == OPTION_LOGLEVEL)
			snprintf(def, sizeof(def), " (default info)");
		int col = fprintf(f, strlen(left) >= 25 ? "  %s  " : "  %-25s", left);
		for (const char *h = d->help; *h; h++) {
			fputc(*h, f);
			col = *h == '\n' ? fprintf(f, "%27s", "") : col + 1;
		}
		/* The default and [restart] on the same line if it stays within 88 columns. */
		const char *restart = d->reload ? "" : " [restart]";
		if (col + strlen(def) + strlen(restart) > 88)
			fprintf(f, "\n%26s", "");
		fprintf(f, "%s%s\n", def, restart);
	}
	fprintf(f,
		"  -h, --help               show this help\n"
		"  --version                show the version\n"
		"  pkishared --on-stop      the unit's ExecStop=: on a stop (not a restart), have\n"
		"                           the daemon wipe the state it keeps in systemd's store\n"
		"[restart]: a reload (SIGHUP) keeps the running value; a restart takes the new.\n");
}

/* A setting held as the text it was given (a const char * field). */
static bool is_text(const struct option_def *d)
{
	return d->type == OPTION_STRING || d->type == OPTION_LISTEN;
}

static void *field(struct options *o, const struct option_def *d)
{
	return (char *)o + d->offset;
}

/* Apply one setting. where says where it came from, for the message. One case per option
 * type, each its own reading and message: kept whole, as a table reads best whole. */
static int apply(struct options *o, const struct option_def *d, const char *v, const char *where)
{
	int64_t n;
	uint64_t u;
	char host[ADDR_HOST_MAX], detail[DETAIL_MAX];
	uint16_t port;

	switch (d->type) {
	case OPTION_LISTEN:
		if (addr_parse_listen(v, host, &port, detail) < 0) {
			log_msg(LOG_ERR, "%s: %s: %s", where, d->name, detail);
			return -EINVAL;
		}
		*(const char **)field(o, d) = v;
		return 0;
	case OPTION_STRING:
		*(const char **)field(o, d) = v;
		return 0;
	case OPTION_LIST:
		if (o->cfg.n_allow >= (size_t)d->max) {
			log_msg(LOG_ERR, "%s: at most %lld %s values", where, (long long)d->max,
				d->name);
			return -EINVAL;
		}
		o->cfg.allow[o->cfg.n_allow++] = v;
		return 0;
	case OPTION_DURATION:
		if (duration_parse(v, &n) < 0) {
			log_msg(LOG_ERR, "%s: %s: invalid duration '%s': %s", where, d->name, v,
				error_message(-PKS_E_DURATION));
			return -EINVAL;
		}
		if (n < d->min || n > d->max) {
			char max[32];
			duration_format(d->max, max, sizeof(max));
			log_msg(LOG_ERR, "%s: %s: '%s' is longer than %s, the most it takes", where,
				d->name, v, max);
			return -EINVAL;
		}
		break;
	case OPTION_COUNT:
		if (uint_parse(v, UINT32_MAX, &u) < 0 || (int64_t)u < d->min) {
			log_msg(LOG_ERR, "%s: %s: '%s' is not a number from %lld to %lld", where,
				d->name, v, (long long)d->min, (long long)d->max);
			return -EINVAL;
		}
		if ((int64_t)u > d->max) {
			log_msg(LOG_ERR, "%s: %s is at most %lld%s, not %llu", where, d->name,
				(long long)d->max, d->bound_why ? d->bound_why : "",
				(unsigned long long)u);
			return -EINVAL;
		}
		n = (int64_t)u;
		break;
	case OPTION_YESNO:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
			log_msg(LOG_ERR, "%s: %s is 'yes' or 'no', not '%.32s'", where, d->name, v);
			return -EINVAL;
		}
		n = strcmp(v, "yes") == 0;
		break;
	case OPTION_LOGLEVEL:
		n = log_level_parse(v);
		if (n < 0) {
			log_msg(LOG_ERR,
				"%s: unknown log level '%s' (use error, warning, notice, info or "
				"debug)",
				where, v);
			return -EINVAL;
		}
		break;
	default:
		return -EINVAL;
	}
	store_number(field(o, d), d->size, n);
	if (strcmp(d->name, "ttl") == 0)
		o->cfg.ttl_given = true;
	return 0;
}

/* One setting of the file (conffile.h's callback). */
static int file_setting(const char *name, const char *value, const char *where, void *arg)
{
	struct options *o = arg;
	const struct option_def *d = NULL;
	for (size_t i = 0; i < ELEMENTSOF(defs) && !d; i++)
		if (strcmp(defs[i].name, name) == 0)
			d = &defs[i];
	if (!d) {
		log_msg(LOG_ERR, "%s: unknown setting '%.64s' (see pkishared.conf(5))", where,
			name);
		return -EINVAL;
	}
	if (o->n_strings >= OPTIONS_MAX_STRINGS || !(o->strings[o->n_strings] = strdup(value)))
		return -EINVAL;
	return apply(o, d, o->strings[o->n_strings++], where);
}

static int load_file(struct options *o, const char *path, bool must_exist)
{
	char why[512];
	bool found = false;
	int r = conffile_read(path, must_exist, file_setting, o, &found, why, sizeof(why));
	if (found)
		o->config_path = path;
	if (r < 0 && why[0])
		log_msg(LOG_ERR, "%s", why);
	return r;
}

/* Every setting's default, then $PKISHARE_ADMIN_SOCKET. */
static void defaults(struct options *o)
{
	const char *env_sock = getenv("PKISHARE_ADMIN_SOCKET");
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < ELEMENTSOF(defs); i++) {
		const struct option_def *d = &defs[i];
		if (is_text(d))
			*(const char **)field(o, d) = d->def_str;
		else if (d->type != OPTION_LIST)
			store_number(field(o, d), d->size, d->def_num);
	}
	o->cfg.tls_priorities = DEFAULT_TLS_PRIORITIES;
	if (env_sock && *env_sock)
		o->cfg.admin_socket = env_sock;
}

/* The --config given among argv, or NULL: the file is read before the flags, so that
 * flags override it. */
static const char *config_arg(int argc, char **argv)
{
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	return config;
}

/* The flags, over what the file set. 1 to go on, 0 after --help or --version, <0 after
 * saying what is wrong. */
static int flags_parse(struct options *o, int argc, char **argv)
{
	struct option opts[ELEMENTSOF(defs) + 4] = {
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	};
	int c;
	for (size_t i = 0; i < ELEMENTSOF(defs); i++)
		opts[3 + i] =
		    (struct option){defs[i].name, required_argument, NULL, OPT_FIRST_DEF + (int)i};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == OPT_VERSION) {
			printf("pkishared %s\n", PKISHARE_VERSION);
			return 0;
		}
		if (c == OPT_CONFIG)
			continue;
		if (c == '?' || c == ':') {
			usage(stderr);
			return -EINVAL;
		}
		int r = c >= OPT_FIRST_DEF && c < OPT_FIRST_DEF + (int)ELEMENTSOF(defs)
			    ? apply(o, &defs[c - OPT_FIRST_DEF], optarg, "command line")
			    : -EINVAL;
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		log_msg(LOG_ERR, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

/* A name or address other nodes see: 1-96 printable ASCII without spaces. */
static bool coord_text_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 96)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/* Coordination's settings: node-name defaults to the host name, peer-address to listen
 * when that is a specific address. An empty coord-socket is coordination off. */
static int coord_check(struct options *o)
{
	struct daemon_config *cfg = &o->cfg;
	char host[256] = "";
	if (cfg->coord_socket && !cfg->coord_socket[0])
		cfg->coord_socket = NULL;
	if (!cfg->coord_socket)
		return 0;
	if (cfg->coord_socket[0] != '/') {
		log_msg(LOG_ERR, "coord-socket must be an absolute path (pkishare-coordd's "
				 "socket, by default /run/pkishare/coord.sock)");
		return -EINVAL;
	}
	if (!cfg->node_name || !cfg->node_name[0]) {
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0]) {
			log_msg(LOG_ERR, "cannot read the host name for node-name; set node-name");
			return -EINVAL;
		}
		if (o->n_strings >= OPTIONS_MAX_STRINGS ||
		    !(o->strings[o->n_strings] = strdup(host)))
			return -ENOMEM;
		cfg->node_name = o->strings[o->n_strings++];
	}
	if (!coord_text_ok(cfg->node_name)) {
		log_msg(LOG_ERR, "node-name must be 1 to 96 printable characters without spaces");
		return -EINVAL;
	}
	if (!cfg->peer_address || !cfg->peer_address[0]) {
		bool any =
		    !strncmp(cfg->listen, "0.0.0.0:", 8) || !strncmp(cfg->listen, "[::]:", 5);
		cfg->peer_address = any ? NULL : cfg->listen;
	}
	if (cfg->peer_address && !coord_text_ok(cfg->peer_address)) {
		log_msg(LOG_ERR, "peer-address must be HOST:PORT (1 to 96 printable characters)");
		return -EINVAL;
	}
	if (!cfg->peer_address)
		log_msg(LOG_WARNING,
			"coordination on, and no peer-address: listen (%s) is not a specific "
			"address, so other nodes cannot be told where to copy the bundle from this "
			"one; set peer-address = HOST:PORT",
			cfg->listen);
	return 0;
}

/* What no single setting can check: required files, and settings bounded by others.
 * config_path: the configuration file read, or NULL if none was (looked for at
 * default_path), so that a missing setting says where it was looked for. */
static int settings_check(struct options *o, const char *config_path, const char *default_path)
{
	struct daemon_config *cfg = &o->cfg;
	if (!cfg->tls_cert || !cfg->tls_key) {
		const char *which = !cfg->tls_cert && !cfg->tls_key ? "either of them"
				    : !cfg->tls_cert		    ? "tls-cert"
								    : "tls-key";
		if (config_path)
			log_msg(LOG_ERR,
				"tls-cert and tls-key are required, as flags or in the "
				"configuration file, and %s, the file read, does not set %s: add "
				"them there or pass --tls-cert and --tls-key (make them with "
				"'pkishare pki serving-cert', or 'pkishare pki init' for a "
				"throwaway PKI)",
				config_path, which);
		else
			log_msg(LOG_ERR,
				"tls-cert and tls-key are required, as flags or in the "
				"configuration file, and no configuration file was read (%s is "
				"not there; --config FILE names another): pass --tls-cert and "
				"--tls-key, or write them in that file (make them with 'pkishare "
				"pki serving-cert', or 'pkishare pki init' for a throwaway PKI)",
				default_path);
		return -EINVAL;
	}
	/* An empty value (client-ca = ) is token-only too, as a line commented out. */
	if (cfg->client_ca && !cfg->client_ca[0])
		cfg->client_ca = NULL;
	if (!cfg->client_ca && !cfg->enrolled_fetch) {
		log_msg(LOG_ERR,
			"enrolled-fetch = no and no client-ca: nobody could fetch the bundle "
			"(without a client CA only nodes enrolled with a join token can); set "
			"client-ca to your node-identity CA ('pkishare pki client-ca' makes one), "
			"or enrolled-fetch = yes");
		return -EINVAL;
	}
	if (cfg->enroll_ca_lifetime_s < 3 * cfg->enroll_ttl_s) {
		log_msg(LOG_ERR, "enroll-ca-lifetime must be at least three times "
				 "enroll-ttl (the CA is renewed when two enroll-ttl are left)");
		return -EINVAL;
	}
	if (coord_check(o) < 0)
		return -EINVAL;
	if (!cfg->ttl_given && cfg->ttl_s > cfg->max_ttl_s)
		cfg->ttl_s = cfg->max_ttl_s; /* a short max-ttl alone lowers the default too */
	if (cfg->ttl_s > cfg->max_ttl_s) {
		log_msg(LOG_ERR, "ttl is longer than max-ttl; lower ttl or raise max-ttl");
		return -EINVAL;
	}
	return 0;
}

int options_load(struct options *o, int argc, char **argv)
{
	defaults(o);
	const char *config = config_arg(argc, argv);
	int r = load_file(o, config ? config : DEFAULT_CONFIG_FILE, config != NULL);
	if (r < 0)
		return r;
	r = flags_parse(o, argc, argv);
	if (r <= 0)
		return r;
	r = settings_check(o, o->config_path, config ? config : DEFAULT_CONFIG_FILE);
	return r < 0 ? r : 1; /* 1: run */
}

void options_free(struct options *o)
{
	for (size_t i = 0; i < o->n_strings; i++)
		free(o->strings[i]);
	o->n_strings = 0;
}

void options_reload_into(struct daemon_config *cfg, const struct options *next, char *ret_ignored,
			 size_t len)
{
	size_t base = offsetof(struct options, cfg);
	ret_ignored[0] = 0;
	for (size_t i = 0; i < ELEMENTSOF(defs); i++) {
		const struct option_def *d = &defs[i];
		if (d->offset < base || d->offset >= base + sizeof(*cfg))
			continue; /* not a daemon_config field (log-level) */
		char *to = (char *)cfg + (d->offset - base);
		const char *from = (const char *)next + d->offset;
		if (d->reload) {
			memcpy(to, from, d->size);
			if (d->type == OPTION_LIST)
				cfg->n_allow = next->cfg.n_allow;
			continue;
		}
		bool same =
		    is_text(d)
			? !strcmp(*(const char *const *)to ? *(const char *const *)to : "",
				  *(const char *const *)from ? *(const char *const *)from : "")
			: !memcmp(to, from, d->size);
		size_t n = strlen(ret_ignored);
		if (!same && n + strlen(d->name) + 3 < len)
			snprintf(ret_ignored + n, len - n, "%s%s", n ? ", " : "", d->name);
	}
}
