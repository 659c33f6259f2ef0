/* pkidir.h - the shared PKI file set, reading it from a directory, and installing a set
 * into a directory atomically (all files or none, never through a symlink). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

#define PKI_MAX_FILES 32
#define PKI_NAME_MAX 65
#define PKI_FILE_MAX_BYTES (256 * 1024)

/* One file: relative name, mode and contents (plaintext or ciphertext) in guarded memory. */
struct pki_entry {
	char name[PKI_NAME_MAX];
	unsigned mode;
	bool replace; /* replaced when different, without PKIDIR_FORCE (kept metadata) */
	struct secret *data;
};

struct pki_set {
	size_t n;
	struct pki_entry e[PKI_MAX_FILES];
};

/* The shared files (DESIGN.md): name, mode, and whether a cluster must have it. */
/* External etcd: kubeadm's three client files, which live outside the PKI directory. The
 * one owner of their names in the bundle and the kubeadm Secret (ext_etcd_names); the
 * client's flags for them are client/cli.h's EXT_ETCD_LONG_OPTIONS, indexed by this enum. */
#define EXT_ETCD_CA_NAME "external-etcd-ca.crt"
#define EXT_ETCD_CERT_NAME "external-etcd.crt"
#define EXT_ETCD_KEY_NAME "external-etcd.key"
enum ext_etcd {
	EXT_ETCD_CA,
	EXT_ETCD_CERT,
	EXT_ETCD_KEY,
	EXT_ETCD_COUNT,
};
extern const char *const ext_etcd_names[EXT_ETCD_COUNT];

struct pki_known {
	const char *name;
	unsigned mode;
	bool required;
	bool external; /* external etcd: lives outside the PKI directory */
};
extern const struct pki_known pki_shared_files[];
extern const size_t pki_shared_files_count;

/* The known entry for name, or NULL if name is not one of the shared files. */
const struct pki_known *pki_known_lookup(const char *name);

/* Free all entries' data and reset n to 0. Accepts an empty set. */
void pki_set_clear(struct pki_set *s);
/* Add an entry taking ownership of data (freed on failure too). Refuses duplicates
 * (-PKS_E_DUPLICATE), unsafe names (-PKS_E_NAME) and a full set (-E2BIG). */
int pki_set_add(struct pki_set *s, const char *name, unsigned mode, struct secret *data);
const struct pki_entry *pki_set_find(const struct pki_set *s, const char *name);
/* Sort entries by name (bytewise), the order the sealing binds. */
void pki_set_sort(struct pki_set *s);
/* For _cleanup_(pki_set_clearp): a set that clears itself at scope exit. */
static inline void pki_set_clearp(struct pki_set *s)
{
	pki_set_clear(s);
}
/* For _cleanup_(ext_etcd_freep): an array of the external etcd files, each freed. */
static inline void ext_etcd_freep(struct secret *(*ext)[EXT_ETCD_COUNT])
{
	for (int i = 0; i < EXT_ETCD_COUNT; i++)
		(*ext)[i] = secret_free((*ext)[i]);
}

/* Split path into its parent directory and its last name, as POSIX dirname() and
 * basename() do: trailing slashes are ignored, "pki" is in ".", "/pki" in "/", and "/" is
 * its own parent and name. ret_dir and ret_base are PATH_MAX bytes. -EINVAL for an empty
 * or NULL path, -ENAMETOOLONG for one of PATH_MAX bytes or more; nothing written then. */
int pkidir_path_split(const char *path, char *ret_dir, char *ret_base);

/* Read the shared files present in dir into ret (sorted). A missing required file is
 * -PKS_E_MISSING with its name in detail; a missing optional file is skipped and its name
 * appended to missing (a comma-separated list, DETAIL_MAX bytes, may be NULL). */
int pkidir_read(const char *dir, struct pki_set *ret, char *missing, char *detail);

