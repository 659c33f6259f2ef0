/* etcdext.c - the external etcd files a bundle may carry (kubeadm's etcd.external caFile,
 * certFile, keyFile): taken out of the shared PKI, their destinations checked before
 * anything is fetched or written, and installed one by one, each atomically, outside the
 * PKI directory. What is refused is said here, once, with what to do. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "kubeadm.h"
#include "pkidir.h"
#include "profile.h"
#include "util.h"

static const unsigned ext_modes[KUBEADM_EXT_COUNT] = {0644, 0644, 0600};
static const char *const ext_flags[KUBEADM_EXT_COUNT] = {
    "--external-etcd-ca", "--external-etcd-cert", "--external-etcd-key"};
/* kubeadm's names for them in ClusterConfiguration.etcd.external. */
static const char *const ext_fields[KUBEADM_EXT_COUNT] = {"caFile", "certFile", "keyFile"};

void etcdext_split(struct pki_set *set, struct secret *ext[KUBEADM_EXT_COUNT])
{
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
		ext[i] = NULL;
	for (size_t j = 0; j < set->n;) {
		int idx = -1;
		for (int i = 0; i < KUBEADM_EXT_COUNT; i++)
			if (strcmp(set->e[j].name, kubeadm_external_keys[i]) == 0)
				idx = i;
		if (idx < 0) {
			j++;
			continue;
		}
		ext[idx] = set->e[j].data;
		set->e[j] = set->e[--set->n];
	}
	pki_set_sort(set);
}

/* A path's directory resolved (it must exist) and its last name: two spellings of one
 * destination compare equal. */
static bool path_resolve(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	if (pkidir_path_split(path, dir, base) < 0 || !realpath(dir, real))
		return false;
	return !str_format(out, len, "%s/%s", strcmp(real, "/") ? real : "", base);
}

/* Does path name a file (not a directory: no trailing '/', no final "." or "..", not an
 * existing directory)? */
static bool names_a_file(const char *path)
{
	struct stat st;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return false;
	return lstat(path, &st) < 0 || !S_ISDIR(st.st_mode);
}

/* Two destinations that are one file, said: both from the cluster profile (a combined
 * PEM in kubeadm's configuration), or named by a flag. Returns EXIT_USAGE. */
static int say_same_file(const char *const paths[KUBEADM_EXT_COUNT],
			 const bool from_profile[KUBEADM_EXT_COUNT], int j, int i)
{
	if (from_profile && from_profile[i] && from_profile[j]) {
		cli_error("the cluster profile's external etcd %s and %s name the same file (%s; a "
			  "combined PEM?): one would be written over the other, and a private key "
			  "with a certificate's mode; give each its own destination with %s and "
			  "%s, and fix etcd.external in the cluster's kubeadm configuration; "
			  "nothing was fetched or written",
			  ext_fields[j], ext_fields[i], paths[i], ext_flags[j], ext_flags[i]);
		return EXIT_USAGE;
	}
	cli_error("%s%s and %s%s name the same file (%s); give each external etcd file its own "
		  "path; nothing was fetched or written",
		  from_profile && from_profile[j] ? "the cluster profile's " : "",
		  from_profile && from_profile[j] ? ext_fields[j] : ext_flags[j],
		  from_profile && from_profile[i] ? "the cluster profile's " : "",
		  from_profile && from_profile[i] ? ext_fields[i] : ext_flags[i], paths[i]);
	return EXIT_USAGE;
}

