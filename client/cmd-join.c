/* cmd-join.c - the joining node's verbs: join (fetch over pinned mutual TLS) and decrypt
 * (a bundle fetched by curl). Both open the bundle here and install it atomically.
 *
 * The certificate key and the plaintext stay in guarded memory; a failure at any step
 * leaves the target directory as it was. */
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
#include "key.h"
#include "kubeadm.h"
#include "kubeconf.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "token.h"
#include "util.h"
#include "x509.h"

#define MAX_SERVERS 8

/* The exit status for a refusal's reason. */
static int reason_exit(const char *reason)
{
	switch (api_reason_parse(reason)) {
	case API_R_EXPIRED:
		return EXIT_EXPIRED;
	case API_R_USED_UP:
	case API_R_DELETED:
	case API_R_LOST:
		return EXIT_USED_UP;
	case API_R_NOT_FOUND:
		return EXIT_NOT_FOUND;
	case API_R_FORBIDDEN:
		return EXIT_FORBIDDEN;
	default:
		return EXIT_FAIL;
	}
}

/* An error body instead of a bundle (curl without --fail, or a refusal): explain it.
 * Returns the exit status for its reason. */
static int explain_api_error(const char *who, const char *reason, const char *msg)
{
	cli_error("%s refused: %s", who, msg);
	return reason_exit(reason);
}

/* The bundle's profile (authenticated by bundle_open with every entry), or an empty one.
 * Returns nothing: it cannot fail. */
static void bundle_profile(const struct bundle *b, struct profile *ret)
{
	json_t *o = b->profile ? json_loads(b->profile, 0, NULL) : NULL;
	if (!o || profile_from_json(o, ret, NULL) < 0)
		memset(ret, 0, sizeof(*ret));
	json_decref(o);
}

/* Keep the bundle's profile in the PKI directory with the shared PKI, in the same atomic
 * install, for a later `pki node-certs` (the curl path makes its node certificates that
 * way). Root-only; replaced when the bundle's differs (it describes the last bundle
 * installed there, not a file the operator made). A bundle without a profile keeps none,
 * but empties one an earlier bundle left ("{}"), so that it is never taken for this
 * cluster's. EXIT_OK, or said and EXIT_FAIL (out of memory). */
static int profile_keep(const struct profile *prof, const char *pki_dir, struct pki_set *plain)
{
	char path[PATH_MAX];
	if (!profile_is_set(prof) &&
	    (str_format(path, sizeof(path), "%s/%s", pki_dir, PROFILE_FILE_NAME) ||
	     faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) != 0))
		return EXIT_OK;
	_cleanup_(freep) char *text = profile_canonical(prof);
	struct secret *data = text ? secret_dup(text, strlen(text)) : NULL;
	int r = !data || secret_append(data, "\n", 1) < 0 ? -ENOMEM : 0;
	if (r < 0)
		secret_free(data);
	else
		r = pki_set_add(plain, PROFILE_FILE_NAME, 0600, data); /* frees data on failure */
	if (r < 0) {
		cli_error("cannot keep the cluster profile in the PKI directory: %s; nothing was "
			  "written",
			  error_message(r));
		return EXIT_FAIL;
	}
	plain->e[plain->n - 1].replace = true;
	pki_set_sort(plain);
	return EXIT_OK;
}

/* Parse and open the bundle in json (or explain the error body there) into b and plain,
 * which the caller clears: EXIT_OK, or said and the exit status. */
static int bundle_read(const struct secret *json, const uint8_t *key, struct bundle *b,
		       struct pki_set *plain)
{
	char detail[DETAIL_MAX] = "", reason[64], msg[512];

	if (api_error_parse(json, reason, sizeof(reason), msg, sizeof(msg)))
		return explain_api_error("the server", reason, msg);
	int r = bundle_parse((const char *)json->data, json->len, b, detail);
	if (r < 0) {
		cli_error("this is not a usable bundle: %s (%s); nothing was written",
			  error_message(r), detail);
		return EXIT_FAIL;
	}
	r = bundle_open(b, key, time_now(), 0, plain, detail);
	if (r < 0) {
		if (r == -PKS_E_EXPIRED)
			cli_error("%s: %s; nothing was written", detail, error_message(r));
		else if (r == -PKS_E_KEY_MISMATCH)
			cli_error("%s (%s); nothing was written", error_message(r), detail);
		else if (r == -PKS_E_AUTH)
			cli_error("entry %s: %s", detail, error_message(r));
		else
			cli_error("cannot open the bundle: %s (%s); nothing was written",
				  error_message(r), detail);
		return cli_exit_for(r);
	}
	return EXIT_OK;
}

/* Where the external etcd files go: ext_given (the flags), else the profile's paths
 * (ret_from_profile[i] true then). Returns nothing: it cannot fail. */
static void external_paths_pick(const char *const ext_given[EXT_ETCD_COUNT],
				const struct profile *prof, const char *ret[EXT_ETCD_COUNT],
				bool ret_from_profile[EXT_ETCD_COUNT])
{
	const char *from_profile[EXT_ETCD_COUNT] = {prof->external_ca, prof->external_cert,
						    prof->external_key};
	for (int i = 0; i < EXT_ETCD_COUNT; i++) {
		ret[i] = ext_given[i] ? ext_given[i] : from_profile[i][0] ? from_profile[i] : NULL;
		ret_from_profile[i] = !ext_given[i] && from_profile[i][0];
	}
}

/* Install plain into pki_dir in one step, then the external etcd files ext: EXIT_OK, or
 * said and the exit status. The external files are checked (a dry run) before anything is
 * written; with_node says whether plain carries this node's certificates. */
static int install_all(const char *pki_dir, const struct pki_set *plain,
		       struct secret *const ext[EXT_ETCD_COUNT],
		       const char *const ext_paths[EXT_ETCD_COUNT], unsigned flags, const char *tag,
		       bool with_node, struct pkidir_report *rep)
{
	char detail[DETAIL_MAX] = "";

	int ex = etcdext_install(ext, ext_paths, flags | PKIDIR_DRY_RUN, tag);
	if (ex != EXIT_OK)
		return ex;
	int r = pkidir_install(pki_dir, plain, flags, rep, detail);
	if (r < 0) {
		if (r == -PKS_E_EXISTS)
			cli_error("%s already exists in %s with different contents; %s", detail,
				  pki_dir, error_message(r));
		else
			cli_error("cannot install into %s: %s (%s); %s was left as it was", pki_dir,
				  error_message(r), detail, pki_dir);
		return cli_exit_for(r);
	}
	if (flags & PKIDIR_DRY_RUN)
		return EXIT_OK;
	ex = etcdext_install(ext, ext_paths, flags, tag);
	if (ex != EXIT_OK)
		/* Checked above, so rare (the disk filled, a file appeared): say what is done. */
		cli_error("the shared PKI%s was installed into %s; the external etcd files were "
			  "not all installed (see above): fix that and join again (what is in %s "
			  "is kept as identical)",
			  with_node ? " and this node's certificates" : "", pki_dir, pki_dir);
	return ex;
}

/* Say what was opened and installed (or in a dry run would be), and this node's
 * certificates when nc is not NULL. Returns nothing: it only prints. */