/* A small file pkishare keeps in a PKI directory (pkishare-profile.json,
 * pkishare-joined.json), read into guarded memory only if it is trustworthy: a regular
 * file, not a symlink (-PKS_E_SYMLINK), owned by root or this user and writable by nobody
 * else (-PKS_E_FOREIGN), at most max bytes; -PKS_E_SPECIAL for another kind of file,
 * -ENOENT when there is none. */
int pkidir_read_kept(const char *dir, const char *name, size_t max, struct secret **ret);

enum {
	PKIDIR_FORCE = 1 << 0,	 /* replace existing files whose contents differ */
	PKIDIR_DRY_RUN = 1 << 1, /* run every check, write nothing */
};

/* Result of an install, for the caller to report. */
struct pkidir_report {
	size_t written;	  /* files new or replaced */
	size_t unchanged; /* files already present with identical contents and mode */
	size_t kept;	  /* other files already in the target, carried over untouched */
};

/* Install set into target: refuse if target or anything inside it is a symlink or a FIFO,
 * socket or device (-PKS_E_SPECIAL), if target is a mount point (-PKS_E_MOUNT), if a
 * file exists with different contents (unless PKIDIR_FORCE), or if a shared key file
 * (ca.key, sa.key, ...; known by name, so an empty set checks them too) or a file the set
 * writes a private key over is readable by group or others (-PKS_E_KEY_MODE, unless
 * PKIDIR_FORCE: the set's copy replaces it, 0600). Builds the complete new
 * directory beside target (0700 until it is swapped in), fsyncs it, and swaps it in with
 * one rename, so target holds either its old contents or the new ones, never a mix. Modes
 * come from the entries, directories are 0755. detail names the offending file on
 * failure. */
int pkidir_install(const char *target, const struct pki_set *set, unsigned flags,
		   struct pkidir_report *report, char *detail);

/* Remove the temporary trees an interrupted pkidir_install of target left beside it:
 * directories named exactly ".BASE.pkishare-XXXXXX" in target's parent and owned by this
 * user, nothing else (in a dry run only count them). Returns how many, with the last one's
 * path in ret_last (DETAIL_MAX bytes, may be NULL). */
int pkidir_remove_stale(const char *target, bool dry_run, char *ret_last);

/* Does data hold a PEM private key ("-----BEGIN ... PRIVATE KEY-----", any kind)? Such a
 * file is never written readable by group or others, whatever mode its entry has (a
 * combined certificate and key PEM as an external etcd certFile). */
bool pkidir_holds_private_key(const struct secret *data);

/* Do a and b name the same file? Each is made absolute (from the working directory), its
 * longest existing directory resolved (realpath) and the rest taken as written, without
 * "." and empty components; two existing files are also the same by device and inode.
 * So two spellings of one destination compare equal whether or not it exists yet. */
bool pkidir_path_same(const char *a, const char *b);

/* Is path, which will hold a private key, a file already there that group or others may
 * read? The install would refuse it (-PKS_E_KEY_MODE) unless PKIDIR_FORCE, which writes the
 * new key 0600 over it; checked before the fetch, when the key is not known yet. 0 (also
 * when it is absent, not a regular file, or another user's or writable by others: the
 * install's own checks refuse those and say why), or
 * -PKS_E_KEY_MODE with path in detail. */
int pkidir_key_file_check(const char *path, char *detail);

/* Install one file at an absolute path outside a PKI directory (external etcd files):
 * refuse a symlink, refuse an existing file or directory it goes into that is owned by
 * another user or writable by group or others (-PKS_E_FOREIGN, even when its contents
 * are the same: the rule of pkidir_install), refuse different existing contents without
 * PKIDIR_FORCE, refuse an existing file readable by group or others where a private key
 * goes (-PKS_E_KEY_MODE, same contents or not) without PKIDIR_FORCE, write a temporary
 * file beside it, fsync, rename over. Returns 1 if the
 * file was already identical (and kept), 0 if written (or, in a dry run, to be
 * written). */
