/* pkidir.c - reading and atomically installing PKI directories.
 *
 * Must never follow a symlink inside or at the target, never leave a half-written target,
 * and never print file contents. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "error.h"
#include "pkidir.h"
#include "util.h"

const char *const ext_etcd_names[EXT_ETCD_COUNT] = {
    [EXT_ETCD_CA] = EXT_ETCD_CA_NAME,
    [EXT_ETCD_CERT] = EXT_ETCD_CERT_NAME,
    [EXT_ETCD_KEY] = EXT_ETCD_KEY_NAME,
};

const struct pki_known pki_shared_files[] = {
    {"ca.crt", 0644, true, false},
    {"ca.key", 0600, true, false},
    {"sa.key", 0600, true, false},
    {"sa.pub", 0644, true, false},
    {"front-proxy-ca.crt", 0644, true, false},
    {"front-proxy-ca.key", 0600, true, false},
    /* Absent when the cluster uses an external etcd. */
    {"etcd/ca.crt", 0644, false, false},
    {"etcd/ca.key", 0600, false, false},
    /* With an external etcd: its CA and the API server's client pair, under kubeadm's
     * Secret key names; installed where the joining node says. */
    {EXT_ETCD_CA_NAME, 0644, false, true},
    {EXT_ETCD_CERT_NAME, 0644, false, true},
    {EXT_ETCD_KEY_NAME, 0600, false, true},
};
const size_t pki_shared_files_count = ELEMENTSOF(pki_shared_files);

#define INSTALL_MAX_DEPTH 3
#define INSTALL_MAX_EXISTING 1024

const struct pki_known *pki_known_lookup(const char *name)
{
	for (size_t i = 0; i < pki_shared_files_count; i++)
		if (strcmp(pki_shared_files[i].name, name) == 0)
			return &pki_shared_files[i];
	return NULL;
}

static void set_detail(char *detail, const char *what)
{
	if (detail)
		str_copy(detail, DETAIL_MAX, what);
}

void pki_set_clear(struct pki_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->e[i].data = secret_free(s->e[i].data);
	s->n = 0;
}

int pki_set_add(struct pki_set *s, const char *name, unsigned mode, struct secret *data)
{
	if (!name_is_safe(name)) {
		secret_free(data);
		return -PKS_E_NAME;
	}
	if (pki_set_find(s, name)) {
		secret_free(data);
		return -PKS_E_DUPLICATE;
	}
	if (s->n >= PKI_MAX_FILES) {
		secret_free(data);
		return -E2BIG;
	}
	struct pki_entry *e = &s->e[s->n++];
	str_copy(e->name, sizeof(e->name), name);
	e->mode = mode;
	e->replace = false;
	e->data = data;
	return 0;
}

const struct pki_entry *pki_set_find(const struct pki_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return &s->e[i];
	return NULL;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pki_entry *)a)->name, ((const struct pki_entry *)b)->name);
}

void pki_set_sort(struct pki_set *s)
{
	qsort(s->e, s->n, sizeof(s->e[0]), entry_cmp);
}

int pkidir_path_split(const char *path, char *ret_dir, char *ret_base)
{
	char parent[PATH_MAX], base[PATH_MAX];
	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	/* dirname() and basename() (libgen.h, POSIX) may write into their argument. */
	str_copy(parent, sizeof(parent), path);
	str_copy(base, sizeof(base), path);
	str_copy(ret_dir, PATH_MAX, dirname(parent));
	str_copy(ret_base, PATH_MAX, basename(base));
	return 0;
}

int pkidir_read(const char *dir, struct pki_set *ret, char *missing, char *detail)
{
	struct pki_set set = {0};
	char path[PATH_MAX];
	struct stat st;

	if (missing)
		missing[0] = 0;
	if (lstat(dir, &st) < 0) {
		set_detail(detail, dir);
		return -errno;
	}
	if (S_ISLNK(st.st_mode)) {
		set_detail(detail, dir);
		return -PKS_E_SYMLINK;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_detail(detail, dir);
		return -PKS_E_NOT_DIR;
	}
	for (size_t i = 0; i < pki_shared_files_count; i++) {
		const struct pki_known *k = &pki_shared_files[i];
		struct secret *data = NULL;

		if (k->external)
			continue; /* not in the PKI directory; the caller adds them */

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, k->name) >= sizeof(path)) {
			pki_set_clear(&set);
			set_detail(detail, dir);
			return -ENAMETOOLONG;
		}
		int r = secret_read_file(path, PKI_FILE_MAX_BYTES, &data);
		if (r == -ENOENT && !k->required) {
			if (missing) {
				if (missing[0])
					strncat(missing, ", ", DETAIL_MAX - strlen(missing) - 1);
				strncat(missing, k->name, DETAIL_MAX - strlen(missing) - 1);
			}
			continue;
		}
		if (r < 0) {
			pki_set_clear(&set);
			set_detail(detail, path);
			return r == -ENOENT ? -PKS_E_MISSING : r;
		}
		r = pki_set_add(&set, k->name, k->mode, data);
		if (r < 0) {
			pki_set_clear(&set);
			set_detail(detail, k->name);
			return r;
		}
	}
	pki_set_sort(&set);
	*ret = set;
	return 0;
}

#define WALK_MAX_LINKS 40

/* "uid N, NAME" (or "uid N") of uid into buf, for messages about who owns something. */
static void uid_describe(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char pwbuf[1024];
	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found)
		str_format(buf, len, "uid %u, %s", (unsigned)uid, found->pw_name);
	else
		str_format(buf, len, "uid %u", (unsigned)uid);
}

/* A symbolic link st (shown as what) that another user owns, who could point it
 * anywhere: -PKS_E_UNSAFE_PATH with why and what to do in detail; 0 for one of this
 * user's or root's. */