static void say_installed(const struct bundle *b, const char *pki_dir, unsigned flags,
			  const char *tag, const struct pkidir_report *rep,
			  const struct nodecerts_opts *nc, size_t made, size_t kept,
			  bool kept_profile)
{
	char created[RFC3339_LEN];

	time_format(b->created_at, created);
	printf("[%s] Opened bundle %s (sealed %s, key id %s): %zu files authenticated\n", tag,
	       b->id, created, b->key_id, b->files.n);
	if (flags & PKIDIR_DRY_RUN)
		printf("[%s] Dry run: would write %zu file(s) into %s (%zu already identical); "
		       "nothing was written\n",
		       tag, rep->written, pki_dir, rep->unchanged);
	else if (rep->written == 0)
		printf("[%s] Already installed: every file of the bundle is in %s with identical "
		       "contents; nothing was changed\n",
		       tag, pki_dir);
	else
		printf("[%s] Installed the shared PKI%s into %s in one step: %zu written, %zu "
		       "already identical, %zu other file(s) kept\n",
		       tag, made ? " and this node's certificates" : "", pki_dir, rep->written,
		       rep->unchanged, rep->kept);
	if (kept_profile && !(flags & PKIDIR_DRY_RUN))
		printf("[%s] Kept the cluster profile in %s/%s for `pkishare pki node-certs`\n",
		       tag, pki_dir, PROFILE_FILE_NAME);
	if (nc)
		printf("[%s] Node certificates for %s (%s): %zu generated, %zu already present, "
		       "checked and kept%s\n",
		       tag, nc->node_name, nc->advertise_address, made, kept,
		       kept && !nc->force ? " (--force to replace)" : "");
}

/* With --force the shared PKI is replaced, and node certificates in pki_dir that the
 * bundle's CAs did not sign (another cluster's) would be left signed by a CA that is gone,
 * which kubeadm refuses: made anew when regenerate (--advertise-address: said here), else
 * refused before anything is written. EXIT_OK, or said and EXIT_EXISTS. */
static int stale_node_certs_check(const char *pki_dir, const struct pki_set *plain, unsigned flags,
				  const char *tag, bool regenerate)
{
	char list[512];
	if (!(flags & PKIDIR_FORCE) || nodecerts_foreign(pki_dir, plain, list, sizeof(list)) == 0)
		return EXIT_OK;
	if (regenerate) {
		printf(
		    "[%s] Replacing this node's certificates %s: signed by another CA (--force)\n",
		    tag, list);
		return EXIT_OK;
	}
	if (!strcmp(tag, "join"))
		cli_error("%s holds node certificates the bundle's CAs did not sign (%s): --force "
			  "would replace the shared PKI and leave them signed by a CA that is gone "
			  "(kubeadm refuses them); join again with --node-name N "
			  "--advertise-address IP to make new ones in the same step; nothing was "
			  "written",
			  pki_dir, list);
	else
		cli_error(
		    "%s holds node certificates the bundle's CAs did not sign (%s): --force "
		    "would replace the shared PKI and leave them signed by a CA that is gone "
		    "(kubeadm refuses them); remove them (or kubeadm reset), run decrypt "
		    "--force again, then pkishare pki node-certs --advertise-address IP to make "
		    "new ones; nothing was written",
		    pki_dir, list);
	return EXIT_EXISTS;
}

/* Open the bundle and install it in one atomic install, with this node's certificates
 * when nc is not NULL (made in memory from the bundle's CAs and profile): a refusal at
 * any step leaves pki_dir as it was. External etcd files go to ext_given, else to the
 * profile's paths. Returns EXIT_OK, or said and the exit status. */
static int open_and_install(const struct secret *json, const uint8_t *key, const char *pki_dir,
			    unsigned flags, const char *tag, const char *ext_given[EXT_ETCD_COUNT],
			    struct nodecerts_opts *nc)
{
	_cleanup_(bundle_done) struct bundle b = {0};
	_cleanup_(pki_set_clear) struct pki_set plain = {0};
	_cleanup_(ext_etcd_freep) struct secret *ext[EXT_ETCD_COUNT] = {0};
	struct pkidir_report rep = {0};
	struct profile prof;
	const char *ext_paths[EXT_ETCD_COUNT];
	bool ext_from_profile[EXT_ETCD_COUNT];
	size_t made = 0, kept = 0;

	int ex = bundle_read(json, key, &b, &plain);
	if (ex != EXIT_OK)
		return ex;
	bundle_profile(&b, &prof);
	ex = profile_keep(&prof, pki_dir, &plain);
	if (ex != EXIT_OK)
		return ex;
	external_paths_pick(ext_given, &prof, ext_paths, ext_from_profile);
	/* The profile's paths as the flags' were checked by the plan (join's with the
	 * description; decrypt's only now, before anything is written). */
	ex = etcdext_paths_check(ext_paths, ext_from_profile, pki_dir, flags);
	if (ex != EXIT_OK)
		return ex;
	ex = stale_node_certs_check(pki_dir, &plain, flags, tag, nc != NULL);
	if (ex != EXIT_OK)
		return ex;
	if (nc) {
		nc->external_etcd = ext_paths[0] != NULL || prof.external_ca[0];
		nodecerts_take_profile(nc, &prof, NULL); /* said by the plan */
		ex = nodecerts_build(nc, &plain, &plain, &made, &kept, tag);
		if (ex != EXIT_OK)
			return ex;
	}
	etcdext_split(&plain, ext);
	ex = install_all(pki_dir, &plain, ext, ext_paths, flags, tag, made != 0, &rep);
	if (ex != EXIT_OK)
		return ex;
	say_installed(&b, pki_dir, flags, tag, &rep, nc, made, kept, profile_is_set(&prof));
	return EXIT_OK;
}

/* Enrollment: a key pair made in memory, a CSR, and a short-lived client certificate
 * from POST /v1/enroll. The private key never leaves this process. Returns 0 with
 * *ret_key and *ret_cert, or <0 with detail saying why (-EACCES, -EAGAIN, -EKEYREJECTED,
 * -ESTALE: the token is used up; the server refused). */
static int enroll(const struct net_tls_opts *server, const char *token, const char *node,
		  EVP_PKEY **ret_key, X509 **ret_cert, char *detail)
{
	struct net_tls_opts o = {.server = server->server, .pin = server->pin};
	_cleanup_(secret_freep) struct secret *csr = NULL;
	_cleanup_(secret_freep) struct secret *auth = secret_new(32 + TOKEN_LEN);
	_cleanup_(http_response_done) struct http_response resp = {0};
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL;
	int r = auth ? x509_key_new(KEY_TYPE_P256, &key) : -ENOMEM;
	if (r >= 0)
		r = x509_csr_new(key, node, &csr);
	if (r >= 0)
		r = secret_append(auth, "Authorization: Bearer ", 22);
	if (r >= 0)
		r = secret_append(auth, token, strlen(token));
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "cannot make a key pair and CSR: %s",
			 error_message(r));
		return r;
	}
	r = net_https_request(&o, "POST", API_ROUTE_ENROLL, (const char *)auth->data, csr, &resp,
			      detail);
	if (r < 0)
		return r;
	if (resp.status != 200) {
		char reason[64] = "", msg[400] = "";
		api_error_parse(resp.body, reason, sizeof(reason), msg, sizeof(msg));
		str_format(detail, DETAIL_MAX, "enrollment at %s refused (HTTP %d, %s): %s",
			   server->server, resp.status, reason, msg);
		if (resp.status == 401 && api_reason_parse(reason) == API_R_USED_UP)
			return -ESTALE; /* a spent token: the daemon says whose */
		return resp.status == 429 ? -EAGAIN : resp.status == 401 ? -EKEYREJECTED : -EACCES;
	}
	r = x509_cert_load(resp.body->data, resp.body->len, &cert);
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "enrollment at %s returned no certificate",
			 server->server);
		return r;
	}
	printf("[join] Enrolled as %s at %s with a short-lived client certificate\n", node,
	       server->server);
	*ret_key = TAKE_PTR(key);
	*ret_cert = TAKE_PTR(cert);
	return 0;
}

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

