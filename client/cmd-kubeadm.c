/* cmd-kubeadm.c - interoperation with kubeadm's upload-certs format: open a
 * kubeadm-certs Secret (decrypt --format kubeadm-secret) and write one (export).
 *
 * Same rules as the native path: keys and plaintext in guarded memory, every check
 * before any write, the PKI directory installed atomically. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "key.h"
#include "kubeadm.h"
#include "pkidir.h"
#include "util.h"

#define EXT_FILE_MAX (256 * 1024)

int kubeadm_open_and_install(const struct secret *json, const uint8_t *key, const char *pki_dir,
			     unsigned flags, const char *const ext_paths[KUBEADM_EXT_COUNT])
{
	_cleanup_(pki_set_clearp) struct pki_set plain = {0};
	_cleanup_(ext_etcd_freep) struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	struct pkidir_report rep = {0};
	char detail[DETAIL_MAX] = "";
	int ex = EXIT_OK;

	int r = kubeadm_secret_open((const char *)json->data, json->len, key, &plain, ext, detail);
	if (r < 0) {
		if (r == -PKS_E_AUTH)
			cli_error("%s: %s (kubeadm would say: cipher: message authentication "
				  "failed)",
				  detail, error_message(r));
		else
			cli_error("cannot use this kubeadm-certs Secret: %s (%s); nothing was "
				  "written",
				  error_message(r), detail);
		return cli_exit_for(r);
	}
	/* Every check first: external files need a destination, none may conflict. */
	ex = etcdext_install(ext, ext_paths, flags | PKIDIR_DRY_RUN, "decrypt");
	if (ex == EXIT_OK) {
		r = pkidir_install(pki_dir, &plain, flags, &rep, detail);
		if (r < 0) {
			cli_error("cannot install into %s: %s (%s); %s was left as it was", pki_dir,
				  error_message(r), detail, pki_dir);
			ex = cli_exit_for(r);
		}
	}
	if (ex == EXIT_OK && !(flags & PKIDIR_DRY_RUN))
		ex = etcdext_install(ext, ext_paths, flags, "decrypt");
	if (ex == EXIT_OK && (flags & PKIDIR_DRY_RUN))
		printf(
		    "[decrypt] Opened the kubeadm-certs Secret: %zu files; dry run: %zu would be "
		    "written into %s (%zu already identical); nothing was written\n",
		    plain.n, rep.written, pki_dir, rep.unchanged);
	else if (ex == EXIT_OK)
		printf("[decrypt] Opened the kubeadm-certs Secret: %zu files into %s (%zu written, "
		       "%zu already identical)\n",
		       plain.n, pki_dir, rep.written, rep.unchanged);
	return ex;
}

static const char export_usage[] =
    "Usage: pkishare export --format kubeadm-secret [--pki-dir DIR]\n"
    "                       [--certificate-key -|KEY] [--skip-certificate-key-print]\n"
    "                       [--external-etcd-ca F --external-etcd-cert F "
    "--external-etcd-key F]\n"
    "                       [--secret-only]\n"
    "Write (to standard output) what kubeadm's upload-certs creates: a List of the Secret\n"
    "kube-system/kubeadm-certs that 'kubeadm join --control-plane --certificate-key KEY'\n"
    "consumes, and the Role and RoleBinding kubeadm:kubeadm-certs that let a joining "
    "node's\n"
    "bootstrap token read it (kubectl apply -f). --secret-only: the Secret alone.\n"
    "An external etcd file that is not on disk is written as an empty entry, as kubeadm "
    "does.\n"
    "A key of your own: in " CLI_ENV_KEY " or with --certificate-key - (standard input).";

struct export_opts {
	const char *pki_dir;
	const char *ext_paths[KUBEADM_EXT_COUNT];
	int n_ext;
	char *key_arg;
	bool skip_print;
	unsigned build; /* KUBEADM_BUILD_* */
};

