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
#include "store-view.h"
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
	store_attach(&d->s, &d->p);
}

/* kill -9: nothing is wiped, the process's references go. */
static void proc_kill(struct proc *d)
{
	store_detach(&d->s);
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
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1, NULL), 0);
	CHECK_EQ_INT(kept_named("pkishared-bundle-"), 1); /* the replaced file left */
	proc_kill(&d);
	proc_start(&d);
	CHECK(d.p.restored);
	CHECK(!d.p.refused);
	CHECK(view_held(&d.s) && view_id(&d.s)[0] == 'b');
	CHECK_EQ_INT(view_n_tokens(&d.s), 1);
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
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1, NULL), 0);
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
	CHECK(!view_held(&d.s));
	CHECK_EQ_INT(view_gone(&d.s), STORE_GONE_LOST);
	CHECK_EQ_INT(view_n_tokens(&d.s), 1);
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
	CHECK(!view_held(&d.s));
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
	CHECK(view_held(&d.s) && view_id(&d.s)[0] == 'a' && view_key_id(&d.s)[0] == '2');
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
	CHECK(!view_held(&d.s) && view_gone(&d.s) == STORE_GONE_DELETED);
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
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1, NULL), 0);
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
	CHECK_EQ_INT(view_n_tokens(&d.s), 0); /* the deleted token did not come back */
	proc_kill(&d);
}

/* A record with every field set, as the held state would fill it. */
static struct persist_record *record_full(struct persist_counters *c)
{
	struct persist_record *r = calloc(1, sizeof(*r));
	*c = (struct persist_counters){
	    .held_since = 1700000000, .restores = 3, .bundle_seq = 7, .file_seq = 9};
	r->held = true;
	memset(r->id, 'a', BUNDLE_ID_HEX_LEN);
	memset(r->key_id, '1', KEY_ID_HEX_LEN);
	r->created_at = 1700000001;
	r->expires_at = 1700003601;
	r->deadline_ms = 123456789;
	r->bundle_len = 4242;
	r->fetches = 2;
	r->max_fetches = 5;
	r->n_fetch_log = 2;
	for (int i = 0; i < 2; i++) {
		r->fetch_log[i].at = 1700000100 + i;
		snprintf(r->fetch_log[i].client, sizeof(r->fetch_log[i].client), "node-%d", i);
		memset(r->fetch_log[i].cert, 'c' + i, STORE_CERT_ID_LEN);
		snprintf(r->fetch_log[i].source, sizeof(r->fetch_log[i].source), "client-ca");
		snprintf(r->fetch_log[i].peer, sizeof(r->fetch_log[i].peer), "[::1]:4%d", i);
	}
	r->gone = STORE_GONE_REPLACED;
	memset(r->gone_id, 'b', BUNDLE_ID_HEX_LEN);
	r->gone_at = 1700000000;
	r->last_had_external = true;
	r->n_seen = 3;
	for (int i = 0; i < 3; i++)
		snprintf(r->seen[i], sizeof(r->seen[i]), "%016x", i + 1);
	r->n_tokens = 2;
	for (int i = 0; i < 2; i++) {
		struct persist_token *t = &r->tokens[i];
		snprintf(t->id, sizeof(t->id), "tok%03d", i);
		memset(t->hash, 0x40 + i, sizeof(t->hash));
		t->expires_at = 1700090000;
		t->deadline_ms = 99999;
		t->uses_left = (uint64_t)i;
		t->used = 4;
		snprintf(t->description, sizeof(t->description), "%s",
			 i ? "" : "cp-2 in rack 4, ticket #1234 (Bob's)");
	}
	return r;
}