/* What join was asked to do. */
struct join_args {
	const char *servers[MAX_SERVERS];
	size_t n_servers;
	const char *hash, *cert, *ckey, *pki_dir, *node_name;
	char *key_arg, *token_arg;
	const char *ext_paths[EXT_ETCD_COUNT];
	unsigned flags;
	struct nodecerts_opts nc;
};

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
			if (a->n_servers >= MAX_SERVERS) {
				cli_error("at most %d --server", MAX_SERVERS);
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

/* What is already in dir, checked as the install will check it (symbolic links, files
 * owned by another user, a key file readable by others unless --force), with nothing to
 * install: EXIT_OK or said and the exit status. */
static int target_files_check(const char *dir, unsigned flags)
{
	struct pki_set none = {0};
	char detail[DETAIL_MAX] = "";
	int r = pkidir_install(dir, &none, PKIDIR_DRY_RUN | (flags & PKIDIR_FORCE), NULL, detail);
	if (r < 0) {
		cli_error("cannot install into %s: %s (%s); %s was left as it was, nothing was "
			  "fetched",
			  dir, error_message(r), detail, dir);
		return cli_exit_for(r);
	}
	return EXIT_OK;
}

/* Say where the files go when dir is a symlink (a data disk). Returns nothing: it only
 * prints; a refused link is said by the checks. */
static void say_symlinked(const char *dir, const char *tag)
{
	char real[PATH_MAX];
	if (pkidir_target_resolve(dir, real, NULL) == 1)
		printf("[%s] %s is a symlink to %s: installing there (the link stays)\n", tag, dir,
		       real);
}

/* Can this user install into dir? pkidir_install builds the new tree beside dir and
 * renames it over, so the nearest existing directory at or above dir's parent must be
 * writable; dir itself, if there, must be a directory. EXIT_OK or said and EXIT_FAIL. */
static int parent_check(const char *dir)
{
	char path[PATH_MAX], why[DETAIL_MAX] = "";
	struct stat st;
	/* A symlink of root's or ours (a data disk) is followed, as the install follows it;
	 * the links above dir were checked by pkidir_path_safe. */
	int r = pkidir_target_resolve(dir, path, why);
	if (r < 0) {
		cli_error("cannot install into %s: %s; nothing was fetched or written", dir,
			  why[0] ? why : error_message(r));
		return EXIT_FAIL;
	}
	if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		cli_error("--pki-dir %s is not a directory; nothing was fetched or written", path);
		return EXIT_FAIL;
	}
	dir = path;
	char parent[PATH_MAX], where[PATH_MAX];
	bool denied;
	str_copy(parent, sizeof(parent), path);
	char *slash = strrchr(parent, '/');
	if (!slash)
		str_copy(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = 0;
	else
		*slash = 0;
	/* pkidir's rule, the one the install and its dry run follow: the effective ids. */
	r = pkidir_creatable(parent, where, &denied);
	if (r == -PKS_E_NOT_DIR) {
		cli_error("cannot make %s: %s is not a directory; nothing was fetched or written",
			  dir, where);
		return EXIT_FAIL;
	}
	if (r < 0 && denied) {
		cli_error("cannot install into %s: %s is not writable for this user (%s); run join "
			  "as root or choose another --pki-dir; nothing was fetched or written",
			  dir, where, strerror(-r));
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_error("cannot install into %s: %s: %s; nothing was fetched or written", dir,
			  where, strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* A present dir/ca.crt must be the CA the joiner pinned (--ca-cert-hash): one of another
 * cluster would be refused only by the install, after the fetch. --force replaces it, but
 * never keeps that cluster's node certificates (signed by a CA that would be gone, which
 * kubeadm refuses): with node_certs (--advertise-address) they are made anew, without it
 * the join is refused. EXIT_OK or said and the exit status. */
static int target_ca_check(const char *dir, const uint8_t pin[PIN_BYTES], unsigned flags,
			   bool node_certs)
{
	char path[4096], list[512];
	struct stat st;
	if (str_format(path, sizeof(path), "%s/ca.crt", dir) || lstat(path, &st) != 0)
		return EXIT_OK; /* absent (or a too long name, which the install refuses) */
	_cleanup_(secret_freep) struct secret *pem = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL;
	uint8_t have[PIN_BYTES] = {0};
	int r = secret_read_file(path, PKI_FILE_MAX_BYTES, &pem);
	if (r >= 0)
		r = x509_cert_load(pem->data, pem->len, &cert);
	if (r >= 0)
		r = pin_of_cert(cert, have);
	bool other = r < 0 || memcmp(have, pin, PIN_BYTES) != 0;
	if (!other)
		return EXIT_OK;
	if (flags & PKIDIR_FORCE) {
		if (node_certs || nodecerts_present(dir, list, sizeof(list)) == 0)
			return EXIT_OK; /* made anew in the same install, said then */
		cli_error("%s is not the pinned cluster's CA, and --force replaces the shared PKI, "
			  "but this node's certificates from the other cluster (%s) would stay, "
			  "signed by a CA that is gone (kubeadm refuses them): add --node-name N "
			  "--advertise-address IP to make new ones in the same step, or remove "
			  "them (kubeadm reset) and join again; nothing was fetched or written",
			  path, list);
		return EXIT_EXISTS;
	}
	if (r < 0) {
		cli_error("%s is already there but is not a certificate (%s): the bundle's would "
			  "replace it; look at it, then remove it or pass --force; nothing was "
			  "fetched or written",
			  path, error_message(r));
		return EXIT_EXISTS;
	}
	char have_txt[PIN_TEXT_LEN + 1], want_txt[PIN_TEXT_LEN + 1];
	pin_format(have, have_txt);
	pin_format(pin, want_txt);
	cli_error("%s is the CA of another cluster (its hash is %s, not --ca-cert-hash %s): this "
		  "directory belongs to another cluster; choose another --pki-dir, empty it "
		  "(kubeadm reset), or pass --force to replace its files (with --advertise-address "
		  "to make this node's certificates anew); nothing was fetched or written",
		  path, have_txt, want_txt);
	return EXIT_EXISTS;
}

/* Everything about the target the install will need, checked before the fetch: the
 * parent (writable), the left-overs of an interrupted join (removed), the target itself
 * (a directory of ours, not a mount point, nothing but files and directories, writable
 * and searchable) and a present ca.crt (the pinned cluster's). Returns EXIT_OK, or said
 * and the exit status. */
static int target_check(const char *dir, const uint8_t pin[PIN_BYTES], unsigned flags,
			bool node_certs)
{
	char last[DETAIL_MAX] = "";
	struct stat st;
	if (pkidir_path_safe(dir, last) < 0) {
		cli_error("cannot install into %s: %s; use a path only root or this user controls; "
			  "nothing was fetched or written",
			  dir, last);
		return EXIT_FAIL;
	}
	last[0] = 0;
	int ex = parent_check(dir);
	if (ex != EXIT_OK)
		return ex;
	say_symlinked(dir, "join");
	bool dry = flags & PKIDIR_DRY_RUN;
	int n = pkidir_remove_stale(dir, dry, last);
	if (n > 0)
		printf("[join] %s %d temporary tree(s) an interrupted join left beside %s (%s%s)\n",
		       dry ? "Dry run: would remove" : "Removed", n, dir, last,
		       n > 1 ? " and others" : "");
	ex = target_files_check(dir, flags);
	if (ex != EXIT_OK)
		return ex;
	int r;
	if (lstat(dir, &st) == 0 && (r = pkidir_access(dir, R_OK | W_OK | X_OK)) < 0) {
		cli_error("cannot install into %s: it is not readable, writable and searchable "
			  "for this user (%s), and the install carries its files over and replaces "
			  "it; run join as its owner or as root, or chmod u+rwx it; nothing was "
			  "fetched or written",
			  dir, strerror(-r));
		return EXIT_FAIL;
	}
	return target_ca_check(dir, pin, flags, node_certs);
}

/* What join will use: checked, secrets in guarded memory (freed by join_plan_done). */
struct join_plan {
	uint8_t pin[PIN_BYTES];
	uint8_t *key;
	char *token; /* "id.secret", or NULL without --token */
	char host[256];
	const char *node_name;
};

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

/* The held bundle's public description (GET /v1/bundle/info, not a fetch). */
struct bundle_meta {
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	long long fetches, max_fetches;
	int64_t expires_at; /* the sealed expiresAt, or 0 if not said */
	long long bytes;    /* the sealed bundle's size; -1 if the server does not say */
	struct profile prof;
};

/* What the free-space check assumes when the server does not say the bundle's size (a
 * kubeadm PKI with RSA-4096 CAs and external etcd is under 64 KiB sealed), and for this
 * node's certificates (14 PEM files, RSA-4096 keys at most). */
#define BUNDLE_SIZE_BOUND (1024 * 1024)
#define NODE_CERTS_BYTES_BOUND (14 * 8192)

/* The held bundle's description in resp. Returns >0 with *ret filled, 0 if the server
 * holds no bundle now (404), or -EBADMSG if it does not say (an older pkishared, or a
 * body we cannot read): then the fetch decides. */
static int meta_parse(const struct http_response *resp, struct bundle_meta *ret)
{
	if (resp->status == 404)
		return 0;
	if (resp->status != 200 || !resp->body)
		return -EBADMSG;
	_cleanup_(json_decrefp) json_t *o =
	    json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	const char *id = NULL, *kid = NULL, *exp = NULL;
	json_t *prof = NULL;
	json_int_t f = 0, m = 0, bytes = -1;
	if (!o ||
	    json_unpack(o, "{s:s, s:s, s?I, s?I, s?I, s?o, s?s}", API_F_ID, &id, API_F_KEY_ID, &kid,
			API_F_FETCHES, &f, API_F_MAX_FETCHES, &m, API_F_BYTES, &bytes,
			API_F_PROFILE, &prof, API_F_EXPIRES_AT, &exp) < 0 ||
	    strlen(id) != BUNDLE_ID_HEX_LEN || strlen(kid) != KEY_ID_HEX_LEN)
		return -EBADMSG;
	if (!exp || time_parse(exp, &ret->expires_at) < 0)
		ret->expires_at = 0;
	str_copy(ret->id, sizeof(ret->id), id);
	str_copy(ret->key_id, sizeof(ret->key_id), kid);
	str_printable(ret->id);
	str_printable(ret->key_id);
	ret->fetches = f;
	ret->max_fetches = m;
	ret->bytes = bytes >= 0 && bytes <= 64 * BUNDLE_SIZE_BOUND ? bytes : -1;
	memset(&ret->prof, 0, sizeof(ret->prof));
	if (json_is_object(prof) && profile_from_json(prof, &ret->prof, NULL) < 0)
		memset(&ret->prof, 0, sizeof(ret->prof));
	return 1;
}

/* Room for the install at the target, checked before the fetch (a full disk found after
 * it spent the fetch): the bundle's size from its description (else BUNDLE_SIZE_BOUND),
 * this node's certificates, and the file system's rounding. EXIT_OK, or said and
 * EXIT_FAIL; a target the install refuses for another reason is said by its checks. */
static int space_check(const struct join_args *a, const struct bundle_meta *m)
{
	char where[PATH_MAX];
	uint64_t need = 0, avail = 0;
	uint64_t payload = m->bytes >= 0 ? (uint64_t)m->bytes : BUNDLE_SIZE_BOUND;
	if (a->nc.advertise_address)
		payload += NODE_CERTS_BYTES_BOUND;
	int r = pkidir_space_check(a->pki_dir, payload, PKI_MAX_FILES, &need, &avail, where);
	if (r != -ENOSPC)
		return EXIT_OK;
	cli_error("not enough free space to install into %s: the file system of %s has %llu KiB "
		  "free (or too few inodes), and the install needs about %llu KiB (the bundle%s "
		  "%s, the new tree is built beside the old one, a block per file); free some "
		  "space there or choose another --pki-dir; nothing was fetched or written",
		  a->pki_dir, where, (unsigned long long)(avail / 1024),
		  (unsigned long long)((need + 1023) / 1024),
		  a->nc.advertise_address ? " and this node's certificates" : "",
		  m->bytes >= 0 ? "as the server describes it"
				: "at most (the server does not say its size)");
	return EXIT_FAIL;
}

/* The plan's checks that need the bundle's description: the key is the one it was sealed
 * with, and this node's certificates can be made with its profile and what is in the
 * target. EXIT_OK, or said and the exit status. Nothing has been fetched. */
static int meta_check(const struct join_args *a, const struct join_plan *p,
		      const struct bundle_meta *m, const char *server)
{
	_cleanup_(freep) struct nodecerts_opts *nc = NULL; /* large (the profile): on the heap */
	char mine[KEY_ID_HEX_LEN + 1];
	const char *ext_paths[EXT_ETCD_COUNT];
	bool ext_from_profile[EXT_ETCD_COUNT];
	key_id(p->key, mine);
	if (strcmp(mine, m->key_id) != 0) {
		cli_error("the certificate key (key id %s) is not the one bundle %s at %s was "
			  "sealed with (key id %s): the key was rotated by a newer upload-certs, "
			  "or mistyped; use the key printed by the latest 'pkishare upload-certs'; "
			  "nothing was fetched or written",
			  mine, m->id, server, m->key_id);
		return EXIT_ROTATED;
	}
	/* Where the external etcd files will go, as the install will pick them: the
	 * profile's paths are checked like the flags' before anything is fetched. */
	external_paths_pick(a->ext_paths, &m->prof, ext_paths, ext_from_profile);
	int ex = etcdext_paths_check(ext_paths, ext_from_profile, a->pki_dir, a->flags);
	if (ex == EXIT_OK)
		ex = space_check(a, m);
	if (ex != EXIT_OK)
		return ex;
	if (!a->nc.advertise_address)
		return EXIT_OK;
	nc = malloc(sizeof(*nc));
	if (!nc) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	*nc = a->nc;
	nc->external_etcd = a->ext_paths[0] != NULL || m->prof.external_ca[0];
	nodecerts_take_profile(nc, &m->prof, "join");
	size_t made = 0, kept = 0;
	ex = nodecerts_plan(nc, &made, &kept);
	if (ex != EXIT_OK)
		return ex;
	if (a->flags & PKIDIR_DRY_RUN)
		printf("[join] Dry run: would generate %zu node certificate(s) for %s (%s), %zu "
		       "already present and checked\n",
		       made, nc->node_name, nc->advertise_address, kept);
	return EXIT_OK;
}

/* Past this much apart, the node certificates a joiner makes are not yet valid for the
 * other nodes (they are backdated as much: nodecerts.c). */
#define CLOCK_SKEW_MAX_S 300

/* The plan's clock check, against server's clock (date: its Date header, 0 if it sent
 * none): a bundle the server still holds that this node would take as expired (its clock
 * ahead) is refused now, before the fetch, and so is a clock ahead by more than
 * CLOCK_SKEW_MAX_S when this node's certificates are to be made; a clock behind is only
 * said. EXIT_OK, or said and EXIT_FAIL. Nothing has been fetched. */
static int clock_check(const struct join_args *a, const char *server, int64_t date,
		       const struct bundle_meta *m)
{
	int64_t now = time_now(), skew = date ? now - date : 0;
	char mine[RFC3339_LEN], theirs[RFC3339_LEN], until[RFC3339_LEN], by[64];

	time_format(now, mine);
	time_format(date, theirs);
	time_format(m->expires_at, until);
	duration_format(skew < 0 ? -skew : skew, by, sizeof(by));
	if (m->expires_at && now >= m->expires_at) {
		if (date && date < m->expires_at)
			cli_error("this node's clock reads %s, %s ahead of %s's (%s): bundle %s, "
				  "which %s holds until %s, would be taken as expired here; %s",
				  mine, by, server, theirs, m->id, server, until,
				  error_message(-PKS_E_CLOCK));
		else
			cli_error("bundle %s expires at %s, and this node's clock reads %s: it "
				  "would be taken as expired here though %s still holds it; %s",
				  m->id, until, mine, server, error_message(-PKS_E_CLOCK));
		return EXIT_FAIL;
	}
	if (skew > CLOCK_SKEW_MAX_S && a->nc.advertise_address) {
		cli_error("this node's clock reads %s, %s ahead of %s's (%s): the node "
			  "certificates made here would not be valid yet for the other nodes; %s",
			  mine, by, server, theirs, error_message(-PKS_E_CLOCK));
		return EXIT_FAIL;
	}
	if (skew > CLOCK_SKEW_MAX_S || skew < -CLOCK_SKEW_MAX_S)
		cli_error("warning: this node's clock reads %s, %s %s %s's (%s); fix it (NTP: "
			  "timedatectl set-ntp true) before the node serves",
			  mine, by, skew > 0 ? "ahead of" : "behind", server, theirs);
	return EXIT_OK;
}

/* The exit status of a request that did not get an answer. */
static int transport_exit(int r)
{
	return r == -PKS_E_PIN_MISMATCH || r == -PKS_E_SERVER_NAME || r == -PKS_E_API_SERVER
		   ? EXIT_PIN
	       : r == -ECONNRESET ? EXIT_FORBIDDEN
				  : EXIT_UNREACHABLE;
}

/* A refusal after the fetch: say that the fetch was spent, and which one it was (the
 * server's count now; a bundle gone since was fetched for the last time). Returns
 * nothing: it only says. */
static void say_fetch_spent(const struct net_tls_opts *o, const char *server,
			    const struct bundle_meta *before)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	struct bundle_meta now;
	char detail[DETAIL_MAX] = "", which[128] = "";
	int r = net_https_get(o, API_ROUTE_BUNDLE_INFO, &resp, detail);
	int m = r < 0 ? r : meta_parse(&resp, &now);
	if (m > 0 && now.max_fetches)
		snprintf(which, sizeof(which), " (fetch %lld of %lld)", now.fetches,
			 now.max_fetches);
	else if (m > 0)
		snprintf(which, sizeof(which), " (fetch %lld, no limit)", now.fetches);
	else if (m == 0 && before && before->max_fetches)
		snprintf(which, sizeof(which),
			 " (fetch %lld of %lld: the server no longer holds it)",
			 before->max_fetches, before->max_fetches);
	else if (m == 0)
		snprintf(which, sizeof(which), " (the server no longer holds it)");
	cli_error("the bundle was fetched from %s%s but the join was refused after the fetch "
		  "(see above); fix that and join again, or, if the bundle has no fetch left, "
		  "run 'pkishare upload-certs' again on the first control-plane node",
		  server, which);
}

/* The steps of one server's try (join_server and what it calls) return <0 when this
 * server cannot be used and the next one may do better, 0 when the join is decided
 * here, >0 to go on to the next step; *ret_exit is the exit status whenever they return
 * <=0 (why this server failed, or how the join went). */

/* A request to server that got no answer (r < 0, detail says why), said. Returns r: try
 * the next server (*ret_exit why). */
static int say_unanswered(const char *server, int r, const char *detail, bool more, int *ret_exit)
{
	size_t n = strlen(server);
	bool api_port = n > 5 && !strcmp(server + n - 5, ":6443");
	bool down =
	    r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -ENETUNREACH;
	cli_error("%s: %s%s", server, detail, more ? "; trying the next --server" : "");
	if (api_port)
		cli_error("hint: 6443 is the Kubernetes API server's port; pkishared listens on "
			  "9443 (--server HOST, or HOST:9443)");
	else if (!more && down)
		/* Until every control-plane node serves (one daemon today), say what works. */
		cli_error("hint: if pkishared's node is down, a control-plane node that has "
			  "already joined can serve in its place: there, 'pkishare pki "
			  "serving-cert', start pkishared, 'pkishare upload-certs' (a new key) and "
			  "'pkishare print-join-command' (README: \"If the first node is down\")");
	*ret_exit = transport_exit(r);
	return r;
}

/* Enrollment or the description got no answer (r < 0): our own files are wrong, and no
 * other server will do better (0, *ret_exit EXIT_FAIL), or as say_unanswered (r). */
static int say_failed(const char *server, int r, const char *detail, bool more, int *ret_exit)
{
	if (r == -PKS_E_X509 || r == -ENOENT || r == -EACCES) {
		cli_error("%s", detail);
		*ret_exit = EXIT_FAIL; /* our own files: no other server will do better */
		return 0;
	}
	if (r == -PKS_E_CLOCK) {
		cli_error("%s: %s; %s", server, detail, error_message(r));
		*ret_exit = EXIT_FAIL; /* most likely our clock: no other server will do better */
		return 0;
	}
	return say_unanswered(server, r, detail, more, ret_exit);
}

/* A server that refused enrollment (r: -EACCES, -EAGAIN, -EKEYREJECTED or -ESTALE), said
 * (detail: the server's answer, or NULL when said already). Returns nothing: join stops
 * with EXIT_FORBIDDEN. */
static void say_enroll_refused(int r, const char *detail)
{
	if (detail)
		cli_error("%s", detail);
	/* kubeadm's bootstrap tokens have our tokens' form: the likeliest mix-up of an
	 * operator coming from `kubeadm join --token`. */
	if (r == -EKEYREJECTED)
		cli_error("hint: a kubeadm bootstrap token (from 'kubeadm token create' or the "
			  "join command kubeadm printed) has the same form but is not known to "
			  "pkishared; nor is a pkishare token made before pkishared restarted "
			  "without systemd's store (run by hand, it keeps no tokens or bundle "
			  "across a restart; 'pkishare status' says which). Make a join token with "
			  "'pkishare print-join-command' (or 'pkishare token create') on the first "
			  "control-plane node");
}

/* A refusal in a non-200 answer: its reason and message, or "HTTP N without an
 * explanation". Returns nothing: it cannot fail. */
struct refusal {
	char reason[64], msg[512];
};
static void refusal_parse(const struct http_response *resp, struct refusal *ret)
{
	ret->reason[0] = ret->msg[0] = 0;
	if (!api_error_parse(resp->body, ret->reason, sizeof(ret->reason), ret->msg,
			     sizeof(ret->msg)))
		snprintf(ret->msg, sizeof(ret->msg), "HTTP %d without an explanation",
			 resp->status);
}

/* The join token refused (HTTP status, reason, msg) when the plan presented it, before
 * anything was spent: said, with the likeliest cause. Returns nothing: join stops with
 * EXIT_FORBIDDEN. */
static void say_token_refused(const char *server, int status, const char *reason, const char *msg)
{
	cli_error("%s refused the join token (HTTP %d, %s): %s; the token was checked, not "
		  "spent, and nothing was fetched or written",
		  server, status, reason, msg);
	if (api_reason_parse(reason) == API_R_BAD_TOKEN)
		say_enroll_refused(-EKEYREJECTED, NULL);
}

/* A completed join run again (the README calls that harmless): the target already holds
 * this cluster's shared PKI. The plan has already checked that a ca.crt there is the
 * pinned CA (target_ca_check); pkidir_read needs every other shared file too. --force asks
 * for a replacement, which needs a bundle. */
static bool already_joined(const struct join_args *a)
{
	_cleanup_(pki_set_clearp) struct pki_set have = {0};
	char detail[DETAIL_MAX] = "";
	return !(a->flags & PKIDIR_FORCE) && pkidir_read(a->pki_dir, &have, NULL, detail) == 0 &&
	       pki_set_find(&have, "ca.crt");
}

/* server answered 404 for the description (resp): it holds no bundle, and the body says
 * what became of the last one. A target that already holds this cluster's shared PKI is
 * a completed join run again: said, 0 with EXIT_OK. Else said with the server's reason;
 * returns -ENOENT to try the next server when there is one, else 0, with *ret_exit the
 * reason's exit status. Nothing was enrolled, fetched or written either way. */
static int say_not_held(const struct join_args *a, const char *server,
			const struct http_response *resp, bool more, int *ret_exit)
{
	struct refusal why;

	refusal_parse(resp, &why);
	if (!why.reason[0])
		str_copy(why.reason, sizeof(why.reason), api_reason_name(API_R_NOT_FOUND));
	if (already_joined(a)) {
		printf("[join] Already joined: %s holds this cluster's shared PKI (its ca.crt has "
		       "the --ca-cert-hash given, and every shared file is there); %s holds no "
		       "bundle now (%s), so nothing was fetched or compared, and nothing was "
		       "changed\n",
		       a->pki_dir, server, why.reason);
		*ret_exit = EXIT_OK;
		return 0;
	}
	cli_error("%s answered 404 (%s) for the bundle's description: %s%s", server, why.reason,
		  why.msg,
		  more ? "; trying the next --server" : "; nothing was fetched or written");
	*ret_exit = reason_exit(why.reason);
	return more ? -ENOENT : 0;
}

/* The end of a dry run: what server holds and a join would do (m: its description, or
 * NULL if it gave none). Returns EXIT_OK, or said and EXIT_FAIL. */
static int say_dry_run(const struct join_args *a, const char *server, const struct bundle_meta *m)
{
	char used[64];

	if (!m) {
		cli_error("%s does not describe its bundle (GET /v1/bundle/info: an older "
			  "pkishared?); a dry run never fetches it, so nothing was checked past "
			  "the connection",
			  server);
		return EXIT_FAIL;
	}
	if (m->max_fetches)
		snprintf(used, sizeof(used), "%lld of %lld fetches used", m->fetches,
			 m->max_fetches);
	else
		snprintf(used, sizeof(used), "%lld fetch(es), no limit", m->fetches);
	printf("[join] Dry run: %s holds bundle %s (key id %s matches the certificate key; %s); "
	       "would fetch it and install it into %s; nothing was fetched or written\n",
	       server, m->id, m->key_id, used, a->pki_dir);
	return EXIT_OK;
}

/* Plan with server i's description of its bundle (GET /v1/bundle/info: not a fetch, it
 * spends nothing; a joiner with a token sends it as bearer, which is checked and not
 * spent: bearer, else NULL); a dry run ends here. Returns as the steps above; >0 with
 * *described saying whether *meta was filled. */
static int join_describe(const struct join_args *a, const struct join_plan *p,
			 const struct net_tls_opts *o, size_t i, const struct secret *bearer,
			 struct bundle_meta *meta, bool *described, int *ret_exit)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	char detail[DETAIL_MAX] = "";
	const char *server = a->servers[i];
	bool more = i + 1 < a->n_servers, dry = a->flags & PKIDIR_DRY_RUN;

	int r = net_https_request(o, "GET", API_ROUTE_BUNDLE_INFO,
				  bearer ? (const char *)bearer->data : NULL, NULL, &resp, detail);
	if (r < 0)
		return say_failed(server, r, detail, more, ret_exit);
	if (bearer && (resp.status == 401 || resp.status == 429)) {
		struct refusal why;
		refusal_parse(&resp, &why);
		/* The printed command run again after it worked: its token is used up (or
		 * gone), and the target holds the pinned cluster's PKI. */
		if (resp.status == 401 && already_joined(a)) {
			printf("[join] Already joined: %s holds this cluster's shared PKI (its "
			       "ca.crt has the --ca-cert-hash given, and every shared file is "
			       "there); the join token is no longer good (%s), so nothing was "
			       "fetched or compared, and nothing was changed\n",
			       a->pki_dir, why.reason);
			*ret_exit = EXIT_OK;
			return 0;
		}
		say_token_refused(server, resp.status, why.reason, why.msg);
		*ret_exit = EXIT_FORBIDDEN;
		return 0;
	}
	if (resp.status == 403) {
		struct refusal why;
		refusal_parse(&resp, &why);
		*ret_exit = explain_api_error(server, why.reason, why.msg);
		return 0;
	}
	int m = meta_parse(&resp, meta);
	if (m == 0)
		return say_not_held(a, server, &resp, more, ret_exit);
	if (m > 0) {
		*ret_exit = clock_check(a, server, resp.date, meta);
		if (*ret_exit == EXIT_OK)
			*ret_exit = meta_check(a, p, meta, server);
		if (*ret_exit != EXIT_OK)
			return 0;
	}
	if (dry) {
		*ret_exit = say_dry_run(a, server, m > 0 ? meta : NULL);
		return 0;
	}
	*described = m > 0;
	return 1;
}

/* server answered 409 other-bundle-held to the fetch of bundle planned: it holds another
 * one now (uploaded since the plan, so sealed with another key), and counted nothing.
 * Said, with the bundle it holds now (GET /v1/bundle/info, not a fetch). Returns nothing:
 * join stops with EXIT_ROTATED. */
static void say_other_bundle(const struct net_tls_opts *o, const char *server, const char *planned)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	struct bundle_meta now;
	char detail[DETAIL_MAX] = "", held[BUNDLE_ID_HEX_LEN + KEY_ID_HEX_LEN + 32] = "another";
	if (net_https_get(o, API_ROUTE_BUNDLE_INFO, &resp, detail) >= 0 &&
	    meta_parse(&resp, &now) > 0)
		snprintf(held, sizeof(held), "bundle %s (key id %s)", now.id, now.key_id);
	cli_error("%s holds %s now, not bundle %s this join planned on: a newer 'pkishare "
		  "upload-certs' replaced it after the plan, and the certificate key given is not "
		  "its key; nothing was fetched or written and no fetch was counted; run join "
		  "again with the certificate key that the latest upload-certs printed",
		  server, held, planned);
}

