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
#include <unistd.h>

#include "bundle.h"
#include "cli.h"
#include "error.h"
#include "key.h"
#include "kubeadm.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "token.h"
#include "util.h"
#include "x509.h"

#define MAX_SERVERS 8

/* An error body instead of a bundle (curl without --fail, or a refusal): explain it. */
static int explain_api_error(const char *who, const char *reason, const char *msg)
{
	cli_error("%s refused: %s", who, msg);
	if (!strcmp(reason, "expired"))
		return EXIT_EXPIRED;
	if (!strcmp(reason, "used-up") || !strcmp(reason, "deleted"))
		return EXIT_USED_UP;
	if (!strcmp(reason, "not-found"))
		return EXIT_NOT_FOUND;
	if (!strcmp(reason, "forbidden"))
		return EXIT_FORBIDDEN;
	return EXIT_FAIL;
}

/* The bundle's profile (authenticated by bundle_open with every entry). */
static void bundle_profile(const struct bundle *b, struct profile *ret)
{
	json_t *o = b->profile ? json_loads(b->profile, 0, NULL) : NULL;
	if (!o || profile_from_json(o, ret, NULL) < 0)
		memset(ret, 0, sizeof(*ret));
	json_decref(o);
}

/* ret_prof (may be NULL) receives the bundle's cluster profile; external etcd files go
 * to ext_paths, else to the profile's paths. */
static int open_and_install(const struct secret *json, const uint8_t *key, const char *pki_dir,
			    unsigned flags, const char *tag, const char *ext_given[3],
			    struct profile *ret_prof)
{
	struct profile profile_buf, *prof = &profile_buf;
	const char *ext_paths[3] = {ext_given[0], ext_given[1], ext_given[2]};
	struct secret *ext[3] = {0};
	struct bundle b = {0};
	struct pki_set plain = {0};
	struct pkidir_report rep = {0};
	char detail[DETAIL_MAX] = "", reason[64], msg[512];

	if (api_error_parse(json, reason, sizeof(reason), msg, sizeof(msg)))
		return explain_api_error("the server", reason, msg);
	int r = bundle_parse((const char *)json->data, json->len, &b, detail);
	if (r < 0) {
		cli_error("this is not a usable bundle: %s (%s); nothing was written",
			  error_message(r), detail);
		return EXIT_FAIL;
	}
	r = bundle_open(&b, key, time_now(), 0, &plain, detail);
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
		bundle_done(&b);
		return cli_exit_for(r);
	}
	bundle_profile(&b, prof);
	const char *from_profile[3] = {prof->external_ca, prof->external_cert, prof->external_key};
	for (int i = 0; i < 3; i++)
		if (!ext_paths[i] && from_profile[i][0])
			ext_paths[i] = from_profile[i];
	if (ret_prof)
		*ret_prof = *prof;
	external_split(&plain, ext);
	r = external_install(ext, ext_paths, flags | PKIDIR_DRY_RUN, tag);
	if (r != EXIT_OK) {
		pki_set_clear(&plain);
		for (int i = 0; i < 3; i++)
			secret_free(ext[i]);
		bundle_done(&b);
		return r;
	}
	r = pkidir_install(pki_dir, &plain, flags, &rep, detail);
	pki_set_clear(&plain);
	int ex = r >= 0 && !(flags & PKIDIR_DRY_RUN) ? external_install(ext, ext_paths, flags, tag)
						     : EXIT_OK;
	for (int i = 0; i < 3; i++)
		secret_free(ext[i]);
	if (ex != EXIT_OK) {
		bundle_done(&b);
		return ex;
	}
	if (r < 0) {
		if (r == -PKS_E_EXISTS)
			cli_error("%s already exists in %s with different contents; %s", detail,
				  pki_dir, error_message(r));
		else
			cli_error("cannot install into %s: %s (%s); %s was left as it was", pki_dir,
				  error_message(r), detail, pki_dir);
		bundle_done(&b);
		return cli_exit_for(r);
	}
	char created[RFC3339_LEN];
	time_format(b.created_at, created);
	printf("[%s] Opened bundle %s (sealed %s, key id %s): %zu files authenticated\n", tag, b.id,
	       created, b.key_id, b.files.n);
	if (flags & PKIDIR_DRY_RUN)
		printf("[%s] Dry run: would write %zu file(s) into %s (%zu already identical); "
		       "nothing was written\n",
		       tag, rep.written, pki_dir, rep.unchanged);
	else
		printf("[%s] Installed the shared PKI into %s: %zu written, %zu already "
		       "identical, %zu other file(s) kept\n",
		       tag, pki_dir, rep.written, rep.unchanged, rep.kept);
	bundle_done(&b);
	return EXIT_OK;
}