static void persist_record_round_trips_field_by_field(void)
{
	struct persist_counters c, c2;
	struct persist_record *r = record_full(&c), *back = calloc(1, sizeof(*back));
	static uint8_t buf[PERSIST_BODY_MAX], buf2[PERSIST_BODY_MAX];
	const char *why = NULL;
	long n = persist_record_encode(&c, r, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ_INT(persist_record_decode(buf, (size_t)n, &c2, back, &why), 0);
	CHECK(c2.held_since == c.held_since && c2.restores == 3 && c2.bundle_seq == 7 &&
	      c2.file_seq == 9);
	CHECK(back->held && !strcmp(back->id, r->id) && !strcmp(back->key_id, r->key_id));
	CHECK(back->created_at == r->created_at && back->expires_at == r->expires_at &&
	      back->deadline_ms == r->deadline_ms && back->bundle_len == 4242);
	CHECK(back->fetches == 2 && back->max_fetches == 5 && back->n_fetch_log == 2);
	CHECK(!memcmp(back->fetch_log, r->fetch_log, sizeof(r->fetch_log[0]) * 2));
	CHECK(back->gone == STORE_GONE_REPLACED && !strcmp(back->gone_id, r->gone_id) &&
	      back->gone_at == r->gone_at && back->last_had_external);
	CHECK(back->n_seen == 3 && !strcmp(back->seen[2], "0000000000000003"));
	CHECK(back->n_tokens == 2 && !memcmp(back->tokens, r->tokens, sizeof(r->tokens[0]) * 2));
	CHECK(!strcmp(back->tokens[0].description, "cp-2 in rack 4, ticket #1234 (Bob's)"));
	/* The same record encodes to the same bytes: the format is the fields, not memory. */
	CHECK_EQ_INT(persist_record_encode(&c2, back, buf2, sizeof(buf2)), n);
	CHECK(!memcmp(buf, buf2, (size_t)n));
	/* The largest record fits the bound the slot is sized by. */
	r->n_fetch_log = STORE_MAX_FETCH_LOG;
	r->n_seen = STORE_MAX_SEEN_KEYS;
	r->n_tokens = STORE_MAX_TOKENS;
	for (size_t i = 0; i < STORE_MAX_FETCH_LOG; i++) {
		memset(r->fetch_log[i].client, 'x', sizeof(r->fetch_log[i].client) - 1);
		memset(r->fetch_log[i].peer, 'y', sizeof(r->fetch_log[i].peer) - 1);
	}
	for (size_t i = 0; i < STORE_MAX_TOKENS; i++)
		memset(r->tokens[i].description, 'd', API_TOKEN_DESCRIPTION_MAX);
	CHECK(persist_record_encode(&c, r, buf, sizeof(buf)) > 0);
	CHECK_EQ_INT(persist_record_encode(&c, r, buf, 100), -ENOBUFS);
	free(r);
	free(back);
}

static void persist_record_refuses_truncated_or_garbled_bytes(void)
{
	struct persist_counters c, c2;
	struct persist_record *r = record_full(&c), *back = calloc(1, sizeof(*back));
	static uint8_t buf[PERSIST_BODY_MAX + 1];
	const char *why = NULL;
	long n = persist_record_encode(&c, r, buf, PERSIST_BODY_MAX);
	CHECK(n > 0);
	/* Every truncation is refused, never read past its end. */
	unsigned refused = 0;
	for (long len = 0; len < n; len++)
		refused += persist_record_decode(buf, (size_t)len, &c2, back, &why) == -EBADMSG;
	CHECK_EQ_INT(refused, n);
	/* A byte after the end. */
	buf[n] = 0;
	CHECK_EQ_INT(persist_record_decode(buf, (size_t)n + 1, &c2, back, &why), -EBADMSG);
	CHECK(strstr(why, "after its end") != NULL);
	/* A string made unprintable: the first byte of the held bundle's id (after 4 counters,
	 * the held flag and the id's 2-byte length). */
	buf[4 * 8 + 1 + 2] = '\n';
	CHECK_EQ_INT(persist_record_decode(buf, (size_t)n, &c2, back, &why), -EBADMSG);
	CHECK(strstr(why, "printable") != NULL);
	buf[4 * 8 + 1 + 2] = 'a';
	/* A string longer than its field. */
	buf[4 * 8 + 1] = 0xff;
	CHECK_EQ_INT(persist_record_decode(buf, (size_t)n, &c2, back, &why), -EBADMSG);
	buf[4 * 8 + 1] = BUNDLE_ID_HEX_LEN;
	/* A flag out of range. */
	buf[4 * 8] = 2;
	CHECK_EQ_INT(persist_record_decode(buf, (size_t)n, &c2, back, &why), -EBADMSG);
	buf[4 * 8] = 1;
	CHECK_EQ_INT(persist_record_decode(buf, (size_t)n, &c2, back, &why), 0);
	/* Any single byte flipped: refused, or read as a record that passes every check. */
	for (long i = 0; i < n; i++) {
		buf[i] ^= 0x80;
		int rr = persist_record_decode(buf, (size_t)n, &c2, back, &why);
		CHECK(rr == 0 || rr == -EBADMSG);
		buf[i] ^= 0x80;
	}
	free(r);
	free(back);
}

/* The format number of both slots of the kept state file set to v. */
static void state_version_set(uint32_t v)
{
	for (size_t i = 0; i < n_kept; i++)
		if (strcmp(kept[i].name, "pkishared-state") == 0) {
			struct stat st;
			CHECK(fstat(kept[i].fd, &st) == 0);
			unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
						MAP_SHARED, kept[i].fd, 0);
			CHECK(m != MAP_FAILED);
			if (m == MAP_FAILED)
				return;
			/* Both slots, found by their magic (the second starts where the first
			 * ends). */
			for (size_t off = 8; off + 12 < (size_t)st.st_size; off++)
				if (!memcmp(m + off, "PKSHSTAT", 8))
					memcpy(m + off + 8, &v, 4);
			munmap(m, (size_t)st.st_size);
		}
}