/* Act: fetch the bundle from server i and install it with this node's certificates in
 * one step (before: the description the plan had, or NULL). The fetch names the planned
 * bundle (?id=): the server refuses it, counting nothing, if another one is held now.
 * Returns as the steps above (never >0: the join is decided, or the next server is
 * tried). */
static int join_fetch_install(struct join_args *a, const struct join_plan *p,
			      const struct net_tls_opts *o, size_t i,
			      const struct bundle_meta *before, int *ret_exit)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	char detail[DETAIL_MAX] = "";
	const char *server = a->servers[i];
	bool more = i + 1 < a->n_servers;
	char route[sizeof(API_ROUTE_BUNDLE "?" API_Q_ID "=") + BUNDLE_ID_HEX_LEN];

	/* Without a description (an older pkishared), whatever is held: the key id is then
	 * checked only when it is opened. */
	if (before)
		snprintf(route, sizeof(route), "%s?%s=%.*s", API_ROUTE_BUNDLE, API_Q_ID,
			 BUNDLE_ID_HEX_LEN, before->id);
	else
		str_copy(route, sizeof(route), API_ROUTE_BUNDLE);
	int r = net_https_get(o, route, &resp, detail);
	if (r < 0)
		return say_unanswered(server, r, detail, more, ret_exit);
	if (resp.status != 200) {
		struct refusal why;
		refusal_parse(&resp, &why);
		if (before && api_reason_parse(why.reason) == API_R_OTHER_BUNDLE_HELD) {
			say_other_bundle(o, server, before->id);
			*ret_exit = EXIT_ROTATED;
			return 0;
		}
		/* No bundle (or a gone one) here: another server may hold it. */
		if ((resp.status == 404 || resp.status == 410) && more) {
			cli_error("%s answered %d (%s): %s; trying the next --server", server,
				  resp.status, why.reason, why.msg);
			*ret_exit = EXIT_NOT_FOUND;
			return -ENOENT;
		}
		*ret_exit = explain_api_error(server, why.reason, why.msg);
		return 0;
	}
	printf("[join] Fetched the sealed bundle from %s (server verified against %.15s...)\n",
	       server, a->hash);
	/* a->nc's pki_dir, node_name and force were set by join_plan. */
	*ret_exit = open_and_install(resp.body, p->key, a->pki_dir, a->flags, "join", a->ext_paths,
				     a->nc.advertise_address ? &a->nc : NULL);
	if (*ret_exit != EXIT_OK)
		say_fetch_spent(o, server, before);
	return 0;
}

