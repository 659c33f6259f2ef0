/* test-persist.c - the held state across a restart, in the daemon core: this program is
 * its own service manager (it defines sd_pid_notify_with_fds and sd_notifyf, which the
 * core's calls resolve to), keeps the files persist.c hands over, and restarts "the
 * daemon" by restoring a fresh store from them. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist.h"
#include "store.h"
#include "test.h"
#include "util.h"

/* The fake manager's store: what systemd would keep. */
static struct {
	char name[64];
	int fd;
} kept[16];
static size_t n_kept;
static unsigned handoffs;

static void manager_reset(void)
{
	for (size_t i = 0; i < n_kept; i++)
		close(kept[i].fd);
	n_kept = 0;
	handoffs = 0;
}

static void field(const char *msg, const char *key, char *out, size_t len)
{
	const char *p = strstr(msg, key);
	out[0] = 0;
	if (!p)
		return;
	p += strlen(key);
	size_t n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = 0;
}

static void manager_take(const char *msg, const int *fds, unsigned n_fds)
{
	char name[64];
	field(msg, "FDNAME=", name, sizeof(name));
	handoffs++;
	if (strstr(msg, "FDSTOREREMOVE=1")) {
		for (size_t i = 0; i < n_kept;)
			if (strcmp(kept[i].name, name) == 0) {
				close(kept[i].fd);
				kept[i] = kept[--n_kept];
			} else {
				i++;
			}
	} else if (strstr(msg, "FDSTORE=1")) {
		for (unsigned i = 0; i < n_fds && n_kept < ELEMENTSOF(kept); i++) {
			str_copy(kept[n_kept].name, sizeof(kept[n_kept].name), name);
			kept[n_kept++].fd = dup(fds[i]);
		}
	}
}

/* Resolved here rather than in libsystemd: the test binary defines them. */
int sd_pid_notify_with_fds(pid_t pid, int unset, const char *state, const int *fds, unsigned n);
int sd_notifyf(int unset, const char *format, ...);

int sd_pid_notify_with_fds(pid_t pid, int unset, const char *state, const int *fds, unsigned n)
{
	(void)pid;
	(void)unset;
	manager_take(state, fds, n);
	return 1;
}

int sd_notifyf(int unset, const char *format, ...)
{
	char msg[512];
	va_list ap;
	(void)unset;
	va_start(ap, format);
	vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	manager_take(msg, NULL, 0);
	return 1;
}

static size_t kept_named(const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < n_kept; i++)
		n += strncmp(kept[i].name, prefix, strlen(prefix)) == 0;
	return n;
}

/* One daemon process: a store whose changes are written through a persist. */
struct proc {
	struct store s;
	struct persist p;
};

static void proc_start(struct proc *d)
{
	CHECK(store_init(&d->s) == 0);
	persist_init(&d->p);
	for (size_t i = 0; i < n_kept; i++)
		CHECK(persist_take_fd(&d->p, dup(kept[i].fd), kept[i].name));
	persist_start(&d->p, &d->s);
	d->s.persist = &d->p;
}

/* kill -9: nothing is wiped, the process's references go. */
static void proc_kill(struct proc *d)
{
	d->s.persist = NULL;
	store_done(&d->s);
	persist_close(&d->p);
}

static int put(struct store *s, char id, char key)
{
	struct bundle m = {0};
	memset(m.id, id, BUNDLE_ID_HEX_LEN);
	memset(m.key_id, key, KEY_ID_HEX_LEN);
	m.created_at = time_now();
	m.expires_at = m.created_at + 3600;
	char replaced[BUNDLE_ID_HEX_LEN + 1];
	return store_put(s, secret_dup("{\"x\":1}", 7), &m, 600000, 0, false, replaced);
}

static void under_systemd(const char *fdstore)
{
	manager_reset();
	setenv("NOTIFY_SOCKET", "@pkishare-unit-test", 1);
	setenv("FDSTORE", fdstore, 1);
}

