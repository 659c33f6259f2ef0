/* etcdext.h - the external etcd files a bundle may carry: taken out of the shared PKI,
 * their destinations checked before the fetch, installed outside the PKI directory. */
#pragma once

#include <stdbool.h>

#include "pkidir.h"
#include "profile.h"
#include "secret.h"

/* The external etcd files as getopt_long entries, their values base + EXT_ETCD_CA, ...:
 * on upload the files to carry, on join and decrypt where to install them. */
#define EXT_ETCD_LONG_OPTIONS(base)                                                                \
	{"external-etcd-ca", required_argument, NULL, (base) + EXT_ETCD_CA},                       \
	    {"external-etcd-cert", required_argument, NULL, (base) + EXT_ETCD_CERT},               \
	{                                                                                          \
		"external-etcd-key", required_argument, NULL, (base) + EXT_ETCD_KEY                \
	}

/* Move a bundle's external etcd entries out of set into ext[EXT_ETCD_COUNT] (NULL if
 * absent; the caller owns them then), the rest of set sorted again. Returns nothing. */
void etcdext_split(struct pki_set *set, struct secret *ext[EXT_ETCD_COUNT]);
/* Before anything is fetched or written: the external etcd destinations are three
 * different files, none inside pki_dir (which the install replaces). from_profile[i]
 * (NULL: none) says that paths[i] comes from the cluster profile, not a flag, for the
 * message. Without PKIDIR_FORCE in flags, an existing key file (paths[EXT_ETCD_KEY])
 * readable by group or others is refused too. An exit status (a refusal said). */
int etcdext_paths_check(const char *const paths[EXT_ETCD_COUNT],
			const bool from_profile[EXT_ETCD_COUNT], const char *pki_dir,
			unsigned flags);
/* Install each present ext[i] at paths[i] (--external-etcd-ca/-cert/-key) with its mode,
 * saying "[tag] Installed ..." or "Kept ..." for each; PKIDIR_DRY_RUN in flags only
 * checks. An entry without a destination, or one refused, is said. An exit status. */
int etcdext_install(struct secret *const ext[EXT_ETCD_COUNT],
		    const char *const paths[EXT_ETCD_COUNT], unsigned flags, const char *tag);
/* Where the external etcd files go: ext_given[i] (the flags), else the profile's path
 * (ret_from_profile[i] true then), else NULL. ret and ret_from_profile are always
 * written: it cannot fail. Returns nothing. */
void etcdext_paths_pick(const char *const ext_given[EXT_ETCD_COUNT], const struct profile *prof,
			const char *ret[EXT_ETCD_COUNT], bool ret_from_profile[EXT_ETCD_COUNT]);