/* Enrollment: a key pair made in memory, a CSR, and a short-lived client certificate
 * from POST /v1/enroll. The private key never leaves this process. */
static int enroll(const struct tls_client_opts *server, const char *token, const char *node,
		  EVP_PKEY **ret_key, X509 **ret_cert, char *detail)
{
	struct tls_client_opts o = {.server = server->server, .pin = server->pin};
	_cleanup_(secret_freep) struct secret *csr = NULL;
	_cleanup_(secret_freep) struct secret *auth = secret_new(32 + TOKEN_LEN);
	struct http_response resp = {0};
	EVP_PKEY *key = NULL;
	int r = auth ? x509_key_new(KEY_TYPE_P256, &key) : -ENOMEM;
	if (r >= 0)
		r = x509_csr_new(key, node, &csr);
	if (r >= 0)
		r = secret_append(auth, "Authorization: Bearer ", 22);
	if (r >= 0)
		r = secret_append(auth, token, strlen(token));
	if (r < 0) {
		EVP_PKEY_free(key);
		snprintf(detail, DETAIL_MAX, "cannot make a key pair and CSR: %s",
			 error_message(r));
		return r;
	}
	r = https_request(&o, "POST", "/v1/enroll", (const char *)auth->data, csr, &resp, detail);
	if (r < 0) {
		EVP_PKEY_free(key);
		return r;
	}
	if (resp.status != 200) {
		char reason[64] = "", msg[400] = "";
		api_error_parse(resp.body, reason, sizeof(reason), msg, sizeof(msg));
		snprintf(detail, DETAIL_MAX, "enrollment at %s refused (HTTP %d, %s): %s",
			 server->server, resp.status, reason, msg);
		r = resp.status == 429 ? -EAGAIN : -EACCES;
		http_response_done(&resp);
		EVP_PKEY_free(key);
		return r;
	}
	X509 *cert = NULL;
	r = x509_cert_load(resp.body->data, resp.body->len, &cert);
	http_response_done(&resp);
	if (r < 0) {
		EVP_PKEY_free(key);
		snprintf(detail, DETAIL_MAX, "enrollment at %s returned no certificate",
			 server->server);
		return r;
	}
	printf("[join] Enrolled as %s at %s with a short-lived client certificate\n", node,
	       server->server);
	*ret_key = key;
	*ret_cert = cert;
	return 0;
}

static void join_usage(FILE *f)
{
	fputs("Usage: pkishare join --server HOST:PORT [--server HOST:PORT]...\n"
	      "                     --ca-cert-hash sha256:HEX --certificate-key KEY|-\n"
	      "                     (--cert FILE --key FILE | --token TOKEN [--node-name N])\n"
	      "                     [--pki-dir DIR] [--dry-run] [--force]\n" NODECERTS_USAGE
	      "Fetch the sealed PKI from pkishared over mutual TLS, open it and install it; with\n"
	      "--advertise-address also make this node's own certificates as kubeadm would.\n",
	      f);
}

/* What join was asked to do. */
struct join_args {
	const char *servers[MAX_SERVERS];
	size_t n_servers;
	const char *hash, *cert, *ckey, *pki_dir, *node_name;
	char *key_arg, *token_arg;
	const char *ext_paths[3];
	unsigned flags;
	struct nodecerts_opts nc;
};