static void persist_keeps_nothing_without_systemd(void)
{
	struct proc d;
	manager_reset();
	unsetenv("NOTIFY_SOCKET");
	proc_start(&d);
	CHECK(!d.p.enabled);
	CHECK(strstr(d.p.why, "not started by systemd") != NULL);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(n_kept, 0);
	proc_kill(&d);
}

static void persist_restores_bundle_tokens_and_key_ids(void)
{
	struct proc d;
	uint8_t h[TOKEN_HASH_BYTES] = {7};
	under_systemd("8");
	proc_start(&d);
	CHECK(d.p.enabled);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(put(&d.s, 'b', '2'), 0);
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1), 0);
	CHECK_EQ_INT(kept_named("pkishared-bundle-"), 1); /* the replaced file left */
	proc_kill(&d);
	proc_start(&d);
	CHECK(d.p.restored);
	CHECK(!d.p.refused);
	CHECK(d.s.held && d.s.id[0] == 'b');
	CHECK_EQ_INT(d.s.n_tokens, 1);
	CHECK_EQ_INT(put(&d.s, 'c', '1'), -EEXIST);
	CHECK_EQ_INT(put(&d.s, 'c', '2'), -EEXIST);
	proc_kill(&d);
}

static void persist_drops_only_the_bundle_when_its_file_is_missing(void)
{
	struct proc d;
	uint8_t h[TOKEN_HASH_BYTES] = {7};
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1), 0);
	proc_kill(&d);
	for (size_t i = 0; i < n_kept; i++)
		if (strncmp(kept[i].name, "pkishared-bundle-", 17) == 0) {
			close(kept[i].fd);
			kept[i] = kept[--n_kept];
		}
	proc_start(&d);
	CHECK(d.p.restored);
	CHECK(d.p.refused);
	CHECK(strstr(d.p.why, "its file is missing") != NULL);
	CHECK(d.s.held == NULL);
	CHECK_EQ_INT(d.s.gone, STORE_GONE_LOST);
	CHECK_EQ_INT(d.s.n_tokens, 1);
	CHECK_EQ_INT(put(&d.s, 'b', '1'), -EEXIST); /* the key stays used */
	proc_kill(&d);
}

static void persist_drops_only_the_bundle_when_its_file_is_corrupt(void)
{
	struct proc d;
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	proc_kill(&d);
	for (size_t i = 0; i < n_kept; i++)
		if (strncmp(kept[i].name, "pkishared-bundle-", 17) == 0) {
			struct stat st;
			CHECK(fstat(kept[i].fd, &st) == 0);
			unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
						MAP_SHARED, kept[i].fd, 0);
			CHECK(m != MAP_FAILED);
			if (m != MAP_FAILED) {
				m[90] ^= 1; /* a byte of the sealed bytes (after the 88-byte head),
					       under its MAC */
				munmap(m, (size_t)st.st_size);
			}
		}
	proc_start(&d);
	CHECK(d.p.restored && d.p.refused);
	CHECK(strstr(d.p.why, "integrity check") != NULL);
	CHECK(d.s.held == NULL);
	CHECK_EQ_INT(put(&d.s, 'b', '1'), -EEXIST);
	CHECK_EQ_INT(kept_named("pkishared-bundle-"), 0); /* the refused file left the store */
	proc_kill(&d);
}

static void persist_never_reuses_a_file_name(void)
{
	struct proc d;
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(put(&d.s, 'a', '2'), 0); /* the same id, a new key */
	CHECK_EQ_INT(kept_named("pkishared-bundle-"), 1);
	proc_kill(&d);
	proc_start(&d);
	CHECK(d.s.held && d.s.id[0] == 'a' && d.s.key_id[0] == '2');
	CHECK(!d.p.refused);
	proc_kill(&d);
}