static void persist_refuses_a_state_of_another_format(void)
{
	struct proc d;
	uint8_t h[TOKEN_HASH_BYTES] = {7};
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1, NULL), 0);
	proc_kill(&d);
	state_version_set(5); /* as the raw format before issue 31 */
	proc_start(&d);
	CHECK(!d.p.restored && d.p.refused);
	CHECK(strstr(d.p.why, "format 5") != NULL);
	CHECK(strstr(d.p.why, "upload again") != NULL);
	CHECK(strstr(d.p.why, "before issue 31") != NULL);
	CHECK(!view_held(&d.s));
	/* What it held is lost (a joiner is told 410 lost), not "none was uploaded". */
	CHECK_EQ_INT(view_gone(&d.s), STORE_GONE_LOST);
	CHECK_EQ_INT(view_n_tokens(&d.s), 0);
	CHECK_EQ_INT(kept_named("pkishared-bundle-"), 0); /* the old files were wiped */
	CHECK_EQ_INT(put(&d.s, 'b', '1'), 0);		  /* and a new state is kept */
	proc_kill(&d);
	proc_start(&d);
	CHECK(d.p.restored && !d.p.refused && view_held(&d.s));
	proc_kill(&d);
}

static void persist_says_a_newer_format_is_a_downgrade(void)
{
	struct proc d;
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	proc_kill(&d);
	state_version_set(PERSIST_FORMAT_VERSION + 1);
	proc_start(&d);
	CHECK(!d.p.restored && d.p.refused);
	CHECK(strstr(d.p.why, "newer version") != NULL && strstr(d.p.why, "downgrade") != NULL);
	CHECK(strstr(d.p.why, "before issue 31") == NULL);
	CHECK_EQ_INT(view_gone(&d.s), STORE_GONE_LOST);
	proc_kill(&d);
}

/* One bit of the newest slot's body flipped (under its MAC). */
static void state_newest_body_flip(void)
{
	for (size_t i = 0; i < n_kept; i++)
		if (strcmp(kept[i].name, "pkishared-state") == 0) {
			struct stat st;
			CHECK(fstat(kept[i].fd, &st) == 0);
			unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
						MAP_SHARED, kept[i].fd, 0);
			CHECK(m != MAP_FAILED);
			if (m == MAP_FAILED)
				return;
			size_t newest = 0;
			uint64_t best = 0;
			for (size_t off = 0; off + 64 < (size_t)st.st_size; off++)
				if (!memcmp(m + off, "PKSHSTAT", 8)) {
					uint64_t g;
					memcpy(&g, m + off + 16, 8); /* little-endian hosts */
					if (g >= best)
						best = g, newest = off;
				}
			m[newest + 64] ^= 0x01;
			munmap(m, (size_t)st.st_size);
		}
}

static void persist_says_corruption_not_rollback_for_a_flipped_bit(void)
{
	struct proc d;
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(put(&d.s, 'a', '1'), 0);
	CHECK_EQ_INT(put(&d.s, 'b', '2'), 0);
	proc_kill(&d);
	state_newest_body_flip();
	proc_start(&d);
	CHECK(!d.p.restored && d.p.refused);
	CHECK(strstr(d.p.why, "integrity check") != NULL);
	CHECK(strstr(d.p.why, "rolled back") == NULL);
	CHECK_EQ_INT(view_gone(&d.s), STORE_GONE_LOST);
	proc_kill(&d);
}

static void persist_keeps_token_descriptions(void)
{
	struct proc d;
	uint8_t h[TOKEN_HASH_BYTES] = {7};
	under_systemd("8");
	proc_start(&d);
	CHECK_EQ_INT(store_token_add(&d.s, "tok123", h, 600, 1, "cp-2, rack 4"), 0);
	CHECK_EQ_INT(store_token_add(&d.s, "tok456", h, 600, 1, "bad\nline"), -EINVAL);
	proc_kill(&d);
	proc_start(&d);
	CHECK(d.p.restored);
	CHECK_EQ_INT(view_n_tokens(&d.s), 1);
	CHECK(strcmp(view_of(&d.s)->tokens[0].description, "cp-2, rack 4") == 0);
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
    TEST(persist_record_round_trips_field_by_field),
    TEST(persist_record_refuses_truncated_or_garbled_bytes),
    TEST(persist_refuses_a_state_of_another_format),
    TEST(persist_says_a_newer_format_is_a_downgrade),
    TEST(persist_says_corruption_not_rollback_for_a_flipped_bit),
    TEST(persist_keeps_token_descriptions),
};

int main(void)
{
	secret_init();
	int r = test_run("persist", cases, TEST_ELEMENTS(cases));
	manager_reset();
	return r;
}
