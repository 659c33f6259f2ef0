/* cmd-join.c - join: its options, its plan (everything checked that needs no server:
 * the token, the servers, the pin, the key, the node certificates' inputs, the external
 * etcd destinations, the target), then the fetch (fetch.c), which installs (install.c).
 *
 * The certificate key and the token stay in guarded memory; a failure at any step leaves
 * the target directory as it was. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "bundle.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "fetch.h"
#include "join.h"
#include "key.h"
#include "kubeadm.h"
#include "kubeconf.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "target.h"
#include "token.h"
#include "util.h"
#include "x509.h"

/* join --help on f. Returns nothing. */
static void join_usage(FILE *f)
{
	fputs(
	    "Usage: [" CLI_ENV_TOKEN "=TOKEN] " CLI_ENV_KEY "=KEY pkishare join\n"
	    "                     --server HOST[:PORT] [--server HOST[:PORT]]...\n"
	    "                     --ca-cert-hash sha256:HEX [--certificate-key -|KEY]\n"
	    "                     (--cert FILE --key FILE | [--token TOKEN] [--node-name N])\n"
	    "                     [--pki-dir DIR] [--dry-run] [--force]\n"
	    "                     [--external-etcd-ca F --external-etcd-cert F\n"
	    "                      --external-etcd-key F]\n" NODECERTS_USAGE
	    "  kubeadm's names are taken too: --discovery-token-ca-cert-hash for --ca-cert-hash;\n"
	    "  --control-plane (always implied); the port defaults to 9443 (pkishared's)\n"
	    "Fetch the sealed PKI from pkishared over mutual TLS, open it and install it; with\n"
	    "--advertise-address also make this node's own certificates as kubeadm would.\n"
	    "The --external-etcd-* flags say where a bundle's external etcd files go (else the\n"
	    "cluster profile's paths).\n"
	    "Everything is checked before the fetch; --dry-run fetches nothing and writes\n"
	    "nothing; the shared PKI and the node certificates go in in one atomic step.\n"
	    "The key and the token in the environment (wiped from it once read), or the key on\n"
	    "standard input (--certificate-key -), stay out of the process list;\n"
	    "--certificate-key KEY and --token TOKEN work but are readable by every local user.\n",
	    f);
}

/* kubeadm join's own flags that pkishare join does not take: say what to use instead
 * and return true. */
static bool kubeadm_flag_hint(const char *arg)
{
	static const struct {
		const char *flag, *hint;
	} hints[] = {
	    {"--apiserver-advertise-address",
	     "pkishare join takes --advertise-address IP (for this node's certificates)"},
	    {"--discovery-token",
	     "pkishare join takes --token, a pkishare join token (pkishare token create), "
	     "not a kubeadm bootstrap token"},
	    {"--tls-bootstrap-token", "pkishare join takes --token (pkishare token create)"},
	    {"--discovery-token-unsafe-skip-ca-verification",
	     "pkishare always verifies the server: give --ca-cert-hash (pkishare pki "
	     "ca-cert-hash /etc/kubernetes/pki/ca.crt on the first node)"},
	    {"--discovery-file", "pkishare join takes --server and --ca-cert-hash instead"},
	    {"--config", "pkishare join takes no JoinConfiguration; the cluster profile comes "
			 "sealed with the bundle (upload-certs --config)"},
	};
	if (!arg || strncmp(arg, "--", 2) != 0)
		return false;
	size_t n = strcspn(arg, "=");
	for (size_t i = 0; i < ELEMENTSOF(hints); i++)
		if (strlen(hints[i].flag) == n && !strncmp(arg, hints[i].flag, n)) {
			cli_error("%.*s is kubeadm join's, not pkishare join's; %s", (int)n, arg,
				  hints[i].hint);
			return true;
		}
	return false;
}