/* "Authorization: Bearer TOKEN" in guarded memory into *ret. Returns 0 or -ENOMEM. */
static int bearer_header(const char *token, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *h = secret_new(32 + TOKEN_LEN);
	if (!h || secret_append(h, "Authorization: Bearer ", 22) < 0 ||
	    secret_append(h, token, strlen(token)) < 0 || secret_append(h, "", 1) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(h);
	return 0;
}

/* Try server i: plan with its description (a token is checked, not spent), enroll (with a
 * token: this spends one use), then fetch and install. Returns as the steps above (never
 * >0). */
static int join_server(struct join_args *a, const struct join_plan *p, size_t i, int *ret_exit)
{
	struct net_tls_opts o = {
	    .server = a->servers[i], .pin = p->pin, .cert_file = a->cert, .key_file = a->ckey};
	_cleanup_(evp_pkey_freep) EVP_PKEY *ekey = NULL;
	_cleanup_(x509_freep) X509 *ecert = NULL;
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	struct bundle_meta meta;
	bool described = false, more = i + 1 < a->n_servers;
	char detail[DETAIL_MAX] = "";

	if (p->token && bearer_header(p->token, &bearer) < 0) {
		cli_error("out of memory");
		*ret_exit = EXIT_FAIL;
		return 0;
	}
	int r = join_describe(a, p, &o, i, bearer, &meta, &described, ret_exit);
	if (r <= 0)
		return r;
	if (p->token) {
		r = enroll(&o, p->token, p->node_name, &ekey, &ecert, detail);
		if (r == -EACCES || r == -EAGAIN || r == -EKEYREJECTED || r == -ESTALE) {
			say_enroll_refused(r, detail);
			*ret_exit = EXIT_FORBIDDEN;
			return 0;
		}
		if (r < 0)
			return say_failed(a->servers[i], r, detail, more, ret_exit);
		o.cert = ecert;
		o.key = ekey;
	}
	r = join_fetch_install(a, p, &o, i, described ? &meta : NULL, ret_exit);
	if (p->token && *ret_exit != EXIT_OK)
		cli_error("one use of the join token was spent by this node's enrollment at %s "
			  "(see 'pkishare token list' on the first node); if it has none left, "
			  "make a new one with 'pkishare print-join-command' there",
			  a->servers[i]);
	return r;
}

/* Act: fetch from the first server that has the bundle, and install it with this node's
 * certificates in one step. Returns the exit status. */
static int join_act(struct join_args *a, const struct join_plan *p)
{
	int last_exit = EXIT_UNREACHABLE, last_r = -PKS_E_PIN_MISMATCH;
	for (size_t i = 0; i < a->n_servers; i++) {
		int ex = EXIT_FAIL;
		int r = join_server(a, p, i, &ex);
		if (r >= 0)
			return ex;
		last_exit = ex == EXIT_NOT_FOUND ? last_exit : ex;
		if (ex == EXIT_PIN)
			last_r = r; /* which of the server mismatches, for its advice */
	}
	if (last_exit == EXIT_PIN)
		cli_error("%s", error_message(last_r));
	else if (last_exit == EXIT_FORBIDDEN)
		cli_error(
		    "pkishared refused this node's identity; use a client certificate from "
		    "the daemon's --client-ca (pkishare pki init writes them to DIR/clients)");
	else
		cli_error("no server could be reached; check --server, the network and that "
			  "pkishared runs on the first control-plane node");
	return last_exit;
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
	return join_act(a, &p);
}

/* What decrypt was asked to do. */
struct decrypt_args {
	const char *pki_dir;
	const char *file; /* "-": standard input */
	const char *ext_paths[EXT_ETCD_COUNT];
	char *key_arg;
	unsigned flags;
	bool kubeadm;
};

enum decrypt_option { D_KEY = 256, D_PKI, D_FORMAT, D_DRY, D_FORCE, D_EXT0 };
static const struct option decrypt_options[] = {
    EXT_ETCD_LONG_OPTIONS(D_EXT0),
    {"certificate-key", required_argument, NULL, D_KEY},
    {"pki-dir", required_argument, NULL, D_PKI},
    {"format", required_argument, NULL, D_FORMAT},
    {"dry-run", no_argument, NULL, D_DRY},
    {"force", no_argument, NULL, D_FORCE},
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* decrypt's options into a (getopt_long). Returns >0 to go on, 0 after --help, <0 after
 * saying what is wrong. */
static int decrypt_options_parse(int argc, char **argv, struct decrypt_args *a)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", decrypt_options, NULL)) != -1) {
		switch (c) {
		case D_KEY:
			a->key_arg = optarg;
			break;
		case D_PKI:
			a->pki_dir = optarg;
			break;
		case D_EXT0:
		case D_EXT0 + 1:
		case D_EXT0 + 2:
			a->ext_paths[c - D_EXT0] = optarg;
			break;
		case D_FORMAT:
			if (strcmp(optarg, "kubeadm-secret") == 0) {
				a->kubeadm = true;
			} else if (strcmp(optarg, "native") != 0) {
				cli_error("--format must be native or kubeadm-secret");
				return -EINVAL;
			}
			break;
		case D_DRY:
			a->flags |= PKIDIR_DRY_RUN;
			break;
		case D_FORCE:
			a->flags |= PKIDIR_FORCE;
			break;
		case 'h':
			puts(
			    "Usage: " CLI_ENV_KEY "=KEY pkishare decrypt [--pki-dir DIR] "
			    "[--dry-run]\n"
			    "                        [--force] [--format native|kubeadm-secret]\n"
			    "                        [--external-etcd-ca F --external-etcd-cert F\n"
			    "                         --external-etcd-key F] [FILE|-]\n"
			    "       pkishare decrypt --certificate-key -|KEY ... FILE\n"
			    "Open a bundle fetched with curl (from FILE or standard input) and "
			    "install it.\n"
			    "The key in " CLI_ENV_KEY " (wiped from the environment once read) or\n"
			    "on standard input (--certificate-key -) stays out of the process "
			    "list;\n"
			    "--certificate-key KEY works but is readable by every local user.");
			return 0;
		default:
			return -EINVAL; /* getopt said what */
		}
	}
	return 1;
}