static void persist_refuses_a_too_small_fd_store(void)
{
	struct proc d;
	under_systemd("3");
	proc_start(&d);
	CHECK(!d.p.enabled);
	CHECK(strstr(d.p.why, "FileDescriptorStoreMax=3") != NULL);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(n_kept, 0);
	proc_kill(&d);
}

static void persist_hands_files_over_before_the_state_names_them(void)
{
	/* The hand-offs of a replacing upload: the new file first, the old one dropped last;
	 * a delete drops after the state is written (the file's contents are still intact
	 * when the manager is told, so a kill before that message restores the bundle). */
	struct proc d;
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	unsigned before = handoffs;
	CHECK_EQ_INT(put(&d.s, 'b', '2'), 0);
	CHECK_EQ_INT(handoffs - before, 2);
	char id[BUNDLE_ID_HEX_LEN + 1];
	CHECK_EQ_INT(store_delete(&d.s, id), 0);
	CHECK_EQ_INT(kept_named("pkishared-bundle-"), 0);
	proc_kill(&d);
	proc_start(&d);
	CHECK(d.s.held == NULL && d.s.gone == STORE_GONE_DELETED);
	CHECK_EQ_INT(put(&d.s, 'c', '2'), -EEXIST);
	proc_kill(&d);
}

/* A copy of a kept file's bytes, and writing them back (what someone with write access to
 * the store could do). */
static unsigned char *file_copy(const char *name, size_t *ret_len)
{
	for (size_t i = 0; i < n_kept; i++)
		if (strcmp(kept[i].name, name) == 0) {
			struct stat st;
			if (fstat(kept[i].fd, &st) < 0)
				return NULL;
			unsigned char *m =
			    mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, kept[i].fd, 0);
			if (m == MAP_FAILED)
				return NULL;
			unsigned char *c = malloc((size_t)st.st_size);
			memcpy(c, m, (size_t)st.st_size);
			munmap(m, (size_t)st.st_size);
			*ret_len = (size_t)st.st_size;
			return c;
		}
	return NULL;
}

static void file_restore(const char *name, const unsigned char *bytes, size_t len)
{
	for (size_t i = 0; i < n_kept; i++)
		if (strcmp(kept[i].name, name) == 0) {
			unsigned char *m =
			    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, kept[i].fd, 0);
			CHECK(m != MAP_FAILED);
			if (m != MAP_FAILED) {
				memcpy(m, bytes, len);
				munmap(m, len);
			}
		}
}

static void persist_refuses_a_state_rolled_back_to_an_older_copy(void)
{
	struct proc d;
	uint8_t h[TOKEN_HASH_BYTES] = {7};
	size_t len = 0;
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1), 0);
	unsigned char *old = file_copy("pkishared-state", &len);
	CHECK(old != NULL);
	CHECK_EQ_INT(put(&d.s, 'b', '2'), 0);
	CHECK_EQ_INT(store_token_delete(&d.s, "tok123"), 0);
	proc_kill(&d);
	if (old)
		file_restore("pkishared-state", old, len);
	free(old);
	proc_start(&d);
	CHECK(!d.p.restored);
	CHECK(d.p.refused && strstr(d.p.why, "rolled back") != NULL);
	CHECK_EQ_INT(d.s.n_tokens, 0); /* the deleted token did not come back */
	proc_kill(&d);
}

static const struct test_case cases[] = {
    TEST(persist_keeps_nothing_without_systemd),
    TEST(persist_restores_bundle_tokens_and_key_ids),
    TEST(persist_drops_only_the_bundle_when_its_file_is_missing),
    TEST(persist_drops_only_the_bundle_when_its_file_is_corrupt),
    TEST(persist_never_reuses_a_file_name),
    TEST(persist_refuses_a_too_small_fd_store),
    TEST(persist_hands_files_over_before_the_state_names_them),
    TEST(persist_refuses_a_state_rolled_back_to_an_older_copy),
};

int main(void)
{
	secret_init();
	int r = test_run("persist", cases, TEST_ELEMENTS(cases));
	manager_reset();
	return r;
}
