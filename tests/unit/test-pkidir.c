/* test-pkidir.c - reading a PKI directory and installing one atomically: modes, refusals
 * (symlinks, different files), --force, other files kept, dry run; splitting a path. One
 * behaviour per case, each in a fresh temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "pkidir.h"
#include "secret.h"
#include "test.h"
#include "util.h"

static void make_set(struct pki_set *s, const char *tag)
{
	for (size_t i = 0; i < pki_shared_files_count; i++) {
		if (pki_shared_files[i].external)
			continue;
		char content[96];
		snprintf(content, sizeof(content), "%s: %s\n", tag, pki_shared_files[i].name);
		pki_set_add(s, pki_shared_files[i].name, pki_shared_files[i].mode,
			    secret_dup(content, strlen(content)));
	}
}

static unsigned mode_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

static int file_is(const char *path, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strcmp(buf, want) == 0;
}

/* Each case's own directory: base, with target = base/kubernetes/pki, and the sets A and B
 * (the shared files with different contents). */
static char base[64], target[512];
static struct pki_set a, b;

static void fixture_start(void)
{
	str_copy(base, sizeof(base), "/tmp/pkishare-test-pkidir-XXXXXX");
	CHECK(mkdtemp(base) != NULL);
	snprintf(target, sizeof(target), "%s/kubernetes/pki", base);
	make_set(&a, "A");
	make_set(&b, "B");
}