int pkidir_install_file(const char *path, const struct secret *data, unsigned mode, unsigned flags,
			char *detail);

/* The one rule for "may this user write here", for the install, its dry run and join's
 * checks before the fetch: the access check of the effective uid and gids (faccessat with
 * AT_EACCESS), never the real ones. pkishare is not setuid, and sudo or su set both ids
 * alike; where they differ (a caller that changed only its effective uid), the files
 * are created and owned by the effective uid, and the kernel checks every write the
 * install does against it, so that is the one to ask about. mode: W_OK | X_OK to make
 * entries in a directory, with R_OK to carry its files over as well. 0 or -errno
 * (-EACCES, -EROFS, -ENOENT, ...). */
int pkidir_access(const char *path, int mode);

/* Could an entry be made in dir (dir and the directories missing above it made as
 * needed)? The nearest existing path at or above dir (ending at "/", or "." for a relative
 * dir) must be a directory this user may write and search (pkidir_access). Returns 0; or
 * <0 with that path in where (PATH_MAX) and *denied saying whether the access check
 * refused (its -errno) or not: -PKS_E_NOT_DIR (not a directory), or the -errno of
 * stat(2) (-ENOTDIR for a file on the way, -EACCES for a directory that cannot be
 * searched). */
int pkidir_creatable(const char *dir, char *where, bool *denied);

/* Is the way to path (each directory above it, and path itself if it is a symlink) safe
 * from other users: no component a symlink owned by someone other than this user or
 * root, no directory owned by another user, none writable by others without the sticky
 * bit? Otherwise another user could choose where the install writes (or swap a directory
 * between the check and the write). Walked from "/" through directory descriptors (a
 * relative path from the real working directory, itself checked), as pkidir_install and
 * pkidir_install_file walk it again when they write. Components that do not exist yet end
 * the walk. 0, or -PKS_E_UNSAFE_PATH with the component and why in detail (DETAIL_MAX). */
int pkidir_path_safe(const char *path, char *detail);

/* The directory target names, its own symlinks followed (a data disk mounted elsewhere:
 * /etc/kubernetes/pki -> /data/pki), into ret (PATH_MAX bytes): a symlink is followed only
 * if root or this user owns it, else -PKS_E_UNSAFE_PATH with who owns it in detail
 * (DETAIL_MAX); a relative link from its own directory. The links above target are the
 * walk's (pkidir_path_safe); what the result names is checked as any target is. Returns 1
 * if a link was followed, 0 if target is not a symlink (or does not exist: ret is target),
 * <0 (-ELOOP, -ENAMETOOLONG, -errno) with detail; ret untouched on failure. */
int pkidir_target_resolve(const char *target, char *ret, char *detail);

/* What an install writes, for pkidir_space_check: at most files files holding at most bytes
 * bytes in all (a file of b bytes takes ceil(b / block) blocks of the target's file system,
 * so a group's worst case is files - 1 one-byte files and the rest in one). */
struct pkidir_space_group {
	uint64_t bytes;
	size_t files;
};

/* Is there room to install the groups (n of them) into target? The new tree is built beside
 * target (its own symlinks followed, pkidir_target_resolve) before the swap, with the files
 * it keeps linked, not copied, so what it writes is counted once, whatever target holds
 * now; the file system is that of the nearest existing directory at or above target's
 * parent. Each file is rounded up to that file system's block (f_frsize, else f_bsize), and
 * a block and an inode are counted for each directory made: the new tree, its etcd/ and
 * every missing one above it. Root counts the blocks reserved for it. 0 if there is room;
 * -ENOSPC if not, with ret_need and ret_free (bytes) and ret_where (PATH_MAX: the directory
 * measured) filled; -errno if statvfs fails. */
int pkidir_space_check(const char *target, const struct pkidir_space_group *groups, size_t n,
		       uint64_t *ret_need, uint64_t *ret_free, char *ret_where);
