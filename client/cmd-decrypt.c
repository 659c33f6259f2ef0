/* cmd-decrypt.c - decrypt: a bundle fetched by other means (curl), or kubeadm's
 * kubeadm-certs Secret, opened here and installed atomically as join installs it.
 *
 * The certificate key and the plaintext stay in guarded memory; a failure at any step
 * leaves the target directory as it was. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "addr.h"
#include "bundle.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "install.h"
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
	target_say_symlinked(a->pki_dir, "decrypt");
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
	return install_bundle(json, key, NULL, a.pki_dir, a.flags, "decrypt", a.ext_paths, NULL);
}