static void fixture_end(void)
{
	char cmd[256];
	pki_set_clear(&a);
	pki_set_clear(&b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	CHECK(system(cmd) == 0);
}

/* The fixture with A installed at target. */
static void fixture_installed(void)
{
	struct pkidir_report rep;
	char detail[DETAIL_MAX];
	fixture_start();
	CHECK_EQ_INT(pkidir_install(target, &a, 0, &rep, detail), 0);
}

static void pkidir_install_fresh_creates_parents_with_the_modes(void)
{
	struct pkidir_report rep;
	char p[2048], detail[DETAIL_MAX];
	fixture_start();
	CHECK_EQ_INT(pkidir_install(target, &a, 0, &rep, detail), 0);
	CHECK_EQ_INT(rep.written, 8);
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK_EQ_INT(mode_of(p), 0600);
	CHECK(file_is(p, "A: ca.key\n"));
	snprintf(p, sizeof(p), "%s/sa.pub", target);
	CHECK_EQ_INT(mode_of(p), 0644);
	snprintf(p, sizeof(p), "%s/etcd", target);
	CHECK_EQ_INT(mode_of(p), 0755);
	CHECK_EQ_INT(mode_of(target), 0755);
	fixture_end();
}

static void pkidir_read_gives_back_the_installed_set(void)
{
	struct pki_set read_back = {0};
	char missing[DETAIL_MAX], detail[DETAIL_MAX];
	fixture_installed();
	CHECK_EQ_INT(pkidir_read(target, &read_back, missing, detail), 0);
	CHECK_EQ_INT(read_back.n, 8);
	CHECK(missing[0] == 0);
	pki_set_clear(&read_back);
	fixture_end();
}

static void pkidir_install_of_the_same_contents_writes_nothing(void)
{
	struct pkidir_report rep;
	char detail[DETAIL_MAX];
	fixture_installed();
	CHECK_EQ_INT(pkidir_install(target, &a, 0, &rep, detail), 0);
	CHECK_EQ_INT(rep.unchanged, 8);
	CHECK_EQ_INT(rep.written, 0);
	fixture_end();
}

static void pkidir_install_refuses_other_contents_without_force(void)
{
	struct pkidir_report rep;
	char p[2048], detail[DETAIL_MAX];
	fixture_installed();
	CHECK_EQ_INT(pkidir_install(target, &b, 0, &rep, detail), -PKS_E_EXISTS);
	CHECK(strstr(detail, ".") != NULL);
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK(file_is(p, "A: ca.key\n"));
	fixture_end();
}

/* The fixture with A installed and a file of the node's own beside it. */
static void fixture_with_own_file(void)
{
	char p[2048];
	fixture_installed();
	snprintf(p, sizeof(p), "%s/apiserver.crt", target);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("node's own\n", f);
	fclose(f);
}

static void pkidir_install_dry_run_writes_nothing(void)
{
	struct pkidir_report rep;
	char p[2048], detail[DETAIL_MAX];
	fixture_with_own_file();
	CHECK_EQ_INT(pkidir_install(target, &b, PKIDIR_DRY_RUN | PKIDIR_FORCE, &rep, detail), 0);
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK(file_is(p, "A: ca.key\n"));
	fixture_end();
}

static void pkidir_install_forced_replaces_and_keeps_other_files(void)
{
	struct pkidir_report rep;
	char p[2048], detail[DETAIL_MAX];
	fixture_with_own_file();
	CHECK_EQ_INT(pkidir_install(target, &b, PKIDIR_FORCE, &rep, detail), 0);
	CHECK_EQ_INT(rep.written, 8);
	CHECK_EQ_INT(rep.kept, 1);
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK(file_is(p, "B: ca.key\n"));
	snprintf(p, sizeof(p), "%s/apiserver.crt", target);
	CHECK(file_is(p, "node's own\n"));
	fixture_end();
}

static void pkidir_install_leaves_no_temporary_directory(void)
{
	struct pkidir_report rep;
	char detail[DETAIL_MAX], cmd[4096];
	fixture_with_own_file();
	CHECK_EQ_INT(pkidir_install(target, &b, PKIDIR_FORCE, &rep, detail), 0);
	snprintf(cmd, sizeof(cmd), "ls -A %s/kubernetes | grep -c pkishare- >/dev/null", base);
	int leftovers = system(cmd) == 0;
	CHECK(!leftovers);
	fixture_end();
}

/* A link of ours (a data disk: /etc/kubernetes/pki -> /data/pki) is followed and stays a
 * link; one owned by another user is refused (issue 30 P10). */
static void pkidir_install_follows_only_its_own_symlink_target(void)
{
	struct pkidir_report rep;
	struct stat st;
	char link_target[1024], detail[DETAIL_MAX];
	fixture_installed();
	snprintf(link_target, sizeof(link_target), "%s/link-pki", base);
	CHECK(symlink(target, link_target) == 0);
	CHECK_EQ_INT(pkidir_install(link_target, &a, PKIDIR_FORCE, &rep, detail), 0);
	CHECK(lstat(link_target, &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(lstat(target, &st) == 0 && S_ISDIR(st.st_mode));
	if (geteuid() == 0) {
		CHECK(lchown(link_target, 65534, 65534) == 0);
		CHECK_EQ_INT(pkidir_install(link_target, &a, PKIDIR_FORCE, &rep, detail),
			     -PKS_E_UNSAFE_PATH);
		CHECK(strstr(detail, "symlink owned by another user (uid 65534") != NULL);
	}
	fixture_end();
}

/* base/t2 with etcd a symlink to base/elsewhere. */
static void fixture_symlinked_subdir(char t2[1024], char elsewhere[1024])
{
	char t2etcd[1200];
	fixture_start();
	snprintf(t2, 1024, "%s/t2", base);
	snprintf(elsewhere, 1024, "%s/elsewhere", base);
	mkdir(t2, 0755);
	mkdir(elsewhere, 0755);
	snprintf(t2etcd, sizeof(t2etcd), "%s/etcd", t2);
	CHECK(symlink(elsewhere, t2etcd) == 0);
}

static void pkidir_install_refuses_a_directory_symlink_inside(void)
{
	struct pkidir_report rep;
	char t2[1024], elsewhere[1024], p[2048], detail[DETAIL_MAX];
	fixture_symlinked_subdir(t2, elsewhere);
	CHECK_EQ_INT(pkidir_install(t2, &a, PKIDIR_FORCE, &rep, detail), -PKS_E_SYMLINK);
	snprintf(p, sizeof(p), "%s/ca.key", elsewhere);
	CHECK(access(p, F_OK) != 0);
	snprintf(p, sizeof(p), "%s/ca.key", t2);
	CHECK(access(p, F_OK) != 0);
	fixture_end();
}

static void pkidir_install_refuses_a_file_symlink_inside(void)
{
	struct pkidir_report rep;
	char t2[1024], elsewhere[1024], p[2048], detail[DETAIL_MAX];
	fixture_symlinked_subdir(t2, elsewhere);
	snprintf(p, sizeof(p), "%s/etcd", t2);
	unlink(p);
	snprintf(p, sizeof(p), "%s/ca.crt", t2);
	CHECK(symlink("/etc/hostname", p) == 0);
	CHECK_EQ_INT(pkidir_install(t2, &a, PKIDIR_FORCE, &rep, detail), -PKS_E_SYMLINK);
	fixture_end();
}

static void pkidir_install_refuses_a_file_target(void)
{
	struct pkidir_report rep;
	char p[2048], detail[DETAIL_MAX];
	fixture_start();
	snprintf(p, sizeof(p), "%s/afile", base);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK_EQ_INT(pkidir_install(p, &a, 0, &rep, detail), -PKS_E_NOT_DIR);
	fixture_end();
}

/* base/r2: A without the etcd CA. */
static void fixture_without_etcd(char r2[1024])
{
	struct pki_set no_etcd = {0};
	struct pkidir_report rep;
	char detail[DETAIL_MAX];
	fixture_start();
	snprintf(r2, 1024, "%s/r2", base);
	for (size_t i = 0; i < a.n; i++)
		if (strncmp(a.e[i].name, "etcd/", 5) != 0)
			pki_set_add(&no_etcd, a.e[i].name, a.e[i].mode,
				    secret_dup(a.e[i].data->data, a.e[i].data->len));
	CHECK_EQ_INT(pkidir_install(r2, &no_etcd, 0, &rep, detail), 0);
	pki_set_clear(&no_etcd);
}

static void pkidir_read_reports_missing_optional_files(void)
{
	struct pki_set read_back = {0};
	char r2[1024], missing[DETAIL_MAX], detail[DETAIL_MAX];
	fixture_without_etcd(r2);
	CHECK_EQ_INT(pkidir_read(r2, &read_back, missing, detail), 0);
	CHECK_EQ_INT(read_back.n, 6);
	CHECK(strstr(missing, "etcd/ca.crt") && strstr(missing, "etcd/ca.key"));
	pki_set_clear(&read_back);
	fixture_end();
}

static void pkidir_read_names_a_missing_required_file(void)
{
	struct pki_set read_back = {0};
	char r2[1024], p[2048], missing[DETAIL_MAX], detail[DETAIL_MAX];
	fixture_without_etcd(r2);
	snprintf(p, sizeof(p), "%s/sa.key", r2);
	unlink(p);
	CHECK_EQ_INT(pkidir_read(r2, &read_back, missing, detail), -PKS_E_MISSING);
	CHECK(strstr(detail, "sa.key") != NULL);
	fixture_end();
}

static void pkidir_read_refuses_a_symlink(void)
{
	struct pki_set read_back = {0};
	char link_target[1024], missing[DETAIL_MAX], detail[DETAIL_MAX];
	fixture_installed();
	snprintf(link_target, sizeof(link_target), "%s/link-pki", base);
	CHECK(symlink(target, link_target) == 0);
	CHECK_EQ_INT(pkidir_read(link_target, &read_back, missing, detail), -PKS_E_SYMLINK);
	fixture_end();
}

static void pki_set_add_refuses_unsafe_names(void)
{
	struct pki_set evil = {0};
	CHECK_EQ_INT(pki_set_add(&evil, "../x", 0600, secret_dup("x", 1)), -PKS_E_NAME);
	CHECK_EQ_INT(pki_set_add(&evil, "a/b/c", 0600, secret_dup("x", 1)), -PKS_E_NAME);
	CHECK_EQ_INT(pki_set_add(&evil, "/abs", 0600, secret_dup("x", 1)), -PKS_E_NAME);
	CHECK_EQ_INT(evil.n, 0);
}

static void pkidir_path_split_is_dirname_and_basename(void)
{
	static const char *const cases[][3] = {
	    {"/etc/kubernetes/pki", "/etc/kubernetes", "pki"},
	    {"/etc/kubernetes/pki/", "/etc/kubernetes", "pki"},
	    {"/etc//kubernetes//pki", "/etc//kubernetes", "pki"},
	    {"pki", ".", "pki"},
	    {"a/pki", "a", "pki"},
	    {"/pki", "/", "pki"},
	    {"/", "/", "/"},
	};
	char dir[PATH_MAX], name[PATH_MAX];
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		CHECK_EQ_INT(pkidir_path_split(cases[i][0], dir, name), 0);
		CHECK(strcmp(dir, cases[i][1]) == 0);
		CHECK(strcmp(name, cases[i][2]) == 0);
	}
	str_copy(dir, sizeof(dir), "untouched");
	CHECK_EQ_INT(pkidir_path_split("", dir, name), -EINVAL);
	CHECK_EQ_INT(pkidir_path_split(NULL, dir, name), -EINVAL);
	CHECK(strcmp(dir, "untouched") == 0);
	static char long_path[PATH_MAX + 1];
	memset(long_path, 'a', PATH_MAX);
	CHECK_EQ_INT(pkidir_path_split(long_path, dir, name), -ENAMETOOLONG);
}

static void pkidir_never_writes_a_private_key_readable_by_others(void)
{
	static const char pem[] =
	    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	    "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n";
	static const char cert[] = "-----BEGIN CERTIFICATE-----\nPRIVATE KEY-----\n";
	char path[600], detail[DETAIL_MAX];
	_cleanup_(secret_freep) struct secret *combined = secret_dup(pem, strlen(pem));
	_cleanup_(secret_freep) struct secret *plain = secret_dup(cert, strlen(cert));
	CHECK(pkidir_holds_private_key(combined));
	CHECK(!pkidir_holds_private_key(plain)); /* the marker on another line is not a key */
	fixture_start();
	snprintf(path, sizeof(path), "%s/etcd/client.pem", base);
	CHECK_EQ_INT(pkidir_install_file(path, combined, 0644, 0, detail), 0);
	CHECK_EQ_INT(mode_of(path), 0600);
	CHECK_EQ_INT(pkidir_install_file(path, combined, 0644, 0, detail), 1); /* identical */
	fixture_end();
}

static void pkidir_refuses_a_key_file_readable_by_others_unless_forced(void)
{
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
	_cleanup_(secret_freep) struct secret *key = secret_dup(pem, strlen(pem));
	struct pki_set none = {0};
	struct pkidir_report rep;
	char p[2048], detail[DETAIL_MAX];
	fixture_installed();
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK(chmod(p, 0644) == 0);
	/* Known by name: the plan's empty set (before the fetch) finds it too. */
	CHECK_EQ_INT(pkidir_install(target, &none, PKIDIR_DRY_RUN, NULL, detail), -PKS_E_KEY_MODE);
	CHECK(strcmp(detail, "ca.key") == 0);
	CHECK_EQ_INT(pkidir_install(target, &a, 0, &rep, detail), -PKS_E_KEY_MODE);
	CHECK_EQ_INT(mode_of(p), 0644);
	CHECK_EQ_INT(pkidir_install(target, &a, PKIDIR_FORCE, &rep, detail), 0);
	CHECK_EQ_INT(mode_of(p), 0600);
	/* A destination outside the PKI directory, same bytes or not. */
	snprintf(p, sizeof(p), "%s/etcd-client.key", base);
	CHECK_EQ_INT(pkidir_install_file(p, key, 0600, 0, detail), 0);
	CHECK_EQ_INT(pkidir_key_file_check(p, detail), 0);
	CHECK(chmod(p, 0640) == 0);
	CHECK_EQ_INT(pkidir_key_file_check(p, detail), -PKS_E_KEY_MODE);
	CHECK_EQ_INT(pkidir_install_file(p, key, 0600, PKIDIR_DRY_RUN, detail), -PKS_E_KEY_MODE);
	CHECK(strcmp(detail, p) == 0);
	CHECK_EQ_INT(pkidir_install_file(p, key, 0600, PKIDIR_FORCE, detail), 0);
	CHECK_EQ_INT(mode_of(p), 0600);
	fixture_end();
}

static void pkidir_path_same_sees_two_spellings_of_one_file(void)
{
	char p1[600], p2[600];
	fixture_start();
	snprintf(p1, sizeof(p1), "%s/no/such/client.pem", base);
	snprintf(p2, sizeof(p2), "%s//no/./such/client.pem", base);
	CHECK(pkidir_path_same(p1, p2)); /* neither exists */
	snprintf(p2, sizeof(p2), "%s/no/such/client.key", base);
	CHECK(!pkidir_path_same(p1, p2));
	fixture_end();
}

static void pkidir_creatable_walks_up_to_the_nearest_existing_directory(void)
{
	char dir[600], file[600], where[PATH_MAX] = "";
	bool denied = true;
	fixture_start();
	snprintf(dir, sizeof(dir), "%s/no/such/pki", base);
	CHECK_EQ_INT(pkidir_creatable(dir, where, &denied), 0);
	CHECK(!denied);
	snprintf(file, sizeof(file), "%s/plain", base);
	CHECK(close(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == 0);
	CHECK_EQ_INT(pkidir_creatable(file, where, &denied), -PKS_E_NOT_DIR);
	CHECK(!strcmp(where, file) && !denied);
	snprintf(dir, sizeof(dir), "%s/plain/pki", base);
	CHECK_EQ_INT(pkidir_creatable(dir, where, &denied), -ENOTDIR);
	CHECK(!strcmp(where, dir) && !denied);
	fixture_end();
}

/* The rule is the effective uid's: a process whose real uid may write (root) but whose
 * effective uid may not is refused, as the kernel would refuse its writes. */
static void pkidir_access_asks_about_the_effective_uid(void)
{
	char dir[600], where[PATH_MAX] = "";
	fixture_start();
	CHECK(chmod(base, 0755) == 0);
	snprintf(dir, sizeof(dir), "%s/kubernetes/pki", base);
	if (geteuid() != 0) {
		/* Not root: the directory made unwritable for us. */
		bool denied = false;
		CHECK(chmod(base, 0555) == 0);
		CHECK_EQ_INT(pkidir_creatable(dir, where, &denied), -EACCES);
		CHECK(denied && !strcmp(where, base));
		CHECK(chmod(base, 0755) == 0);
		fixture_end();
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		bool denied = false;
		int bad = seteuid(65534) != 0;
		bad |= access(base, W_OK) != 0; /* the real uid (root) could */
		bad |= pkidir_access(base, W_OK | X_OK) != -EACCES;
		bad |= pkidir_creatable(dir, where, &denied) != -EACCES || !denied ||
		       strcmp(where, base) != 0;
		_exit(bad);
	}
	int st = -1;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ_INT(pkidir_access(base, W_OK | X_OK), 0);
	fixture_end();
}

static const struct test_case cases[] = {
    TEST(pkidir_install_fresh_creates_parents_with_the_modes),
    TEST(pkidir_read_gives_back_the_installed_set),
    TEST(pkidir_install_of_the_same_contents_writes_nothing),
    TEST(pkidir_install_refuses_other_contents_without_force),
    TEST(pkidir_install_dry_run_writes_nothing),
    TEST(pkidir_install_forced_replaces_and_keeps_other_files),
    TEST(pkidir_install_leaves_no_temporary_directory),
    TEST(pkidir_install_follows_only_its_own_symlink_target),
    TEST(pkidir_install_refuses_a_directory_symlink_inside),
    TEST(pkidir_install_refuses_a_file_symlink_inside),
    TEST(pkidir_install_refuses_a_file_target),
    TEST(pkidir_read_reports_missing_optional_files),
    TEST(pkidir_read_names_a_missing_required_file),
    TEST(pkidir_read_refuses_a_symlink),
    TEST(pki_set_add_refuses_unsafe_names),
    TEST(pkidir_path_split_is_dirname_and_basename),
    TEST(pkidir_never_writes_a_private_key_readable_by_others),
    TEST(pkidir_refuses_a_key_file_readable_by_others_unless_forced),
    TEST(pkidir_path_same_sees_two_spellings_of_one_file),
    TEST(pkidir_creatable_walks_up_to_the_nearest_existing_directory),
    TEST(pkidir_access_asks_about_the_effective_uid),
};

int main(void)
{
	CHECK(secret_init() == 0);
	return test_run("pkidir", cases, TEST_ELEMENTS(cases));
}