static int link_unsafe(const struct stat *st, const char *what, char *detail)
{
	if (st->st_uid == geteuid() || st->st_uid == 0)
		return 0;
	char who[128];
	uid_describe(st->st_uid, who, sizeof(who));
	if (detail)
		str_format(detail, DETAIL_MAX,
			   "%s is a symlink owned by another user (%s), who could point it "
			   "anywhere; make root its owner (chown -h root) or name the directory "
			   "it points to",
			   what, who);
	return -PKS_E_UNSAFE_PATH;
}

/* Could another user change what is under the directory st (shown as what)? Owned by
 * someone other than this user or root, or writable by every user without the sticky bit:
 * -PKS_E_UNSAFE_PATH with why in detail. */
static int dir_unsafe(const struct stat *st, const char *what, char *detail)
{
	if (st->st_uid != geteuid() && st->st_uid != 0) {
		char who[128];
		uid_describe(st->st_uid, who, sizeof(who));
		if (detail)
			str_format(detail, DETAIL_MAX,
				   "the directory %s is owned by another user (%s), who could "
				   "replace what is under it",
				   what, who);
		return -PKS_E_UNSAFE_PATH;
	}
	if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX)) {
		if (detail)
			str_format(detail, DETAIL_MAX,
				   "the directory %s is writable by every user (and not sticky)",
				   what);
		return -PKS_E_UNSAFE_PATH;
	}
	return 0;
}

/* *fd becomes a new descriptor of "/", checked. */
static int walk_root(int *fd, char *shown, char *detail)
{
	struct stat st;
	int nfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	int r = fstat(nfd, &st) < 0 ? -errno : dir_unsafe(&st, "/", detail);
	if (r < 0) {
		close(nfd);
		return r;
	}
	if (*fd >= 0)
		close(*fd);
	*fd = nfd;
	shown[0] = 0;
	return 0;
}

/* The directories a walk made, each as its parent's descriptor and its name, in the order
 * made, so that an install that fails can remove them again (walk_made_undo); past
 * WALK_MADE_MAX levels the deeper ones are not recorded (and stay). */
#define WALK_MADE_MAX 16
struct walk_made {
	int fd[WALK_MADE_MAX];
	char name[WALK_MADE_MAX][NAME_MAX + 1];
	size_t n;
};

/* Forget the directories made: the install that made them went through. */
static void walk_made_keep(struct walk_made *m)
{
	while (m->n > 0)
		close(m->fd[--m->n]);
}

/* Remove the directories made, deepest first, each only if it is empty (rmdir): what a
 * failed install made and left empty, never anything that holds a file. */
static void walk_made_undo(struct walk_made *m)
{
	while (m->n > 0) {
		m->n--;
		(void)unlinkat(m->fd[m->n], m->name[m->n], AT_REMOVEDIR);
		close(m->fd[m->n]);
	}
}

/* Record name, just made in the directory fd. */
static void walk_made_add(struct walk_made *m, int fd, const char *name)
{
	if (m->n >= WALK_MADE_MAX)
		return;
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return;
	m->fd[m->n] = dfd;
	str_copy(m->name[m->n], sizeof(m->name[m->n]), name);
	m->n++;
}

/* Walk path from the directory *fd (from "/" if path is absolute, or a symlink's text
 * is) one component at a time: each directory is opened with O_NOFOLLOW and checked
 * (dir_unsafe) on its descriptor (O_PATH), so what is checked is what the install then uses; a
 * symlink is followed only if this user or root owns it. A missing component is made
 * (mkdirat, 0755 less the umask) and recorded in made when made is not NULL, else -ENOENT.
 * shown (PATH_MAX) is the way walked so far, for messages. *fd is the last directory
 * reached, also on failure. */
static int walk_at(int *fd, char *shown, const char *path, struct walk_made *made, int *links,
		   char *detail)
{
	char todo[PATH_MAX];
	if (str_format(todo, sizeof(todo), "%s", path))
		return -ENAMETOOLONG;
	int r = todo[0] == '/' ? walk_root(fd, shown, detail) : 0;
	for (char *p = todo; r >= 0 && *p;) {
		char name[NAME_MAX + 1];
		struct stat st;
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, n);
		name[n] = 0;
		p += n;
		if (!strcmp(name, "."))
			continue;
		size_t sl = strlen(shown);
		if (str_format(shown + sl, PATH_MAX - sl, "/%s", name))
			return -ENAMETOOLONG;
		if (fstatat(*fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT || !made) {
				r = -errno;
				set_detail(detail, shown);
				return r;
			}
			if (mkdirat(*fd, name, 0755) == 0)
				walk_made_add(made, *fd, name);
			else if (errno != EEXIST) {
				r = -errno;
				set_detail(detail, shown);
				return r;
			}
			if (fstatat(*fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				r = -errno;
				set_detail(detail, shown);
				return r;
			}
		}
		if (S_ISLNK(st.st_mode)) {
			char link[PATH_MAX], next[PATH_MAX];
			r = link_unsafe(&st, shown, detail);
			if (r < 0)
				return r;
			if (++*links > WALK_MAX_LINKS)
				return -ELOOP;
			ssize_t len = readlinkat(*fd, name, link, sizeof(link) - 1);
			if (len < 0)
				return -errno;
			link[len] = 0;
			if (str_format(next, sizeof(next), "%s/%s", link, p))
				return -ENAMETOOLONG;
			/* The link's own directory is where a relative target starts. */
			shown[sl] = 0;
			return walk_at(fd, shown, next, made, links, detail);
		}
		if (!S_ISDIR(st.st_mode)) {
			set_detail(detail, shown);
			return -PKS_E_NOT_DIR;
		}
		/* O_PATH: a directory this user may only search (0711) is walked too. */
		int nfd = openat(*fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = errno == ELOOP ? -PKS_E_UNSAFE_PATH : -errno; /* swapped for a link */
			set_detail(detail, shown);
			return r;
		}
		r = fstat(nfd, &st) < 0 ? -errno : dir_unsafe(&st, shown, detail);
		close(*fd);
		*fd = nfd;
	}
	return r;
}