/* Parse decrypt's command line into a. Returns >0 to go on, 0 after --help, <0 after
 * saying what is wrong (verb_decrypt exits with EXIT_USAGE then). */
static int decrypt_parse(int argc, char **argv, struct decrypt_args *a)
{
	a->pki_dir = DEFAULT_PKI_DIR;
	int r = decrypt_options_parse(argc, argv, a);
	if (r <= 0)
		return r;
	if (argc - optind > 1) {
		cli_error("decrypt takes at most one FILE");
		return -EINVAL;
	}
	if (!a->key_arg && !getenv(CLI_ENV_KEY)) {
		cli_error(
		    "decrypt needs the certificate key: %s=KEY in the environment (curl ... | "
		    "%s=KEY pkishare decrypt), or --certificate-key - with the bundle in FILE",
		    CLI_ENV_KEY, CLI_ENV_KEY);
		return -EINVAL;
	}
	a->file = argc - optind == 1 ? argv[optind] : "-";
	if (a->key_arg && strcmp(a->key_arg, "-") == 0 && !strcmp(a->file, "-")) {
		cli_error("the key and the bundle cannot both come from standard input");
		return -EINVAL;
	}
	return 1;
}

/* Before the key is read: the external etcd destinations and the way to pki_dir. Returns
 * EXIT_OK, or said and the exit status. */