/* export's options: >0 go on, 0 after --help, <0 a usage error (said). */
static int export_parse(int argc, char **argv, struct export_opts *o)
{
	enum { O_FORMAT = 256, O_PKI, O_KEY, O_SKIP, O_ONLY, O_EXT0 };
	static const struct option opts[] = {
	    {"format", required_argument, NULL, O_FORMAT},
	    {"pki-dir", required_argument, NULL, O_PKI},
	    {"certificate-key", required_argument, NULL, O_KEY},
	    {"skip-certificate-key-print", no_argument, NULL, O_SKIP},
	    {"secret-only", no_argument, NULL, O_ONLY},
	    EXT_ETCD_LONG_OPTIONS(O_EXT0),
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *format = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == O_FORMAT) {
			format = optarg;
		} else if (c == O_PKI) {
			o->pki_dir = optarg;
		} else if (c == O_KEY) {
			o->key_arg = optarg;
		} else if (c == O_SKIP) {
			o->skip_print = true;
		} else if (c == O_ONLY) {
			o->build &= ~(unsigned)KUBEADM_BUILD_RBAC;
		} else if (c >= O_EXT0 && c < O_EXT0 + KUBEADM_EXT_COUNT) {
			o->ext_paths[c - O_EXT0] = optarg;
		} else if (c == 'h') {
			puts(export_usage);
			return 0;
		} else {
			return -EINVAL;
		}
	}
	if (!format || strcmp(format, "kubeadm-secret") != 0) {
		cli_error("export needs --format kubeadm-secret (the only export format)");
		return -EINVAL;
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
		o->n_ext += o->ext_paths[i] != NULL;
	if (o->n_ext != 0 && o->n_ext != KUBEADM_EXT_COUNT) {
		cli_error("external etcd needs all three of --external-etcd-ca, "
			  "--external-etcd-cert and --external-etcd-key");
		return -EINVAL;
	}
	return 1;
}

/* The PKI directory and the external etcd files, into ret and ret_ext (an absent
 * external file stays NULL: kubeadm's empty entry). An exit status. */
static int export_read(const struct export_opts *o, struct pki_set *ret,
		       struct secret *ret_ext[KUBEADM_EXT_COUNT])
{
	char missing[DETAIL_MAX] = "", detail[DETAIL_MAX] = "";
	int r = pkidir_read(o->pki_dir, ret, missing, detail);
	if (r < 0) {
		cli_error("cannot read the PKI in %s: %s (%s)", o->pki_dir, error_message(r),
			  detail);
		return EXIT_FAIL;
	}
	if (missing[0] && !o->n_ext)
		fprintf(stderr,
			"[export] Note: %s not found in %s and no --external-etcd-* given\n",
			missing, o->pki_dir);
	for (int i = 0; i < o->n_ext; i++) {
		r = secret_read_file(o->ext_paths[i], EXT_FILE_MAX, &ret_ext[i]);
		if (r == -ENOENT) { /* kubeadm: an empty entry (insecure external etcd, say) */
			fprintf(stderr, "[export] Note: %s is not there: its entry is left empty\n",
				o->ext_paths[i]);
		} else if (r < 0) {
			cli_error("cannot read %s: %s", o->ext_paths[i], error_message(r));
			return EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

/* The certificate key: --certificate-key's or PKISHARE_CERTIFICATE_KEY's (said), else a
 * new one (*ret_new). An exit status. */
static int export_key(char *key_arg, uint8_t *key, bool *ret_new)
{
	bool given = false;
	int ex = cli_key_take(key_arg, key, &given);
	if (ex != EXIT_OK)
		return ex;
	if (!given)
		key_generate(key);
	else if (!key_arg)
		fprintf(stderr, "pkishare: using the certificate key in " CLI_ENV_KEY
				" (unset it for a fresh key)\n");
	*ret_new = !given;
	return EXIT_OK;
}

int verb_export(int argc, char **argv)
{
	struct export_opts o = {.pki_dir = DEFAULT_PKI_DIR, .build = KUBEADM_BUILD_RBAC};
	int r = export_parse(argc, argv, &o);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	_cleanup_(secret_mem_freep) uint8_t *key = secret_mem(KEY_BYTES);
	_cleanup_(secret_mem_freep) char *hex = secret_mem(KEY_HEX_LEN + 1);
	if (!key || !hex)
		return EXIT_FAIL;
	bool fresh = false;
	int ex = export_key(o.key_arg, key, &fresh);
	if (ex != EXIT_OK)
		return ex;
	_cleanup_(pki_set_clearp) struct pki_set plain = {0};
	_cleanup_(ext_etcd_freep) struct secret *ext[KUBEADM_EXT_COUNT] = {0};
	ex = export_read(&o, &plain, ext);
	if (ex != EXIT_OK)
		return ex;
	if (o.n_ext)
		o.build |= KUBEADM_BUILD_EXTERNAL;
	_cleanup_(secret_freep) struct secret *json = NULL;
	r = kubeadm_secret_build(&plain, (const struct secret *const *)ext, key, o.build, &json);
	if (r < 0) {
		cli_error("cannot build the Secret: %s", error_message(r));
		return EXIT_FAIL;
	}
	fwrite(json->data, 1, json->len, stdout);
	if (fresh && !o.skip_print) {
		/* stdout is the manifest; the key goes where upload-certs' would be read. */
		key_format(key, hex);
		fprintf(stderr, "[upload-certs] Using certificate key:\n%s\n", hex);
	}
	return EXIT_OK;
}