/* join's options, and kubeadm join's names for two of them. */
enum join_option {
	O_SERVER = 256,
	O_HASH,
	O_KEY,
	O_CERT,
	O_CKEY,
	O_PKI,
	O_DRY,
	O_FORCE,
	O_TOKEN,
	O_NODE,
	O_CP,
	O_EXT0,
	O_EXT1,
	O_EXT2,
};
static const struct option join_options[] = {
    {"server", required_argument, NULL, O_SERVER},
    {"ca-cert-hash", required_argument, NULL, O_HASH},
    {"discovery-token-ca-cert-hash", required_argument, NULL, O_HASH},
    {"certificate-key", required_argument, NULL, O_KEY},
    {"cert", required_argument, NULL, O_CERT},
    {"key", required_argument, NULL, O_CKEY},
    {"pki-dir", required_argument, NULL, O_PKI},
    {"dry-run", no_argument, NULL, O_DRY},
    {"force", no_argument, NULL, O_FORCE},
    {"token", required_argument, NULL, O_TOKEN},
    {"node-name", required_argument, NULL, O_NODE},
    {"control-plane", no_argument, NULL, O_CP},
    NODECERTS_LONG_OPTIONS,
    EXT_ETCD_LONG_OPTIONS(O_EXT0),
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* join's options into a (getopt_long). Returns >0 to go on, 0 after --help, <0 after
 * saying what is wrong. */
static int join_options_parse(int argc, char **argv, struct join_args *a)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", join_options, NULL)) != -1) {
		switch (c) {
		case O_SERVER:
			if (a->n_servers >= JOIN_SERVERS_MAX) {
				cli_error("at most %d --server", JOIN_SERVERS_MAX);
				return -EINVAL;
			}
			a->servers[a->n_servers++] = optarg;
			break;
		case O_HASH:
			a->hash = optarg;
			break;
		case O_KEY:
			a->key_arg = optarg;
			break;
		case O_CERT:
			a->cert = optarg;
			break;
		case O_CKEY:
			a->ckey = optarg;
			break;
		case O_PKI:
			a->pki_dir = optarg;
			break;
		case O_DRY:
			a->flags |= PKIDIR_DRY_RUN;
			break;
		case O_FORCE:
			a->flags |= PKIDIR_FORCE;
			break;
		case O_TOKEN:
			a->token_arg = optarg;
			break;
		case O_NODE:
			a->node_name = optarg;
			break;
		case O_EXT0:
		case O_EXT1:
		case O_EXT2:
			a->ext_paths[c - O_EXT0] = optarg;
			break;
		case O_CP:
			break;
		case 'h':
			join_usage(stdout);
			return 0;
		default: {
			int t = nodecerts_option(&a->nc, c, optarg);
			if (t > 0)
				break;
			if (t == 0) {
				join_usage(stderr);
			}
			return -EINVAL;
		}
		}
	}
	return 1;
}

/* An argument join does not take, said; kubeadm's positional API server address is
 * named as such, with the --server to use instead. Returns -EINVAL. */
static int say_unexpected_argument(const char *arg)
{
	char host[ADDR_HOST_MAX], why[DETAIL_MAX], as_server[ADDR_TEXT_MAX + 256];
	uint16_t port;

	if (!strchr(arg, ':') || addr_parse(arg, ADDR_DEFAULT_PORT, host, &port, why) != 0) {
		cli_error("unexpected argument '%s'", arg);
		return -EINVAL;
	}
	/* kubeadm's `join HOST:6443`: the API server's address, positional. */
	addr_join(host, port == 6443 ? ADDR_DEFAULT_PORT : port, as_server, sizeof(as_server));
	cli_error("unexpected argument '%s': pkishare takes the server as --server "
		  "HOST[:PORT], not kubeadm's positional API server address%s; try "
		  "--server %s",
		  arg,
		  port == 6443 ? " (6443 is the API server's port; pkishared "
				 "listens on 9443 unless told otherwise)"
			       : "",
		  as_server);
	return -EINVAL;
}

/* Parse join's command line into a. Returns >0 to go on, 0 after --help, <0 after saying
 * what is wrong (verb_join exits with EXIT_USAGE then). */