static int decrypt_target_check(const struct decrypt_args *a)
{
	char unsafe[DETAIL_MAX];

	int ex = etcdext_paths_check(a->ext_paths, NULL, a->pki_dir, a->flags);
	if (ex != EXIT_OK)
		return ex;
	if (pkidir_path_safe(a->pki_dir, unsafe) < 0) {
		cli_error("cannot install into %s: %s; use a path only root or this user controls; "
			  "nothing was written",
			  a->pki_dir, unsafe);
		return EXIT_FAIL;
	}
	say_symlinked(a->pki_dir, "decrypt");
	return EXIT_OK;
}

/* The bundle from file ("-": standard input) into *ret, in guarded memory. Returns
 * EXIT_OK, or said and EXIT_FAIL (an empty file too: curl failed). */
static int bundle_file_read(const char *file, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *json = NULL;
	bool from_stdin = !strcmp(file, "-");

	int r = from_stdin ? secret_read_fd(STDIN_FILENO, KUBEADM_SECRET_MAX_BYTES, &json)
			   : secret_read_file(file, KUBEADM_SECRET_MAX_BYTES, &json);
	if (r < 0) {
		cli_error("cannot read the bundle from %s: %s", from_stdin ? "stdin" : file,
			  error_message(r));
		return EXIT_FAIL;
	}
	if (json->len == 0) {
		cli_error("no bundle arrived (%s is empty): the command that was to fetch it "
			  "failed, and its own message above says why (for curl: a TLS or "
			  "connection error; an HTTP refusal says nothing here unless curl runs "
			  "with --fail-with-body); nothing was written",
			  from_stdin ? "standard input" : file);
		return EXIT_FAIL;
	}
	*ret = TAKE_PTR(json);
	return EXIT_OK;
}