/* Parse: -1 to go on, else the exit status. */
static int join_parse(int argc, char **argv, struct join_args *a)
{
	enum {
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
		O_CACERT,
		O_EXT0,
		O_EXT1,
		O_EXT2,
	};
	static const struct option opts[] = {
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
	int c;

	a->pki_dir = DEFAULT_PKI_DIR;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_SERVER:
			if (a->n_servers >= MAX_SERVERS) {
				cli_error("at most %d --server", MAX_SERVERS);
				return EXIT_USAGE;
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
			return EXIT_OK;
		default: {
			int t = nodecerts_option(&a->nc, c, optarg);
			if (t > 0)
				break;
			if (t == 0)
				join_usage(stderr);
			return EXIT_USAGE;
		}
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (a->n_servers == 0 || !a->hash || !a->key_arg ||
	    (!a->token_arg && (!a->cert || !a->ckey)) || (a->token_arg && (a->cert || a->ckey))) {
		cli_error(
		    "join needs --server, --ca-cert-hash, --certificate-key, and either --cert "
		    "and --key or --token");
		join_usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* What join will use: checked, secrets in guarded memory (freed by join_plan_done). */
struct join_plan {
	uint8_t pin[PIN_BYTES];
	uint8_t *key;
	char *token; /* "id.secret", or NULL without --token */
	char host[256];
	const char *node_name;
};

static void join_plan_done(struct join_plan *p)
{
	secret_mem_free(p->key);
	secret_mem_free(p->token);
}

/* Plan: EXIT_OK, or the exit status of what is wrong. */
static int join_plan(struct join_args *a, struct join_plan *p)
{
	char detail[DETAIL_MAX] = "";
	if (a->token_arg) {
		char id[TOKEN_ID_LEN + 1];
		_cleanup_(secret_mem_freep) char *tsecret = secret_mem(TOKEN_SECRET_LEN + 1);
		p->token = secret_mem(TOKEN_LEN + 1);
		int tr =
		    tsecret && p->token ? token_parse(a->token_arg, id, tsecret, detail) : -ENOMEM;
		secret_wipe(a->token_arg, strlen(a->token_arg));
		if (tr == -ENOMEM)
			return EXIT_FAIL;
		if (tr < 0) {
			cli_error("invalid --token: %s", detail);
			return EXIT_USAGE;
		}
		snprintf(p->token, TOKEN_LEN + 1, "%s.%s", id, tsecret);
	}
	p->node_name = a->node_name;
	if (!p->node_name) {
		nodecerts_default_name(p->host, sizeof(p->host));
		p->node_name = p->host;
	}
	int r = pin_parse(a->hash, p->pin, detail);
	if (r < 0) {
		cli_error("invalid --ca-cert-hash: %s; %s", detail, error_message(r));
		return EXIT_USAGE;
	}
	p->key = secret_mem(KEY_BYTES);
	if (!p->key)
		return EXIT_FAIL;
	return cli_take_key(a->key_arg, p->key);
}

/* Fetch from server i: 0 with resp filled (200), 1 to try the next server (*last_exit
 * says why), or a negative exit status to stop now. */
static int join_fetch(const struct join_args *a, const struct join_plan *p, size_t i,
		      struct http_response *resp, int *last_exit)
{
	char detail[DETAIL_MAX] = "";
	struct tls_client_opts o = {
	    .server = a->servers[i], .pin = p->pin, .cert_file = a->cert, .key_file = a->ckey};
	EVP_PKEY *ekey = NULL;
	X509 *ecert = NULL;
	int r = 0;
	bool more = i + 1 < a->n_servers;
	if (p->token) {
		r = enroll(&o, p->token, p->node_name, &ekey, &ecert, detail);
		if (r == -EACCES || r == -EAGAIN) {
			cli_error("%s", detail);
			return -EXIT_FORBIDDEN;
		}
		o.cert = ecert;
		o.key = ekey;
	}
	if (r >= 0 || !p->token)
		r = https_get(&o, "/v1/bundle", resp, detail);
	EVP_PKEY_free(ekey);
	X509_free(ecert);
	if (r == -PKS_E_X509 || r == -ENOENT || r == -EACCES) {
		cli_error("%s", detail);
		return -EXIT_FAIL; /* our own files: no other server will do better */
	}
	if (r < 0) {
		cli_error("%s: %s%s", a->servers[i], detail,
			  more ? "; trying the next --server" : "");
		*last_exit = r == -PKS_E_PIN_MISMATCH ? EXIT_PIN
			     : r == -ECONNRESET	      ? EXIT_FORBIDDEN
						      : EXIT_UNREACHABLE;
		return 1;
	}
	if (resp->status == 200)
		return 0;
	char reason[64] = "", msg[512] = "";
	if (!api_error_parse(resp->body, reason, sizeof(reason), msg, sizeof(msg)))
		snprintf(msg, sizeof(msg), "HTTP %d without an explanation", resp->status);
	int status = resp->status;
	http_response_done(resp);
	/* No bundle (or a gone one) here: another server may hold it. */
	if ((status == 404 || status == 410) && more) {
		cli_error("%s answered %d (%s): %s; trying the next --server", a->servers[i],
			  status, reason, msg);
		return 1;
	}
	return -explain_api_error(a->servers[i], reason, msg);
}

/* Act: fetch from the first server that has the bundle, install it, then make this node's
 * certificates from the bundle's profile. */
static int join_act(struct join_args *a, const struct join_plan *p)
{
	int last_exit = EXIT_UNREACHABLE;
	struct profile prof;
	for (size_t i = 0; i < a->n_servers; i++) {
		struct http_response resp = {0};
		int r = join_fetch(a, p, i, &resp, &last_exit);
		if (r > 0)
			continue;
		if (r < 0)
			return -r;
		printf(
		    "[join] Fetched the sealed bundle from %s (server verified against %.15s...)\n",
		    a->servers[i], a->hash);
		int ex = open_and_install(resp.body, p->key, a->pki_dir, a->flags, "join",
					  a->ext_paths, &prof);
		http_response_done(&resp);
		if (ex == EXIT_OK && a->nc.advertise_address && !(a->flags & PKIDIR_DRY_RUN)) {
			a->nc.pki_dir = a->pki_dir;
			a->nc.node_name = p->node_name;
			a->nc.external_etcd = a->ext_paths[0] != NULL || prof.external_ca[0];
			nodecerts_take_profile(&a->nc, &prof, "join");
			a->nc.force = (a->flags & PKIDIR_FORCE) != 0;
			ex = nodecerts_make(&a->nc, "join");
		}
		return ex;
	}
	if (last_exit == EXIT_PIN)
		cli_error("%s", error_message(-PKS_E_PIN_MISMATCH));
	else if (last_exit == EXIT_FORBIDDEN)
		cli_error(
		    "pkishared refused this node's identity; use a client certificate from "
		    "the daemon's --client-ca (pkishare pki init writes them to DIR/clients)");
	else
		cli_error("no server could be reached; check --server, the network and that "
			  "pkishared runs on the first control-plane node");
	return last_exit;
}

int verb_join(int argc, char **argv)
{
	static struct join_args a; /* large (the profile); one join per process */
	struct join_plan p = {0};
	memset(&a, 0, sizeof(a));
	int ex = join_parse(argc, argv, &a);
	if (ex >= 0)
		return ex;
	ex = join_plan(&a, &p);
	if (ex == EXIT_OK)
		ex = join_act(&a, &p);
	join_plan_done(&p);
	return ex;
}

int verb_decrypt(int argc, char **argv)
{
	enum { O_KEY = 256, O_PKI, O_FORMAT, O_DRY, O_FORCE, O_EXT0 };
	static const struct option opts[] = {
	    EXT_ETCD_LONG_OPTIONS(O_EXT0),
	    {"certificate-key", required_argument, NULL, O_KEY},
	    {"pki-dir", required_argument, NULL, O_PKI},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"dry-run", no_argument, NULL, O_DRY},
	    {"force", no_argument, NULL, O_FORCE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *pki_dir = DEFAULT_PKI_DIR;
	const char *ext_paths[3] = {0};
	char *key_arg = NULL;
	unsigned flags = 0;
	bool kubeadm = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			key_arg = optarg;
			break;
		case O_PKI:
			pki_dir = optarg;
			break;
		case O_EXT0:
		case O_EXT0 + 1:
		case O_EXT0 + 2:
			ext_paths[c - O_EXT0] = optarg;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "kubeadm-secret") == 0) {
				kubeadm = true;
			} else if (strcmp(optarg, "native") != 0) {
				cli_error("--format must be native or kubeadm-secret");
				return EXIT_USAGE;
			}
			break;
		case O_DRY:
			flags |= PKIDIR_DRY_RUN;
			break;
		case O_FORCE:
			flags |= PKIDIR_FORCE;
			break;
		case 'h':
			puts(
			    "Usage: pkishare decrypt --certificate-key KEY [--pki-dir DIR] "
			    "[--dry-run]\n"
			    "                        [--force] [--format native|kubeadm-secret]\n"
			    "                        [--external-etcd-ca F --external-etcd-cert F\n"
			    "                         --external-etcd-key F] [FILE|-]\n"
			    "Open a bundle fetched with curl (from FILE or standard input) and "
			    "install it.");
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		cli_error("decrypt takes at most one FILE");
		return EXIT_USAGE;
	}
	if (!key_arg) {
		cli_error("decrypt needs --certificate-key KEY");
		return EXIT_USAGE;
	}
	if (strcmp(key_arg, "-") == 0 && (argc - optind == 0 || !strcmp(argv[optind], "-"))) {
		cli_error("the key and the bundle cannot both come from standard input");
		return EXIT_USAGE;
	}
	_cleanup_(secret_mem_freep) uint8_t *key = secret_mem(KEY_BYTES);
	if (!key)
		return EXIT_FAIL;
	int r = cli_take_key(key_arg, key);
	if (r != EXIT_OK)
		return r;
	const char *file = argc - optind == 1 ? argv[optind] : "-";
	_cleanup_(secret_freep) struct secret *json = NULL;
	if (!strcmp(file, "-")) {
		r = secret_read_fd(STDIN_FILENO, KUBEADM_SECRET_MAX_BYTES, &json);
	} else {
		r = secret_read_file(file, KUBEADM_SECRET_MAX_BYTES, &json);
	}
	if (r < 0) {
		cli_error("cannot read the bundle from %s: %s", !strcmp(file, "-") ? "stdin" : file,
			  error_message(r));
		return EXIT_FAIL;
	}
	if (json->len == 0) {
		cli_error("the bundle is empty (did curl fail? run it with --fail-with-body)");
		return EXIT_FAIL;
	}
	if (kubeadm)
		return kubeadm_open_and_install(json, key, pki_dir, flags, ext_paths);
	return open_and_install(json, key, pki_dir, flags, "decrypt", ext_paths, NULL);
}