static int join_parse(int argc, char **argv, struct join_args *a)
{
	a->pki_dir = DEFAULT_PKI_DIR;
	/* Before getopt: it would take --discovery-token as an abbreviation of
	 * --discovery-token-ca-cert-hash. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (kubeadm_flag_hint(argv[i]))
			return -EINVAL;
	int r = join_options_parse(argc, argv, a);
	if (r <= 0)
		return r;
	if (optind < argc)
		return say_unexpected_argument(argv[optind]);
	bool key = a->key_arg || getenv(CLI_ENV_KEY);
	bool token = a->token_arg || getenv(CLI_ENV_TOKEN);
	if (a->n_servers == 0 || !a->hash || !key || (!token && (!a->cert || !a->ckey))) {
		cli_error("join needs --server, --ca-cert-hash, the certificate key (%s=KEY in the "
			  "environment, or --certificate-key -: one line of standard input), and "
			  "either --cert and --key or a join token (%s=TOKEN in the environment); "
			  "sudo drops the environment: run the command in a root shell (sudo -i)",
			  CLI_ENV_KEY, CLI_ENV_TOKEN);
		join_usage(stderr);
		return -EINVAL;
	}
	if (token && (a->cert || a->ckey)) {
		cli_error("join takes either --cert and --key or a join token (%s), not both%s; "
			  "nothing was done",
			  a->token_arg ? "--token" : CLI_ENV_TOKEN,
			  a->token_arg ? ""
				       : ": unset " CLI_ENV_TOKEN " to join with the certificate");
		return -EINVAL;
	}
	return 1;
}

/* Frees the plan's secrets (a _cleanup_ destructor). Returns nothing. */
static void join_plan_done(struct join_plan *p)
{
	secret_mem_free(p->key);
	secret_mem_free(p->token);
}

/* Plan: everything checked that needs no server. Returns EXIT_OK, or said and the exit
 * status. */
static int join_plan(struct join_args *a, struct join_plan *p)
{
	char detail[DETAIL_MAX] = "";
	_cleanup_(secret_freep) struct secret *ttext = NULL;
	const char *tfrom = NULL;
	int r = cli_secret_take("--token", a->token_arg, CLI_ENV_TOKEN, &ttext, &tfrom);
	if (r != EXIT_OK)
		return r;
	if (ttext) {
		char id[TOKEN_ID_LEN + 1];
		_cleanup_(secret_mem_freep) char *tsecret = secret_mem(TOKEN_SECRET_LEN + 1);
		p->token = secret_mem(TOKEN_LEN + 1);
		int tr = tsecret && p->token
			     ? token_parse((const char *)ttext->data, id, tsecret, detail)
			     : -ENOMEM;
		if (tr == -ENOMEM)
			return EXIT_FAIL;
		if (tr < 0) {
			cli_error("invalid join token (from %s): %s; nothing was done", tfrom,
				  detail);
			return EXIT_USAGE;
		}
		snprintf(p->token, TOKEN_LEN + 1, "%s.%s", id, tsecret);
	}
	for (size_t i = 0; i < a->n_servers; i++) {
		char host[ADDR_HOST_MAX];
		uint16_t port;
		if (addr_parse(a->servers[i], ADDR_DEFAULT_PORT, host, &port, detail) < 0) {
			cli_error("invalid --server: %s", detail);
			return EXIT_USAGE;
		}
	}
	p->node_name = a->node_name;
	if (!p->node_name) {
		nodecerts_default_name(p->host, sizeof(p->host));
		p->node_name = p->host;
	}
	r = pin_parse(a->hash, p->pin, detail);
	if (r < 0) {
		cli_error("invalid --ca-cert-hash: %s; %s", detail, error_message(r));
		return EXIT_USAGE;
	}
	p->key = secret_mem(KEY_BYTES);
	if (!p->key)
		return EXIT_FAIL;
	bool given = false;
	r = cli_key_take(a->key_arg, p->key, &given);
	if (r != EXIT_OK)
		return r;
	if (!given) {
		cli_error("no certificate key: put the key upload-certs printed in %s; nothing was "
			  "done",
			  CLI_ENV_KEY);
		return EXIT_USAGE;
	}
	if (a->nc.advertise_address) {
		/* The flags' part of the node certificates' inputs; the bundle's profile is
		 * checked against the target once the server describes it. */
		a->nc.pki_dir = a->pki_dir;
		a->nc.node_name = p->node_name;
		a->nc.force = (a->flags & PKIDIR_FORCE) != 0;
		r = nodecerts_check(&a->nc);
		if (r != EXIT_OK)
			return r;
	}
	r = etcdext_paths_check(a->ext_paths, NULL, a->pki_dir, a->flags);
	if (r != EXIT_OK)
		return r;
	return target_check(a->pki_dir, p->pin, a->flags, a->nc.advertise_address != NULL);
}

/* Returns the exit status. */
int verb_join(int argc, char **argv)
{
	_cleanup_(freep) struct join_args *a = calloc(1, sizeof(*a)); /* large (the profile) */
	_cleanup_(join_plan_done) struct join_plan p = {0};
	if (!a) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	int r = join_parse(argc, argv, a);
	if (r <= 0)
		return r < 0 ? EXIT_USAGE : EXIT_OK;
	int ex = join_plan(a, &p);
	if (ex != EXIT_OK)
		return ex;
	return fetch_join(a, &p);
}