/* Returns the exit status. */
/* The input's first byte that is not white space, or 0. */
static char first_char(const struct secret *in)
{
	for (size_t i = 0; i < in->len; i++)
		if (!strchr(" \t\r\n", in->data[i]))
			return (char)in->data[i];
	return 0;
}

/* Is the input a Kubernetes Secret (JSON or YAML), such as kubeadm-certs? */
static bool looks_like_secret(const struct secret *in)
{
	if (first_char(in) == '{') {
		json_t *o = json_loadb((const char *)in->data, in->len, 0, NULL);
		const char *kind = json_string_value(json_object_get(o, "kind"));
		bool yes = kind && !strcmp(kind, "Secret");
		json_decref(o);
		return yes;
	}
	return memmem(in->data, in->len, "kind: Secret", 12) != NULL;
}

/* A Secret as YAML (`kubectl -n kube-system get secret kubeadm-certs -o yaml`, the form
 * kubeadm's documents show) into the JSON the kubeadm format is read from. An exit
 * status, said. */
static int secret_from_yaml(const char *file, struct secret **io)
{
	char detail[DETAIL_MAX];
	json_t *o = NULL;
	if (kubeconf_yaml_json((const char *)(*io)->data, (*io)->len,
			       strcmp(file, "-") ? file : "standard input", &o, detail) < 0) {
		cli_error("not a kubeadm-certs Secret in JSON or YAML: %s; nothing was written",
			  detail);
		return EXIT_FAIL;
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct secret *json = text ? secret_dup(text, strlen(text)) : NULL;
	secret_json_free(text); /* jansson allocates through lib/secret */
	if (!json)
		return EXIT_FAIL;
	secret_free(*io);
	*io = json;
	return EXIT_OK;
}

int verb_decrypt(int argc, char **argv)
{
	struct decrypt_args a = {0};
	_cleanup_(secret_mem_freep) uint8_t *key = NULL;
	_cleanup_(secret_freep) struct secret *json = NULL;

	int r = decrypt_parse(argc, argv, &a);
	if (r <= 0)
		return r < 0 ? EXIT_USAGE : EXIT_OK;
	int ex = decrypt_target_check(&a);
	if (ex != EXIT_OK)
		return ex;
	key = secret_mem(KEY_BYTES);
	if (!key)
		return EXIT_FAIL;
	bool given = false;
	ex = cli_key_take(a.key_arg, key, &given);
	if (ex != EXIT_OK)
		return ex;
	if (!given) {
		cli_error("no certificate key: put the key upload-certs printed in %s; nothing was "
			  "written",
			  CLI_ENV_KEY);
		return EXIT_USAGE;
	}
	ex = bundle_file_read(a.file, &json);
	if (ex != EXIT_OK)
		return ex;
	if (a.kubeadm && first_char(json) != '{') {
		ex = secret_from_yaml(a.file, &json);
		if (ex != EXIT_OK)
			return ex;
	}
	if (a.kubeadm)
		return kubeadm_open_and_install(json, key, a.pki_dir, a.flags, a.ext_paths);
	if (looks_like_secret(json)) {
		cli_error("this is a Kubernetes Secret (kubeadm's kubeadm-certs), not a pkishare "
			  "bundle: run decrypt with --format kubeadm-secret; nothing was written");
		return EXIT_USAGE;
	}
	return open_and_install(json, key, a.pki_dir, a.flags, "decrypt", a.ext_paths, NULL);
}