int etcdext_paths_check(const char *const paths[KUBEADM_EXT_COUNT],
			const bool from_profile[KUBEADM_EXT_COUNT], const char *pki_dir,
			unsigned flags)
{
	char resolved[KUBEADM_EXT_COUNT][PATH_MAX], pki[PATH_MAX] = "";
	bool have_pki = pki_dir && realpath(pki_dir, pki);
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++) {
		resolved[i][0] = 0;
		if (!paths[i])
			continue;
		char why[DETAIL_MAX];
		/* Before anything else: a profile with a combined PEM is said as such. */
		for (int j = 0; j < i; j++)
			if (paths[j] && pkidir_path_same(paths[i], paths[j]))
				return say_same_file(paths, from_profile, j, i);
		if (!names_a_file(paths[i])) {
			cli_error("%s %s names a directory, not a file; give the path of the "
				  "file itself; nothing was fetched or written",
				  ext_flags[i], paths[i]);
			return EXIT_USAGE;
		}
		if (pkidir_path_safe(paths[i], why) < 0) {
			cli_error("%s %s: %s; use a path only root or this user controls; nothing "
				  "was fetched or written",
				  ext_flags[i], paths[i], why);
			return EXIT_FAIL;
		}
		/* The install would refuse it only after the fetch, as different contents. */
		if (i == KUBEADM_EXT_KEY && !(flags & PKIDIR_FORCE) &&
		    pkidir_key_file_check(paths[i], why) < 0) {
			cli_error(
			    "%s%s %s is already there and readable by group or others, but "
			    "will hold etcd's client private key: chmod 600 %s (and check who "
			    "could have read it) and run again, or pass --force to replace it "
			    "with the bundle's key, written 0600; nothing was fetched or written",
			    from_profile && from_profile[i] ? "the cluster profile's " : "",
			    from_profile && from_profile[i] ? ext_fields[i] : ext_flags[i],
			    paths[i], paths[i]);
			return EXIT_EXISTS;
		}
		if (!path_resolve(paths[i], resolved[i], sizeof(resolved[i])))
			continue; /* a missing directory is refused by the install's own checks */
		size_t n = strlen(pki);
		if (have_pki && strncmp(resolved[i], pki, n) == 0 &&
		    (resolved[i][n] == '/' || resolved[i][n] == 0)) {
			cli_error(
			    "%s %s is inside the PKI directory %s, which the shared PKI "
			    "replaces as a whole; put it outside (kubeadm's default is "
			    "/etc/kubernetes/pki/etcd/..., a different tree only with external "
			    "etcd); nothing was fetched or written",
			    ext_flags[i], paths[i], pki_dir);
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

int etcdext_install(struct secret *const ext[KUBEADM_EXT_COUNT],
		    const char *const paths[KUBEADM_EXT_COUNT], unsigned flags, const char *tag)
{
	char detail[DETAIL_MAX] = "";
	for (int i = 0; i < KUBEADM_EXT_COUNT; i++) {
		if (!ext[i])
			continue;
		if (!paths[i]) {
			cli_error("the bundle carries the external etcd file %s; say where it goes "
				  "with %s PATH (nothing was written)",
				  kubeadm_external_keys[i], ext_flags[i]);
			return EXIT_USAGE;
		}
		int r = pkidir_install_file(paths[i], ext[i], ext_modes[i], flags, detail);
		if (r < 0) {
			/* The destination, then what was refused on the way (the file itself,
			 * or the directory it goes into), and "nothing was written" once. */
			const char *msg = error_message(r);
			bool other = detail[0] && strcmp(detail, paths[i]) != 0;
			cli_error("cannot install %s at %s%s%s%s: %s%s", kubeadm_external_keys[i],
				  paths[i], other ? " (refused: " : "", other ? detail : "",
				  other ? ")" : "", msg,
				  (flags & PKIDIR_DRY_RUN) && !strstr(msg, "nothing was written")
				      ? "; nothing was written"
				      : "");
			return cli_exit_for(r);
		}
		/* "Installed" only for a file that was written. */
		if (!(flags & PKIDIR_DRY_RUN))
			printf(r == 1 ? "[%s] Kept %s at %s: already identical\n"
				      : "[%s] Installed %s at %s\n",
			       tag, kubeadm_external_keys[i], paths[i]);
	}
	return EXIT_OK;
}

void etcdext_paths_pick(const char *const ext_given[EXT_ETCD_COUNT], const struct profile *prof,
			const char *ret[EXT_ETCD_COUNT], bool ret_from_profile[EXT_ETCD_COUNT])
{
	const char *from_profile[EXT_ETCD_COUNT] = {prof->external_ca, prof->external_cert,
						    prof->external_key};
	for (int i = 0; i < EXT_ETCD_COUNT; i++) {
		ret[i] = ext_given[i] ? ext_given[i] : from_profile[i][0] ? from_profile[i] : NULL;
		ret_from_profile[i] = !ext_given[i] && from_profile[i][0];
	}
}
