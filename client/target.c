/* target.c - the directory a join or decrypt installs into, checked before anything is
 * fetched or written: the way to it, its parent (pkidir's rule of who may write), the
 * left-overs of an interrupted join, what it holds, and a present CA (the pinned
 * cluster's). Every refusal is said here, once, with what to do. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "key.h"
#include "kubeconf.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "target.h"
#include "token.h"
#include "util.h"
#include "x509.h"

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

void target_say_symlinked(const char *dir, const char *tag)
{
	char real[PATH_MAX], prefix[PATH_MAX], to[PATH_MAX];
	struct stat st;
	/* The directories above dir, as written: a link there (/etc/kubernetes on a data disk)
	 * is followed by the install's walk as dir itself is, so it is said too. */
	str_copy(prefix, sizeof(prefix), dir);
	for (char *slash = strchr(prefix + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		if (slash[1] == 0)
			break; /* a trailing slash: dir itself, said below */
		*slash = 0;
		if (lstat(prefix, &st) == 0 && S_ISLNK(st.st_mode) && realpath(prefix, to))
			printf("[%s] %s is a symlink to %s: installing there, into %s%s (the link "
			       "stays)\n",
			       tag, prefix, to, to, dir + strlen(prefix));
		*slash = '/';
	}
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

int target_check(const char *dir, const uint8_t pin[PIN_BYTES], unsigned flags, bool node_certs)
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
	target_say_symlinked(dir, "join");
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