/* The directory dir opened by walk_at from "/"; a relative dir from the real working
 * directory, itself walked from "/" (its path as getcwd says) and then compared with ".".
 * Missing directories are made and recorded in made, unless it is NULL. Returns the
 * descriptor, or <0 with detail (-ENOENT: a missing component, without made). */
static int walk_open(const char *dir, struct walk_made *made, char *detail)
{
	char shown[PATH_MAX] = "", cwd[PATH_MAX];
	int fd = -1, links = 0;
	int r = walk_root(&fd, shown, detail);
	if (r >= 0 && dir[0] != '/') {
		struct stat a, b;
		if (!getcwd(cwd, sizeof(cwd)))
			r = -errno;
		if (r >= 0)
			r = walk_at(&fd, shown, cwd, NULL, &links, detail);
		if (r >= 0 && (fstat(fd, &a) < 0 || stat(".", &b) < 0 || a.st_dev != b.st_dev ||
			       a.st_ino != b.st_ino)) {
			if (detail)
				str_format(detail, DETAIL_MAX,
					   "the working directory is no longer %s", cwd);
			r = -PKS_E_UNSAFE_PATH;
		}
	}
	if (r >= 0)
		r = walk_at(&fd, shown, dir, made, &links, detail);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* Remove a tree we created ourselves (a temporary directory), never following links. */
static void remove_tree_at(int dfd, const char *name, int depth)
{
	if (depth > INSTALL_MAX_DEPTH + 1)
		return;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				if (de->d_type == DT_DIR)
					remove_tree_at(dirfd(d), de->d_name, depth + 1);
				else
					unlinkat(dirfd(d), de->d_name, 0);
			}
			closedir(d);
		} else {
			close(fd);
		}
		unlinkat(dfd, name, AT_REMOVEDIR);
	} else {
		unlinkat(dfd, name, 0);
	}
}

bool pkidir_holds_private_key(const struct secret *data)
{
	static const char begin[] = "-----BEGIN ", tail[] = "PRIVATE KEY-----";
	const char *p = (const char *)data->data, *end = p + data->len;
	while (p && (size_t)(end - p) >= sizeof(begin) - 1) {
		const char *b = memmem(p, (size_t)(end - p), begin, sizeof(begin) - 1);
		if (!b)
			return false;
		const char *eol = memchr(b, '\n', (size_t)(end - b));
		const char *lend = eol ? eol : end;
		if (memmem(b, (size_t)(lend - b), tail, sizeof(tail) - 1))
			return true;
		p = eol;
	}
	return false;
}

/* The mode a file is written with: its entry's, never readable by others if it holds a
 * private key. */
static unsigned safe_mode(const struct secret *data, unsigned mode)
{
	return pkidir_holds_private_key(data) ? mode & ~077u : mode;
}

/* path made absolute, its longest existing directory resolved and the rest appended
 * without "." and empty components, into ret (PATH_MAX). false if it does not fit. */
static bool path_canonical(const char *path, char *ret)
{
	char abs[PATH_MAX], cwd[PATH_MAX], real[PATH_MAX];
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) || str_format(abs, sizeof(abs), "%s/%s", cwd, path))
			return false;
	} else if (str_format(abs, sizeof(abs), "%s", path)) {
		return false;
	}
	/* The longest prefix that resolves, ending at a '/'. */
	size_t cut = strlen(abs);
	for (;;) {
		char pre[PATH_MAX];
		memcpy(pre, abs, cut);
		pre[cut] = 0;
		if (cut == 0)
			str_copy(pre, sizeof(pre), "/");
		if (realpath(pre, real))
			break;
		while (cut > 0 && abs[cut - 1] != '/')
			cut--;
		while (cut > 0 && abs[cut - 1] == '/')
			cut--;
	}
	if (!strcmp(real, "/"))
		real[0] = 0;
	ret[0] = 0;
	if (str_format(ret, PATH_MAX, "%s", real))
		return false;
	char rest[PATH_MAX], *save = NULL;
	str_copy(rest, sizeof(rest), abs + cut);
	for (char *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		size_t n = strlen(ret);
		if (str_format(ret + n, PATH_MAX - n, "/%s", c))
			return false;
	}
	if (!ret[0])
		str_copy(ret, PATH_MAX, "/");
	return true;
}

bool pkidir_path_same(const char *a, const char *b)
{
	char ca[PATH_MAX], cb[PATH_MAX];
	struct stat sa, sb;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino)
		return true;
	return path_canonical(a, ca) && path_canonical(b, cb) && !strcmp(ca, cb);
}

/* Compare an existing file (no symlinks) with data and mode. 1 same, 0 differs,
 * -ENOENT absent, other negatives errors. */
static int compare_existing(int dirfd, const char *name, const struct pki_entry *e)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -PKS_E_SYMLINK;
	if (!S_ISREG(st.st_mode))
		return 0;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct secret *cur = NULL;
	int r = secret_read_fd(fd, PKI_FILE_MAX_BYTES, &cur);
	close(fd);
	if (r == -PKS_E_TOO_BIG)
		return 0;
	if (r < 0)
		return r;
	bool same = cur->len == e->data->len && secret_equal(cur->data, e->data->data, cur->len) &&
		    (st.st_mode & 07777) == safe_mode(e->data, e->mode);
	secret_free(cur);
	return same ? 1 : 0;
}

typedef int (*entry_fn)(int dfd, const char *name, const char *rel, void *arg);

/* fn for every entry of the directory dfd but "." and "..", with rel = prefix + name, until
 * fn returns a negative value, which is then returned. */
