/* test-pkidir.c - reading a PKI directory and installing one atomically: modes, refusals
 * (symlinks, different files), --force, other files kept, dry run. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int main(void)
{
	char base[] = "/tmp/pkishare-test-pkidir-XXXXXX", target[512], p[2048], detail[DETAIL_MAX];
	struct pki_set a = {0}, b = {0}, read_back = {0};
	struct pkidir_report rep;

	CHECK(secret_init() == 0);
	CHECK(mkdtemp(base) != NULL);
	snprintf(target, sizeof(target), "%s/kubernetes/pki", base);
	make_set(&a, "A");
	make_set(&b, "B");

	/* Fresh install (parents created), modes right. */
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

	/* Reading it back gives the same set. */
	char missing[DETAIL_MAX];
	CHECK_EQ_INT(pkidir_read(target, &read_back, missing, detail), 0);
	CHECK_EQ_INT(read_back.n, 8);
	CHECK(missing[0] == 0);
	pki_set_clear(&read_back);

	/* Same contents again: fine, nothing written. */
	CHECK_EQ_INT(pkidir_install(target, &a, 0, &rep, detail), 0);
	CHECK_EQ_INT(rep.unchanged, 8);
	CHECK_EQ_INT(rep.written, 0);

	/* Different contents without force: refused, naming the file; nothing changed. */
	CHECK_EQ_INT(pkidir_install(target, &b, 0, &rep, detail), -PKS_E_EXISTS);
	CHECK(strstr(detail, ".") != NULL);
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK(file_is(p, "A: ca.key\n"));

	/* An unrelated file in the target is kept by a forced install. */
	snprintf(p, sizeof(p), "%s/apiserver.crt", target);
	FILE *f = fopen(p, "w");
	fputs("node's own\n", f);
	fclose(f);
	CHECK_EQ_INT(pkidir_install(target, &b, PKIDIR_DRY_RUN | PKIDIR_FORCE, &rep, detail), 0);
	snprintf(p, sizeof(p), "%s/ca.key", target);
	CHECK(file_is(p, "A: ca.key\n")); /* dry run wrote nothing */
	CHECK_EQ_INT(pkidir_install(target, &b, PKIDIR_FORCE, &rep, detail), 0);
	CHECK_EQ_INT(rep.written, 8);
	CHECK_EQ_INT(rep.kept, 1);
	CHECK(file_is(p, "B: ca.key\n"));
	snprintf(p, sizeof(p), "%s/apiserver.crt", target);
	CHECK(file_is(p, "node's own\n"));
	/* No temporary directories left beside the target. */
	snprintf(p, sizeof(p), "%s/kubernetes", base);
	int leftovers = 0;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "ls -A %s | grep -c pkishare- >/dev/null", p);
	leftovers = system(cmd) == 0;
	CHECK(!leftovers);

	/* A target that is a symlink is refused, and so is one containing a symlink. */
	char link_target[1024];
	snprintf(link_target, sizeof(link_target), "%s/link-pki", base);
	CHECK(symlink(target, link_target) == 0);
	CHECK_EQ_INT(pkidir_install(link_target, &a, PKIDIR_FORCE, &rep, detail), -PKS_E_SYMLINK);
	char t2[1024], t2etcd[1200], elsewhere[1024];
	snprintf(t2, sizeof(t2), "%s/t2", base);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", base);
	mkdir(t2, 0755);
	mkdir(elsewhere, 0755);
	snprintf(t2etcd, sizeof(t2etcd), "%s/etcd", t2);
	CHECK(symlink(elsewhere, t2etcd) == 0);
	CHECK_EQ_INT(pkidir_install(t2, &a, PKIDIR_FORCE, &rep, detail), -PKS_E_SYMLINK);
	snprintf(p, sizeof(p), "%s/ca.key", elsewhere);
	CHECK(access(p, F_OK) != 0);
	snprintf(p, sizeof(p), "%s/ca.key", t2);
	CHECK(access(p, F_OK) != 0);
	/* A file symlink inside is refused too. */
	unlink(t2etcd);
	snprintf(p, sizeof(p), "%s/ca.crt", t2);
	CHECK(symlink("/etc/hostname", p) == 0);
	CHECK_EQ_INT(pkidir_install(t2, &a, PKIDIR_FORCE, &rep, detail), -PKS_E_SYMLINK);

	/* A target that is a file. */
	snprintf(p, sizeof(p), "%s/afile", base);
	f = fopen(p, "w");
	fclose(f);
	CHECK_EQ_INT(pkidir_install(p, &a, 0, &rep, detail), -PKS_E_NOT_DIR);

	/* Reading: a missing required file is named; missing optional ones are reported. */
	char r2[1024];
	snprintf(r2, sizeof(r2), "%s/r2", base);
	struct pki_set no_etcd = {0};
	for (size_t i = 0; i < a.n; i++)
		if (strncmp(a.e[i].name, "etcd/", 5) != 0)
			pki_set_add(&no_etcd, a.e[i].name, a.e[i].mode,
				    secret_dup(a.e[i].data->data, a.e[i].data->len));
	CHECK_EQ_INT(pkidir_install(r2, &no_etcd, 0, &rep, detail), 0);
	CHECK_EQ_INT(pkidir_read(r2, &read_back, missing, detail), 0);
	CHECK_EQ_INT(read_back.n, 6);
	CHECK(strstr(missing, "etcd/ca.crt") && strstr(missing, "etcd/ca.key"));
	pki_set_clear(&read_back);
	snprintf(p, sizeof(p), "%s/sa.key", r2);
	unlink(p);
	CHECK_EQ_INT(pkidir_read(r2, &read_back, missing, detail), -PKS_E_MISSING);
	CHECK(strstr(detail, "sa.key") != NULL);
	CHECK_EQ_INT(pkidir_read(link_target, &read_back, missing, detail), -PKS_E_SYMLINK);

	/* Unsafe names never reach the filesystem. */
	struct pki_set evil = {0};
	CHECK_EQ_INT(pki_set_add(&evil, "../x", 0600, secret_dup("x", 1)), -PKS_E_NAME);
	CHECK_EQ_INT(pki_set_add(&evil, "a/b/c", 0600, secret_dup("x", 1)), -PKS_E_NAME);
	CHECK_EQ_INT(pki_set_add(&evil, "/abs", 0600, secret_dup("x", 1)), -PKS_E_NAME);
	CHECK_EQ_INT(evil.n, 0);

	pki_set_clear(&a);
	pki_set_clear(&b);
	pki_set_clear(&no_etcd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	CHECK(system(cmd) == 0);
	return test_done("test-pkidir");
}