static int for_each_entry(int dfd, const char *prefix, entry_fn fn, void *arg)
{
	int fd = dup(dfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	int r = 0;
	while (r >= 0 && (de = readdir(d))) {
		char rel[PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (str_format(rel, sizeof(rel), "%s%s", prefix, de->d_name)) {
			r = -ENAMETOOLONG;
			break;
		}
		r = fn(dfd, de->d_name, rel, arg);
	}
	closedir(d);
	return r;
}

/* Open the subdirectory name of dfd and run fn over it with prefix "rel/". */
static int for_each_entry_below(int dfd, const char *name, const char *rel, entry_fn fn, void *arg)
{
	char sub[PATH_MAX + 1];
	int sn = snprintf(sub, sizeof(sub), "%s/", rel);
	if (sn < 0 || (size_t)sn >= sizeof(sub))
		return -ENAMETOOLONG;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = for_each_entry(fd, sub, fn, arg);
	close(fd);
	return r;
}

/* Hard-link the existing tree at src into dst, refusing symlinks and special files. Files
 * are linked, not copied: the old directory stays intact until the swap. */
struct carry {
	int dst;
	int depth;
	size_t *count;
	char *detail;
};

static int carry_entry(int src, const char *name, const char *rel, void *arg)
{
	const struct carry *c = arg;
	struct stat st;
	int r = 0;

	if (*c->count > INSTALL_MAX_EXISTING)
		return -E2BIG;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
	} else if (S_ISLNK(st.st_mode)) {
		r = -PKS_E_SYMLINK;
	} else if (S_ISDIR(st.st_mode)) {
		if (c->depth >= INSTALL_MAX_DEPTH)
			return -ELOOP;
		/* The same mode as before, whatever the umask: never widened. */
		if (mkdirat(c->dst, name, 0700) < 0 ||
		    fchmodat(c->dst, name, st.st_mode & 07777, 0) < 0)
			return -errno;
		struct carry below = {
		    .depth = c->depth + 1, .count = c->count, .detail = c->detail};
		below.dst = openat(c->dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (below.dst < 0)
			return -errno;
		r = for_each_entry_below(src, name, rel, carry_entry, &below);
		close(below.dst);
		return r; /* a failure below named itself */
	} else if (S_ISREG(st.st_mode)) {
		if (linkat(src, name, c->dst, name, 0) < 0)
			r = -errno;
		++*c->count;
	} else {
		r = -EINVAL;
	}
	if (r < 0)
		set_detail(c->detail, rel);
	return r;
}

static int carry_over(int src, int dst, size_t *count, char *detail)
{
	struct carry c = {.dst = dst, .count = count, .detail = detail};
	return for_each_entry(src, "", carry_entry, &c);
}

/* Could someone else have planted this (not ours, or writable by group or others)? */
static bool foreign(const struct stat *st)
{
	return st->st_uid != geteuid() || (st->st_mode & 022);
}

/* An existing file that holds (or will hold) a private key and is readable by group or
 * others: the install would keep it so (same contents) or refuse it only as different. */
static bool key_readable(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_mode & 077);
}

/* Is rel one of the shared files that hold a private key (ca.key, sa.key, ...)? Known by
 * name, so that the plan can check them before the bundle is fetched. */
static bool shared_key_name(const char *rel)
{
	const struct pki_known *k = pki_known_lookup(rel);
	return k && !k->external && !(k->mode & 077);
}

/* Refuse a tree that someone else could have planted files in: every directory and file
 * at or under the target must belong to us and be writable by nobody else, and none may be
 * a symlink; and a shared key file there must be readable by nobody else (unless
 * PKIDIR_FORCE, which replaces it with a 0600 file when the set carries it). Runs before
 * anything is written (and in a dry run, and with an empty set before the fetch), so all
 * find the same problems. */
struct owned {
	int depth;
	bool force;
	char *detail;
};

static int owned_entry(int dfd, const char *name, const char *rel, void *arg)
{
	const struct owned *o = arg;
	struct stat st;
	int r = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	else if (S_ISLNK(st.st_mode))
		r = -PKS_E_SYMLINK;
	else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		r = -PKS_E_SPECIAL; /* could not be carried over by a hard link: say so now */
	else if (foreign(&st))
		r = -PKS_E_FOREIGN;
	else if (!o->force && key_readable(&st) && shared_key_name(rel))
		r = -PKS_E_KEY_MODE;
	else if (S_ISDIR(st.st_mode) && o->depth >= INSTALL_MAX_DEPTH)
		r = -ELOOP;
	if (r < 0) {
		set_detail(o->detail, rel);
		return r;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	struct owned below = {.depth = o->depth + 1, .force = o->force, .detail = o->detail};
	return for_each_entry_below(dfd, name, rel, owned_entry, &below);
}

static int check_owned(int tfd, unsigned flags, char *detail)
{
	struct stat st;
	if (fstat(tfd, &st) < 0)
		return -errno;
	if (foreign(&st)) {
		set_detail(detail, "the target directory");
		return -PKS_E_FOREIGN;
	}
	struct owned o = {.depth = 0, .force = (flags & PKIDIR_FORCE) != 0, .detail = detail};
	return for_each_entry(tfd, "", owned_entry, &o);
}

/* The swap renames the new tree over the target: a mount point cannot be replaced (EBUSY),
 * and a file system mounted there is not the parent's (EXDEV). Another device than the
 * parent's, or the root of a (bind) mount where statx tells. */
static int check_not_mount(int pfd, const char *name, const struct stat *st)
{
	struct stat pst;
	if (fstat(pfd, &pst) < 0)
		return -errno;
	if (pst.st_dev != st->st_dev)
		return -PKS_E_MOUNT;
#ifdef STATX_ATTR_MOUNT_ROOT
	struct statx sx;
	if (statx(pfd, name, AT_SYMLINK_NOFOLLOW, 0, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return -PKS_E_MOUNT;
#endif
	return 0;
}

static const char STALE_INFIX[] = ".pkishare-";
#define STALE_SUFFIX_LEN 6 /* mkdtemp's XXXXXX */

/* Is name ".BASE.pkishare-XXXXXX", a temporary tree pkidir_install makes for target BASE? */
static bool is_stale_name(const char *name, const char *bname)
{
	size_t nb = strlen(bname), ni = sizeof(STALE_INFIX) - 1;
	if (strlen(name) != 1 + nb + ni + STALE_SUFFIX_LEN || name[0] != '.' ||
	    strncmp(name + 1, bname, nb) != 0 || strncmp(name + 1 + nb, STALE_INFIX, ni) != 0)
		return false;
	for (const char *c = name + 1 + nb + ni; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			return false;
	return true;
}

int pkidir_remove_stale(const char *target, bool dry_run, char *ret_last)
{
	char pdir[PATH_MAX], bname[PATH_MAX], real[PATH_MAX];
	if (!target || !*target || strlen(target) >= PATH_MAX - 64)
		return -EINVAL;
	/* The temporary trees are beside the directory the link names (install_locate). */
	int r = pkidir_target_resolve(target, real, NULL);
	if (r < 0)
		return 0; /* the install refuses the link, and says why */
	r = pkidir_path_split(real, pdir, bname);
	if (r < 0)
		return r;
	int pfd = open(pdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(pfd);
	if (!d) {
		close(pfd);
		return -errno;
	}
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (!is_stale_name(de->d_name, bname) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			continue;
		if (!dry_run)
			remove_tree_at(dirfd(d), de->d_name, 0);
		if (ret_last)
			str_format(ret_last, DETAIL_MAX, "%s/%s", pdir, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* Write data into the new file fd with its mode, on disk, and close fd. */
static int write_fd(int fd, const struct secret *data, unsigned mode)
{
	size_t off = 0;
	int r = 0;
	while (r == 0 && off < data->len) {
		ssize_t w = write(fd, data->data + off, data->len - off);
		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int write_entry(int root, const struct pki_entry *e)
{
	char dir[PKI_NAME_MAX];
	const char *base = e->name;
	_cleanup_(closep) int sub = -1;

	const char *slash = strchr(e->name, '/');
	if (slash) {
		size_t n = (size_t)(slash - e->name);
		memcpy(dir, e->name, n);
		dir[n] = 0;
		if (mkdirat(root, dir, 0755) < 0) {
			if (errno != EEXIST)
				return -errno;
		} else if (fchmodat(root, dir, 0755, 0) < 0) { /* whatever the umask */
			return -errno;
		}
		sub = openat(root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return errno == ELOOP || errno == ENOTDIR ? -PKS_E_SYMLINK : -errno;
		base = slash + 1;
	}
	int dfd = sub >= 0 ? sub : root;
	/* Drop the carried-over hard link first: we never write through it into the old tree. */
	if (unlinkat(dfd, base, 0) < 0 && errno != ENOENT)
		return -errno;
	int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = write_fd(fd, e->data, safe_mode(e->data, e->mode));
	if (r == 0 && sub >= 0 && fsync(sub) < 0)
		r = -errno;
	return r;
}

/* A new entry named prefix + 6 random characters in dfd: a directory (0700) when dir, else a
 * file (0600, opened for writing: its descriptor is returned). The name in ret_name
 * (NAME_MAX + 1). Returns 0 (a directory) or the file's descriptor, or <0. */
static int tmp_at(int dfd, const char *prefix, bool dir, char *ret_name)
{
	static const char chars[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t n = strlen(prefix);
	if (n + STALE_SUFFIX_LEN > NAME_MAX)
		return -ENAMETOOLONG;
	for (int tries = 0; tries < 100; tries++) {
		uint8_t rnd[STALE_SUFFIX_LEN];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -EIO;
		memcpy(ret_name, prefix, n);
		for (size_t i = 0; i < STALE_SUFFIX_LEN; i++)
			ret_name[n + i] = chars[rnd[i] % (sizeof(chars) - 1)];
		ret_name[n + STALE_SUFFIX_LEN] = 0;
		int r = dir ? mkdirat(dfd, ret_name, 0700)
			    : openat(dfd, ret_name,
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (r >= 0)
			return r;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* An install as its plan found the target: where it is (its parent, opened by walk_open:
 * every step of the way checked on the descriptor the install then uses), whether it
 * exists (and its mode, kept at the swap), and what the install will do. */
struct install {
	const char *target;
	char real[PATH_MAX]; /* target, its own symlinks followed (pkidir_target_resolve) */
	char pdir[PATH_MAX], bname[PATH_MAX];
	int pfd; /* the parent; -1 in a dry run whose parent does not exist yet */
	bool exists;
	mode_t mode;
	size_t existed; /* entries of the set already in the target */
	struct pkidir_report rep;
	struct walk_made made; /* directories made on the way to the parent */
	bool done;	       /* installed: keep them; else they are removed if empty */
};

/* Where the target is and what it is: a directory (not a symlink, not a mount point) or
 * nothing yet; and every name of the set safe. The way to its parent is walked again here,
 * at install time, through descriptors (made where missing, unless a dry run): the plan's
 * check is only a snapshot. */
static int install_locate(struct install *in, const struct pki_set *set, unsigned flags,
			  char *detail)
{
	struct stat st;
	if (!in->target || !*in->target || strlen(in->target) >= PATH_MAX - 64)
		return -EINVAL;
	/* A symlink of root's or ours (a data disk) is followed: the new tree is built beside
	 * the directory it names and swapped in there, so the link stays. */
	int r = pkidir_target_resolve(in->target, in->real, detail);
	if (r < 0)
		return r;
	if (strlen(in->real) >= PATH_MAX - 64)
		return -ENAMETOOLONG;
	in->target = in->real;
	r = pkidir_path_split(in->target, in->pdir, in->bname);
	if (r < 0)
		return r;
	if (!strcmp(in->bname, "/") || !strcmp(in->bname, ".") || !strcmp(in->bname, ".."))
		return -EINVAL;
	for (size_t i = 0; i < set->n; i++)
		if (!name_is_safe(set->e[i].name)) {
			set_detail(detail, set->e[i].name);
			return -PKS_E_NAME;
		}
	bool dry = flags & PKIDIR_DRY_RUN;
	r = walk_open(in->pdir, dry ? NULL : &in->made, detail);
	if (r == -ENOENT && dry)
		return 0; /* nothing there yet: the real run makes it, checked as it goes */
	if (r < 0)
		return r;
	in->pfd = r;
	if (fstatat(in->pfd, in->bname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		set_detail(detail, in->target);
		return r;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		set_detail(detail, in->target);
		return S_ISLNK(st.st_mode) ? -PKS_E_SYMLINK : -PKS_E_NOT_DIR;
	}
	r = check_not_mount(in->pfd, in->bname, &st);
	if (r < 0) {
		set_detail(detail, in->target);
		return r;
	}
	in->exists = true;
	in->mode = st.st_mode & 07777;
	return 0;
}

/* One entry of the set against the existing target: count it, or refuse it. */
static int install_plan_entry(struct install *in, int tfd, const struct pki_entry *e,
			      unsigned flags, char *detail)
{
	struct stat st;
	if (!(flags & PKIDIR_FORCE) && fstatat(tfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    key_readable(&st) && pkidir_holds_private_key(e->data)) {
		set_detail(detail, e->name);
		return -PKS_E_KEY_MODE;
	}
	int r = compare_existing(tfd, e->name, e);
	if (r == -ENOENT) {
		in->rep.written++;
		return 0;
	}
	if (r >= 0)
		in->existed++;
	if (r == 1) {
		in->rep.unchanged++;
		return 0;
	}
	if (r == 0 && ((flags & PKIDIR_FORCE) || e->replace)) {
		in->rep.written++;
		return 0;
	}
	set_detail(detail, e->name);
	if (r == 0)
		return -PKS_E_EXISTS;
	if (r == -ENOTDIR)
		return -PKS_E_NOT_DIR;
	if (r == -PKS_E_SYMLINK || r == -ELOOP)
		return -PKS_E_SYMLINK;
	return r;
}

/* Compare: an existing target must be ours throughout and hold nothing the set would
 * change (unless PKIDIR_FORCE). Fills in->rep. */
static int install_plan(struct install *in, const struct pki_set *set, unsigned flags, char *detail)
{
	if (!in->exists) {
		in->rep.written = set->n;
		return 0;
	}
	_cleanup_(closep) int tfd =
	    openat(in->pfd, in->bname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return -errno;
	int r = check_owned(tfd, flags, detail);
	for (size_t i = 0; r >= 0 && i < set->n; i++)
		r = install_plan_entry(in, tfd, &set->e[i], flags, detail);
	return r;
}

/* The temporary directory beside the target, ".BASE.pkishare-XXXXXX" (its name in tmp):
 * its fd, or <0 with nothing left behind. 0700 while it is built: it holds links to the
 * CA keys and new keys, and a killed join leaves it behind (pkidir_remove_stale); its
 * final mode comes at the swap. */
static int install_mktemp(const struct install *in, char tmp[NAME_MAX + 1], char *detail)
{
	char prefix[NAME_MAX + 1];
	if (str_format(prefix, sizeof(prefix), ".%s%s", in->bname, STALE_INFIX))
		return -ENAMETOOLONG;
	int r = tmp_at(in->pfd, prefix, true, tmp);
	if (r < 0) {
		set_detail(detail, in->pdir);
		return r;
	}
	int fd = openat(in->pfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		remove_tree_at(in->pfd, tmp, 0);
		return r;
	}
	return fd;
}

/* Build: the existing target's files carried over (hard links), the set's written over
 * them, all of it on disk. */
static int install_fill(struct install *in, int tmpfd, const struct pki_set *set, char *detail)
{
	int r;
	if (in->exists) {
		_cleanup_(closep) int tfd =
		    openat(in->pfd, in->bname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		size_t count = 0;
		if (tfd < 0)
			return -errno;
		r = carry_over(tfd, tmpfd, &count, detail);
		if (r < 0)
			return r;
		in->rep.kept = count;
	}
	for (size_t i = 0; i < set->n; i++) {
		r = write_entry(tmpfd, &set->e[i]);
		if (r < 0) {
			set_detail(detail, set->e[i].name);
			return r;
		}
	}
	return fsync(tmpfd) < 0 ? -errno : 0;
}

/* One rename in the parent: tmp to the target (an exchange when it exists). */
static int install_rename(const struct install *in, const char *from, const char *to)
{
	return in->exists ? renameat2(in->pfd, from, in->pfd, to, RENAME_EXCHANGE)
			  : renameat(in->pfd, from, in->pfd, to);
}

/* Swap: one rename puts the new tree at the target (an exchange when it exists: the old
 * tree ends up under tmp). Only then its final mode, so that no kill leaves a readable
 * tree behind: the target keeps its own (never widened), a new one is 0755. Should that
 * fail, the swap is undone: the target holds its old contents or the new ones, never
 * half of it. A failure removes the new tree, unless the undo failed too. */
static int install_swap(const struct install *in, const char *tmp, int tmpfd, char *detail)
{
	int r;
	if (install_rename(in, tmp, in->bname) < 0) {
		r = -errno;
		set_detail(detail, in->target);
		remove_tree_at(in->pfd, tmp, 0);
		return r;
	}
	if (fchmod(tmpfd, in->exists ? in->mode : 0755) == 0)
		return 0;
	r = -errno;
	set_detail(detail, in->target);
	if (in->exists ? install_rename(in, tmp, in->bname) == 0
		       : renameat(in->pfd, in->bname, in->pfd, tmp) == 0)
		remove_tree_at(in->pfd, tmp, 0);
	return r;
}

/* The directory dfd (an O_PATH descriptor) on disk, if it can be read. */
static void fsync_dir_at(int dfd)
{
	_cleanup_(closep) int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
}

static void install_done(struct install *in)
{
	if (in->pfd >= 0)
		close(in->pfd);
	in->pfd = -1;
	/* A failed install leaves nothing it made: the directories above the target too. */
	if (in->done)
		walk_made_keep(&in->made);
	else
		walk_made_undo(&in->made);
}

int pkidir_install(const char *target, const struct pki_set *set, unsigned flags,
		   struct pkidir_report *report, char *detail)
{
	_cleanup_(install_done) struct install in = {.target = target, .pfd = -1};
	char tmp[NAME_MAX + 1];

	int r = install_locate(&in, set, flags, detail);
	if (r >= 0)
		r = install_plan(&in, set, flags, detail);
	if (r < 0)
		return r;
	if (!(flags & PKIDIR_DRY_RUN)) {
		r = install_mktemp(&in, tmp, detail);
		if (r < 0)
			return r;
		_cleanup_(closep) int tmpfd = r;
		r = install_fill(&in, tmpfd, set, detail);
		if (r < 0) {
			remove_tree_at(in.pfd, tmp, 0);
			return r;
		}
		r = install_swap(&in, tmp, tmpfd, detail);
		if (r < 0)
			return r;
		close(TAKE_FD(tmpfd));
		if (in.exists)
			remove_tree_at(in.pfd, tmp, 0); /* the old tree */
		fsync_dir_at(in.pfd);
		in.rep.kept = in.rep.kept >= in.existed ? in.rep.kept - in.existed : 0;
	}
	in.done = true;
	if (report)
		*report = in.rep;
	return 0;
}

int pkidir_access(const char *path, int mode)
{
	return faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0 ? 0 : -errno;
}

int pkidir_creatable(const char *dir, char *where, bool *denied)
{
	char buf[PATH_MAX];
	struct stat st;

	*denied = false;
	str_copy(buf, sizeof(buf), dir);
	for (;;) {
		if (stat(buf, &st) == 0) {
			int r =
			    S_ISDIR(st.st_mode) ? pkidir_access(buf, W_OK | X_OK) : -PKS_E_NOT_DIR;
			*denied = r < 0 && r != -PKS_E_NOT_DIR;
			if (r < 0)
				str_copy(where, PATH_MAX, buf);
			return r;
		}
		if (errno != ENOENT || !strcmp(buf, "/") || !strcmp(buf, ".")) {
			int e = -errno;
			str_copy(where, PATH_MAX, buf);
			return e;
		}
		char *slash = strrchr(buf, '/');
		if (!slash)
			str_copy(buf, sizeof(buf), ".");
		else if (slash == buf)
			buf[1] = 0;
		else
			*slash = 0;
	}
}

/* Could a file be created in dir (pkidir_creatable)? Checked before anything is written
 * anywhere, so a destination that cannot be written fails the whole join up front (and
 * --dry-run). 0, or <0 with the path at fault in detail. */
static int check_parent(const char *dir, char *detail)
{
	char where[PATH_MAX];
	bool denied;
	int r = pkidir_creatable(dir, where, &denied);
	if (r == -ENOTDIR && !denied) {
		set_detail(detail, dir);
		return -PKS_E_NOT_DIR;
	}
	if (r < 0)
		set_detail(detail, where);
	return r;
}

/* Before anything is written: may a file go at path (in pdir), and is it there already?
 * 1 if it is, identical; 0 to write it; <0 refused. */
static int install_file_plan(const char *path, const char *pdir, const struct pki_entry *e,
			     unsigned flags, char *detail)
{
	struct stat st;
	int r = check_parent(pdir, detail);
	if (r < 0)
		return r;
	/* The rule of the PKI directory (check_owned): the directory the file goes into, if
	 * it exists, and the file itself must be ours and writable by nobody else, or
	 * someone else could have planted what we would keep, or swap it after we wrote. */
	if (lstat(pdir, &st) == 0 && S_ISDIR(st.st_mode) && foreign(&st)) {
		set_detail(detail, pdir);
		return -PKS_E_FOREIGN;
	}
	if (lstat(path, &st) < 0)
		return 0;
	r = S_ISLNK(st.st_mode) ? -PKS_E_SYMLINK
	    : foreign(&st)	? -PKS_E_FOREIGN
	    : key_readable(&st) && !(flags & PKIDIR_FORCE) && pkidir_holds_private_key(e->data)
		? -PKS_E_KEY_MODE
		: compare_existing(AT_FDCWD, path, e);
	if (r == 1 || (r == 0 && (flags & PKIDIR_FORCE)))
		return r;
	set_detail(detail, path);
	return r < 0 ? r : -PKS_E_EXISTS;
}

/* A temporary file beside path, written and on disk, renamed over path. The way to pdir
 * is walked again (made where missing) through descriptors, and what is at path checked
 * again on that descriptor: the plan's checks were a snapshot. */
static int install_file_write(const char *path, const char *pdir, const struct secret *data,
			      unsigned mode, char *detail)
{
	char tmp[NAME_MAX + 1], dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	int r = pkidir_path_split(path, dir, base);
	if (r < 0)
		return r;
	_cleanup_(walk_made_undo) struct walk_made made = {.n = 0};
	_cleanup_(closep) int pfd = walk_open(pdir, &made, detail);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (foreign(&st)) {
		set_detail(detail, pdir);
		return -PKS_E_FOREIGN;
	}
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (S_ISLNK(st.st_mode) || foreign(&st))) {
		set_detail(detail, path);
		return S_ISLNK(st.st_mode) ? -PKS_E_SYMLINK : -PKS_E_FOREIGN;
	}
	int fd = tmp_at(pfd, ".pkishare-", false, tmp);
	if (fd < 0) {
		set_detail(detail, pdir);
		return fd;
	}
	r = write_fd(fd, data, safe_mode(data, mode));
	if (r == 0 && renameat(pfd, tmp, pfd, base) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(pfd, tmp, 0);
		set_detail(detail, path);
		return r;
	}
	fsync_dir_at(pfd);
	walk_made_keep(&made);
	return 0;
}

int pkidir_install_file(const char *path, const struct secret *data, unsigned mode, unsigned flags,
			char *detail)
{
	char dir[PATH_MAX];
	struct pki_entry e = {.mode = mode, .data = (struct secret *)data};

	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX) {
		set_detail(detail, path ? path : "(none)");
		return -EINVAL;
	}
	/* The directory by the last '/', as written (not pkidir_path_split's: a trailing
	 * slash is not taken away here). */
	str_copy(dir, sizeof(dir), path);
	*strrchr(dir, '/') = 0;
	const char *pdir = dir[0] ? dir : "/";
	int r = install_file_plan(path, pdir, &e, flags, detail);
	if (r != 0 || (flags & PKIDIR_DRY_RUN))
		return r;
	return install_file_write(path, pdir, data, mode, detail);
}

int pkidir_path_safe(const char *path, char *detail)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	if (pkidir_path_split(path, dir, base) < 0)
		return 0; /* refused by the install's own checks */
	/* The same walk as the install's (walk_open), without making anything: a missing
	 * component ends it; the install walks again and checks what it makes. */
	int fd = walk_open(dir, NULL, detail);
	if (fd < 0)
		return fd == -PKS_E_UNSAFE_PATH ? fd : 0;
	int r = 0;
	if (strcmp(base, "/") != 0 && fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		r = link_unsafe(&st, path, detail);
	close(fd);
	return r;
}

int pkidir_key_file_check(const char *path, char *detail)
{
	struct stat st;
	if (!path || lstat(path, &st) < 0 || !key_readable(&st) || foreign(&st))
		return 0; /* absent, or refused by the install's own checks (another user's) */
	set_detail(detail, path);
	return -PKS_E_KEY_MODE;
}

int pkidir_target_resolve(const char *target, char *ret, char *detail)
{
	char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	int followed = 0;

	if (str_format(cur, sizeof(cur), "%s", target))
		return -ENAMETOOLONG;
	for (;;) {
		if (lstat(cur, &st) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				break; /* made by the install, or refused by its checks */
			int r = -errno;
			set_detail(detail, cur);
			return r;
		}
		if (!S_ISLNK(st.st_mode))
			break;
		int unsafe = link_unsafe(&st, cur, detail);
		if (unsafe < 0)
			return unsafe;
		if (++followed > WALK_MAX_LINKS) {
			set_detail(detail, target);
			return -ELOOP;
		}
		ssize_t len = readlink(cur, link, sizeof(link) - 1);
		if (len < 0) {
			int r = -errno;
			set_detail(detail, cur);
			return r;
		}
		link[len] = 0;
		int r = pkidir_path_split(cur, dir, base);
		if (r < 0)
			return r;
		if (link[0] == '/' ? str_format(cur, sizeof(cur), "%s", link)
				   : str_format(cur, sizeof(cur), "%s/%s", dir, link)) {
			set_detail(detail, target);
			return -ENAMETOOLONG;
		}
	}
	str_copy(ret, PATH_MAX, cur);
	return followed > 0;
}

/* The blocks of block bytes that files files of bytes bytes in all take at most. */
static uint64_t space_blocks(const struct pkidir_space_group *g, uint64_t block)
{
	if (g->files == 0 || g->bytes == 0)
		return 0;
	if (g->bytes <= g->files)
		return g->bytes; /* one byte each, a block each */
	return g->files + (g->bytes - g->files) / block;
}

int pkidir_space_check(const char *target, const struct pkidir_space_group *groups, size_t n,
		       uint64_t *ret_need, uint64_t *ret_free, char *ret_where)
{
	char real[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	struct statvfs sv;
	size_t dirs = 2; /* the new tree and its etcd/ */

	int r = pkidir_target_resolve(target, real, NULL);
	if (r < 0)
		str_copy(real, sizeof(real), target); /* refused by the install, which says why */
	r = pkidir_path_split(real, dir, base);
	if (r < 0)
		return r;
	for (;; dirs++) {
		if (statvfs(dir, &sv) == 0)
			break;
		if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
		/* Not there yet: made by the install, on the file system of what is above. */
		char up[PATH_MAX];
		str_copy(up, sizeof(up), dir);
		r = pkidir_path_split(up, dir, base);
		if (r < 0)
			return r;
		if (!strcmp(up, dir))
			return -ENOENT;
	}
	uint64_t block = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	if (block == 0)
		block = 4096;
	uint64_t blocks = dirs;
	size_t files = dirs;
	for (size_t i = 0; i < n; i++) {
		blocks += space_blocks(&groups[i], block);
		files += groups[i].files;
	}
	uint64_t need = blocks * block;
	uint64_t avail = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) * block;
	uint64_t inodes = geteuid() == 0 ? sv.f_ffree : sv.f_favail;
	/* A file system without inode accounting (f_files 0) has no inode limit. */
	if (avail >= need && (sv.f_files == 0 || inodes >= files))
		return 0;
	*ret_need = need;
	*ret_free = avail;
	str_copy(ret_where, PATH_MAX, dir);
	return -ENOSPC;
}

int pkidir_read_kept(const char *dir, const char *name, size_t max, struct secret **ret)
{
	char path[PATH_MAX];
	struct stat st;
	if (str_format(path, sizeof(path), "%s/%s", dir, name))
		return -ENAMETOOLONG;
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return errno == ELOOP ? -PKS_E_SYMLINK : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -PKS_E_SPECIAL;
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022))
		return -PKS_E_FOREIGN;
	return secret_read_fd(fd, max, ret);
}
