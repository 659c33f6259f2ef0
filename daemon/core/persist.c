/* persist.c - the held state in systemd's file descriptor store (see persist.h).
 *
 * Must never write the state anywhere but the memory-only files, must check every byte it
 * takes back (version, MAC, each length and string) before the store sees any of it, and
 * must never fail the start: anything it cannot use is wiped, and the daemon starts empty
 * and says why. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

#include "log.h"
#include "persist.h"
#include "util.h"

#define PERSIST_VERSION 5
#define MAC_BYTES 32
#define KEY_NAME "pkishared-key"
#define STATE_NAME "pkishared-state"
#define BUNDLE_PREFIX "pkishared-bundle-"

static const char state_magic[8] = {'P', 'K', 'S', 'H', 'S', 'T', 'A', 'T'};
static const char bundle_magic[8] = {'P', 'K', 'S', 'H', 'B', 'N', 'D', 'L'};

/* Everything the store knows but the bundle's bytes. Plain data: written and read by
 * the same build (the version and the size say which). */
struct persist_body {
	int64_t held_since;
	uint64_t restores;
	uint8_t held, last_had_external, gone, pad[5];
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t created_at, expires_at, deadline_ms, gone_at;
	uint64_t fetches, max_fetches, bundle_len;
	uint64_t n_seen, n_tokens, n_fetch_log;
	uint64_t bundle_seq, file_seq; /* the held bundle file's number; files made so far */
	/* Only the first n of each array is written and authenticated: a fetch rewrites a
	 * few hundred bytes, not the whole key-id history. */
	struct store_fetch_record fetch_log[STORE_MAX_FETCH_LOG];
	struct store_token tokens[STORE_MAX_TOKENS];
	char seen[STORE_MAX_SEEN_KEYS][KEY_ID_HEX_LEN + 1];
};

struct persist_slot {
	char magic[8];
	uint32_t version, body_size;
	uint64_t generation;
	int64_t saved_mono_ms;	/* CLOCK_MONOTONIC: one clock for every process of a boot */
	uint8_t mac[MAC_BYTES]; /* keyed BLAKE2b of the above and the body's used part */
	struct persist_body body;
};

struct bundle_head {
	char magic[8];
	uint64_t len;
	char id[BUNDLE_ID_HEX_LEN + 1];
	uint8_t pad[7];
	uint8_t mac[MAC_BYTES]; /* keyed BLAKE2b of the fields above and the bytes */
};

static void bundle_name(char out[64], const char *id, uint64_t seq)
{
	snprintf(out, 64, BUNDLE_PREFIX "%.*s-%llu", BUNDLE_ID_HEX_LEN, id,
		 (unsigned long long)seq);
}

/* The key file holds the MAC key and, after it, the generation of the last slot written:
 * a state file rolled back to an older copy (its slots' MACs still good) is then told from
 * the current one. Written right after each slot, so a slot may be one ahead of it. */
#define KEY_FILE_BYTES (crypto_generichash_KEYBYTES + sizeof(uint64_t))

static uint64_t key_generation(const struct persist *p)
{
	uint64_t g;
	memcpy(&g, p->key.map + crypto_generichash_KEYBYTES, sizeof(g));
	return g;
}

static void key_generation_set(struct persist *p, uint64_t g)
{
	memcpy(p->key.map + crypto_generichash_KEYBYTES, &g, sizeof(g));
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (n + pg - 1) / pg * pg;
}

/* Can this process make memfd_secret files? (The kernel may lack it, or a seccomp
 * filter, nspawn's or an older unit's, may deny it.) */
static bool secretmem_works(void)
{
#ifdef SYS_memfd_secret
	int fd = (int)syscall(SYS_memfd_secret, (unsigned)O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return true;
	}
#endif
	return false;
}

/* A new memory-only file of len bytes (page-rounded), mapped and locked, into f. */
static int mem_file(struct persist *p, const char *name, size_t len, struct persist_file *f)
{
	int fd = -1;
	len = page_round(len);
#ifdef SYS_memfd_secret
	if (p->secretmem)
		fd = (int)syscall(SYS_memfd_secret, (unsigned)O_CLOEXEC);
#endif
	if (fd < 0) {
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			return -errno;
	}
	if (ftruncate(fd, (off_t)len) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	/* A plain memfd cannot change size from now on (a secretmem one cannot be sealed). */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	(void)mlock(m, len); /* secretmem pages are locked already; a memfd's need it */
	(void)madvise(m, len, MADV_DONTDUMP);
	*f = (struct persist_file){.fd = fd, .map = m, .len = len};
	str_copy(f->name, sizeof(f->name), name);
	return 0;
}

static size_t fd_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
}

/* Map a file systemd gave back, whole. */
static int map_given(struct persist_file *f)
{
	f->len = fd_size(f->fd);
	void *m =
	    f->len ? mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0) : MAP_FAILED;
	if (m == MAP_FAILED)
		return f->len ? -errno : -EINVAL;
	(void)mlock(m, f->len);
	(void)madvise(m, f->len, MADV_DONTDUMP);
	f->map = m;
	return 0;
}

static int to_store(int fd, const char *name)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	int r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	return r > 0 ? 0 : r < 0 ? r : -ENOTCONN;
}

/* Forget a file without touching its contents (the store keeps its own reference). */
static void release(struct persist_file *f)
{
	if (f->map) {
		munlock(f->map, f->len);
		munmap(f->map, f->len);
	}
	if (f->fd >= 0)
		close(f->fd);
	*f = (struct persist_file){.fd = -1};
}

/* Wipe a file's contents, take it out of the store, forget it. */
static void drop(struct persist_file *f)
{
	if (f->fd < 0)
		return;
	if (!f->map)
		(void)map_given(f);
	if (f->map)
		secret_wipe(f->map, f->len);
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", f->name);
	release(f);
}

static void mac(const struct persist *p, const void *a, size_t alen, const void *b, size_t blen,
		uint8_t out[MAC_BYTES])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, p->key.map, crypto_generichash_KEYBYTES, MAC_BYTES);
	crypto_generichash_update(&st, a, alen);
	if (b)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, MAC_BYTES);
	secret_wipe(&st, sizeof(st));
}

/* The MAC of a slot whose counts are within their bounds. */
static void slot_mac(const struct persist *p, const struct persist_slot *sl, uint8_t out[MAC_BYTES])
{
	const struct persist_body *b = &sl->body;
	crypto_generichash_state st;
	crypto_generichash_init(&st, p->key.map, crypto_generichash_KEYBYTES, MAC_BYTES);
	crypto_generichash_update(&st, (const void *)sl, offsetof(struct persist_slot, mac));
	crypto_generichash_update(&st, (const void *)b, offsetof(struct persist_body, fetch_log));
	crypto_generichash_update(&st, (const void *)b->fetch_log,
				  b->n_fetch_log * sizeof(b->fetch_log[0]));
	crypto_generichash_update(&st, (const void *)b->tokens, b->n_tokens * sizeof(b->tokens[0]));
	crypto_generichash_update(&st, (const void *)b->seen, b->n_seen * sizeof(b->seen[0]));
	crypto_generichash_final(&st, out, MAC_BYTES);
	secret_wipe(&st, sizeof(st));
}

void persist_init(struct persist *p)
{
	memset(p, 0, sizeof(*p));
	p->key.fd = p->state.fd = p->bundle.fd = p->next_bundle.fd = -1;
	for (size_t i = 0; i < ELEMENTSOF(p->retired); i++)
		p->retired[i].fd = -1;
	p->fdstore_max = -1;
}

bool persist_take_fd(struct persist *p, int fd, const char *name)
{
	if (strncmp(name, "pkishared-", 10) != 0)
		return false;
	struct persist_file f = {.fd = fd};
	str_copy(f.name, sizeof(f.name), name);
	if (p->n_given < ELEMENTSOF(p->given))
		p->given[p->n_given++] = f;
	else
		drop(&f);
	return true;
}

static struct persist_file *given(struct persist *p, const char *name)
{
	for (size_t i = 0; i < p->n_given; i++)
		if (p->given[i].fd >= 0 && strcmp(p->given[i].name, name) == 0)
			return &p->given[i];
	return NULL;
}

/* Move a given file into place (it stays in the store under its name). */
static void adopt(struct persist_file *to, struct persist_file *from)
{
	*to = *from;
	*from = (struct persist_file){.fd = -1};
}

static bool text_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == size)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Every field of a slot that passed its MAC: counts, strings, ids. */
static const char *body_check(const struct persist_body *b)
{
	if (b->held > 1 || b->last_had_external > 1 || b->gone > STORE_GONE_LOST)
		return "a flag is out of range";
	if (b->n_seen > STORE_MAX_SEEN_KEYS || b->n_tokens > STORE_MAX_TOKENS ||
	    b->n_fetch_log > STORE_MAX_FETCH_LOG)
		return "a count is out of range";
	if (b->bundle_seq > b->file_seq)
		return "the bundle file counter is out of range";
	if (b->gone != STORE_GONE_NEVER && !str_is_lower_hex(b->gone_id, BUNDLE_ID_HEX_LEN))
		return "the previous bundle's id is malformed";
	for (uint64_t i = 0; i < b->n_seen; i++)
		if (!str_is_lower_hex(b->seen[i], KEY_ID_HEX_LEN))
			return "a key id in the history is malformed";
	for (uint64_t i = 0; i < b->n_tokens; i++)
		if (!text_ok(b->tokens[i].id, sizeof(b->tokens[i].id)) ||
		    strlen(b->tokens[i].id) != TOKEN_ID_LEN)
			return "a token id is malformed";
	return NULL;
}

/* The held bundle's part of a slot that passed its MAC (refused alone: the rest stays).
 * The deadline's bound is the longest lifetime the daemon accepts (STORE_MAX_TTL_S). */
static const char *held_check(const struct persist_body *b, int64_t now_ms)
{
	if (!str_is_lower_hex(b->id, BUNDLE_ID_HEX_LEN) ||
	    !str_is_lower_hex(b->key_id, KEY_ID_HEX_LEN) || !b->bundle_len ||
	    b->bundle_len > BUNDLE_MAX_BYTES || b->deadline_ms <= 0 ||
	    b->deadline_ms > now_ms + (int64_t)STORE_MAX_TTL_S * 1000 || b->bundle_seq == 0)
		return "its description in the state is malformed";
	for (uint64_t i = 0; i < b->n_fetch_log; i++) {
		const struct store_fetch_record *r = &b->fetch_log[i];
		if ((r->cert[0] && !str_is_lower_hex(r->cert, STORE_CERT_ID_LEN)) ||
		    !text_ok(r->cert, sizeof(r->cert)) || !text_ok(r->client, sizeof(r->client)) ||
		    !text_ok(r->source, sizeof(r->source)) || !text_ok(r->peer, sizeof(r->peer)))
			return "a record of its fetches is malformed";
	}
	return NULL;
}

/* The newest slot that passes every check, or NULL with *why set. */
static const struct persist_slot *pick_slot(struct persist *p, const char **why)
{
	const struct persist_slot *best = NULL;
	int64_t now = time_mono_ms();
	*why = "neither copy of the state passes its integrity check (MAC)";
	for (unsigned i = 0; i < 2; i++) {
		const struct persist_slot *sl = &((const struct persist_slot *)p->state.map)[i];
		uint8_t m[MAC_BYTES];
		if (memcmp(sl->magic, state_magic, sizeof(state_magic)) != 0)
			continue;
		if (sl->version != PERSIST_VERSION || sl->body_size != sizeof(sl->body)) {
			*why = "the state was written by another version of pkishared";
			continue;
		}
		if (sl->body.n_seen > STORE_MAX_SEEN_KEYS || sl->body.n_tokens > STORE_MAX_TOKENS ||
		    sl->body.n_fetch_log > STORE_MAX_FETCH_LOG)
			continue; /* the MAC's length comes from these: bound them first */
		slot_mac(p, sl, m);
		if (!secret_equal(m, sl->mac, MAC_BYTES))
			continue;
		if (sl->saved_mono_ms > now) {
			*why = "the state is dated after now (another boot?)";
			continue;
		}
		const char *bad = body_check(&sl->body);
		if (bad) {
			*why = bad;
			continue;
		}
		if (!best || sl->generation > best->generation)
			best = sl;
	}
	uint64_t kg = key_generation(p);
	if (best && (best->generation < kg || best->generation > kg + 1)) {
		*why = best->generation < kg
			   ? "the state file is older than the last state written "
			     "(rolled back to an earlier copy?)"
			   : "the state file is newer than the key file says";
		return NULL;
	}
	return best;
}

/* The held bundle's bytes from their file, checked; NULL with *why set. */
static struct secret *bundle_take(struct persist *p, const struct persist_body *b,
				  struct persist_file *f, const char **why)
{
	*why = "its file is malformed";
	if (map_given(f) < 0 || f->len < sizeof(struct bundle_head) + b->bundle_len)
		return NULL;
	struct bundle_head h;
	memcpy(&h, f->map, sizeof(h));
	uint8_t want[MAC_BYTES];
	struct secret *data = NULL;
	mac(p, &h, offsetof(struct bundle_head, mac), f->map + sizeof(h), b->bundle_len, want);
	if (memcmp(h.magic, bundle_magic, sizeof(bundle_magic)) != 0 || h.len != b->bundle_len ||
	    strncmp(h.id, b->id, sizeof(h.id)) != 0)
		*why = "its file does not match the state";
	else if (!secret_equal(want, h.mac, MAC_BYTES))
		*why = "its file fails its integrity check (MAC)";
	else if (!(data = secret_dup(f->map + sizeof(h), b->bundle_len)))
		*why = "out of memory";
	if (data)
		adopt(&p->bundle, f);
	return data;
}

/* Copy a checked state into the empty store. */
static void resume(struct store *s, const struct persist_body *b, struct secret *data)
{
	if (data) {
		struct store_blob *blob = calloc(1, sizeof(*blob));
		struct bundle meta = {0};
		/* The profile is the bundle's own: read again from the bytes. */
		if (blob && bundle_parse((const char *)data->data, data->len, &meta, NULL) == 0) {
			s->profile = meta.profile;
			meta.profile = NULL;
			bundle_done(&meta);
		}
		if (blob) {
			blob->refs = 1;
			blob->data = data;
			s->held = blob;
			str_copy(s->id, sizeof(s->id), b->id);
			str_copy(s->key_id, sizeof(s->key_id), b->key_id);
			s->created_at = b->created_at;
			s->expires_at = b->expires_at;
			s->deadline_ms = b->deadline_ms;
			s->fetches = b->fetches;
			s->max_fetches = b->max_fetches;
			s->n_fetch_log = b->n_fetch_log;
			memcpy(s->fetch_log, b->fetch_log,
			       b->n_fetch_log * sizeof(s->fetch_log[0]));
		} else {
			secret_free(data);
		}
	}
	s->gone = b->gone;
	str_copy(s->gone_id, sizeof(s->gone_id), b->gone_id);
	s->gone_at = b->gone_at;
	s->last_had_external = b->last_had_external;
	s->n_seen = b->n_seen;
	memcpy(s->seen, b->seen, b->n_seen * sizeof(s->seen[0]));
	s->n_tokens = b->n_tokens;
	memcpy(s->tokens, b->tokens, b->n_tokens * sizeof(s->tokens[0]));
}

/* Take back what systemd kept: true if the store now holds the previous state. */
static bool restore(struct persist *p, struct store *s)
{
	struct persist_file *k = given(p, KEY_NAME), *st = given(p, STATE_NAME);
	const char *why = NULL;
	if (!k || !st) {
		if (p->n_given)
			snprintf(p->why, sizeof(p->why),
				 "systemd's store holds only part of the state (no %s)",
				 k ? "state" : "key");
		return false;
	}
	adopt(&p->key, k);
	adopt(&p->state, st);
	if (map_given(&p->key) < 0 || map_given(&p->state) < 0) {
		snprintf(p->why, sizeof(p->why), "cannot map the state's files: %s",
			 strerror(errno));
		return false;
	}
	if (p->key.len != page_round(KEY_FILE_BYTES) ||
	    p->state.len != page_round(2 * sizeof(struct persist_slot))) {
		snprintf(p->why, sizeof(p->why), "the state's files have the wrong size");
		return false;
	}
	const struct persist_slot *sl = pick_slot(p, &why);
	if (!sl) {
		snprintf(p->why, sizeof(p->why), "%s", why);
		return false;
	}
	const struct persist_body *b = &sl->body;
	struct secret *data = NULL;
	/* The bundle has its own MAC and its own checks: when only it is unusable, it alone
	 * is dropped, and the join tokens and the key-id history (what makes a certificate
	 * key one-time) are kept. */
	if (b->held) {
		char name[64];
		bundle_name(name, b->id, b->bundle_seq);
		struct persist_file *f = given(p, name);
		why = held_check(b, time_mono_ms());
		if (!why && !f)
			why = "its file is missing from systemd's store";
		if (!why)
			data = bundle_take(p, b, f, &why);
	}
	resume(s, b, data);
	if (b->held && !data) {
		s->gone = STORE_GONE_LOST;
		/* A malformed id is not carried on: the next restore would refuse the slot. */
		if (str_is_lower_hex(b->id, BUNDLE_ID_HEX_LEN))
			str_copy(s->gone_id, sizeof(s->gone_id), b->id);
		else
			snprintf(s->gone_id, sizeof(s->gone_id), "%0*d", BUNDLE_ID_HEX_LEN, 0);
		s->gone_at = time_now();
		snprintf(p->why, sizeof(p->why),
			 "the held bundle %.*s was dropped: %s (its join tokens and key-id history "
			 "were kept)",
			 BUNDLE_ID_HEX_LEN, b->id, why);
	}
	p->bundle_seq = data ? b->bundle_seq : 0;
	p->file_seq = b->file_seq;
	p->generation = sl->generation;
	p->held_since = b->held_since;
	p->restores = b->restores + 1;
	return true;
}

/* The unit's FileDescriptorStoreMax=: from $FDSTORE (systemd 254 and later set it), else
 * asked of systemd over the bus for the unit this process runs in; -1 if neither works. */
static long fdstore_max(void)
{
	const char *env = getenv("FDSTORE");
	uint64_t n;
	if (env && uint_parse(env, UINT32_MAX, &n) == 0)
		return (long)n;
	char *unit = NULL, *path = NULL;
	sd_bus *bus = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	uint32_t max = 0;
	int r = sd_pid_get_unit(0, &unit);
	if (r >= 0)
		r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r >= 0)
		r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_get_property_trivial(bus, "org.freedesktop.systemd1", path,
						"org.freedesktop.systemd1.Service",
						"FileDescriptorStoreMax", &err, 'u', &max);
	sd_bus_error_free(&err);
	sd_bus_flush_close_unref(bus);
	free(path);
	free(unit);
	return r < 0 ? -1 : (long)max;
}

static void why_add(struct persist *p, const char *fmt, ...) _printf_(2, 3);
static void why_add(struct persist *p, const char *fmt, ...)
{
	size_t n = strlen(p->why);
	va_list ap;
	if (n && n + 2 < sizeof(p->why)) {
		memcpy(p->why + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(p->why + n, sizeof(p->why) - n, fmt, ap);
	va_end(ap);
}

void persist_start(struct persist *p, struct store *s)
{
	if (!getenv("NOTIFY_SOCKET")) {
		snprintf(p->why, sizeof(p->why),
			 "not started by systemd: the held state ends with this process");
		for (size_t i = 0; i < p->n_given; i++)
			drop(&p->given[i]);
		return;
	}
	p->secretmem = secretmem_works();
	p->fdstore_max = fdstore_max();
	p->restored = restore(p, s);
	p->refused = p->why[0] != 0; /* a state was there and it, or a part of it, failed */
	for (size_t i = 0; i < p->n_given; i++) /* refused or left over */
		drop(&p->given[i]);
	if (p->fdstore_max >= 0 && p->fdstore_max < PERSIST_FILES_NEEDED) {
		/* systemd would drop files past its limit with a line in its own log only:
		 * acknowledged uploads would then not outlive a restart. Say so, keep none. */
		why_add(
		    p,
		    "systemd keeps at most %ld file(s) for this unit (FileDescriptorStoreMax=%ld) "
		    "and the held state needs %d: nothing survives a restart; set "
		    "FileDescriptorStoreMax=8 (the shipped unit's value) and restart",
		    p->fdstore_max, p->fdstore_max, PERSIST_FILES_NEEDED);
		persist_drop_all(p);
		return;
	}
	if (!p->restored) {
		drop(&p->key);
		drop(&p->state);
		drop(&p->bundle);
		int r = mem_file(p, KEY_NAME, KEY_FILE_BYTES, &p->key);
		if (r == 0)
			r = mem_file(p, STATE_NAME, 2 * sizeof(struct persist_slot), &p->state);
		if (r == 0) {
			randombytes_buf(p->key.map, crypto_generichash_KEYBYTES);
			r = to_store(p->key.fd, KEY_NAME);
		}
		if (r == 0)
			r = to_store(p->state.fd, STATE_NAME);
		if (r < 0) {
			why_add(p, "cannot keep the state in systemd's store: %s", strerror(-r));
			persist_drop_all(p);
			return;
		}
		p->held_since = time_now();
		p->restores = 0;
		p->generation = 0;
	}
	if (p->fdstore_max < 0)
		why_add(p, "cannot learn this unit's FileDescriptorStoreMax= (no $FDSTORE, and "
			   "systemd cannot be asked): the state is kept on the assumption that it "
			   "is at least 4");
	p->enabled = true;
	persist_save_locked(p, s); /* the restore count, at once */
}

void persist_save_locked(struct persist *p, const struct store *s)
{
	if (!p || !p->enabled)
		return;
	struct persist_slot *sl = &((struct persist_slot *)p->state.map)[(p->generation + 1) % 2];
	struct persist_body *b = &sl->body;
	/* Spoil the slot first: a kill while writing it leaves the other one in force. */
	memset(sl->mac, 0, sizeof(sl->mac));
	memcpy(sl->magic, state_magic, sizeof(state_magic));
	sl->version = PERSIST_VERSION;
	sl->body_size = sizeof(*b);
	sl->generation = p->generation + 1;
	sl->saved_mono_ms = time_mono_ms();
	memset(b, 0, offsetof(struct persist_body, fetch_log));
	b->held_since = p->held_since;
	b->restores = p->restores;
	b->held = s->held != NULL;
	b->last_had_external = s->last_had_external;
	b->gone = (uint8_t)s->gone;
	str_copy(b->gone_id, sizeof(b->gone_id), s->gone_id);
	b->gone_at = s->gone_at;
	if (s->held) {
		str_copy(b->id, sizeof(b->id), s->id);
		str_copy(b->key_id, sizeof(b->key_id), s->key_id);
		b->created_at = s->created_at;
		b->expires_at = s->expires_at;
		b->deadline_ms = s->deadline_ms;
		b->fetches = s->fetches;
		b->max_fetches = s->max_fetches;
		b->bundle_len = s->held->data->len;
		b->n_fetch_log = s->n_fetch_log;
		memcpy(b->fetch_log, s->fetch_log, s->n_fetch_log * sizeof(b->fetch_log[0]));
	}
	/* Unused records and token hashes are zeroed (a few KiB); the key-id history only
	 * grows (it is halved at its limit), so its tail is left. */
	secret_wipe(b->fetch_log + b->n_fetch_log,
		    (STORE_MAX_FETCH_LOG - b->n_fetch_log) * sizeof(b->fetch_log[0]));
	b->n_tokens = s->n_tokens;
	memcpy(b->tokens, s->tokens, s->n_tokens * sizeof(b->tokens[0]));
	secret_wipe(b->tokens + s->n_tokens,
		    (STORE_MAX_TOKENS - s->n_tokens) * sizeof(b->tokens[0]));
	b->n_seen = s->n_seen;
	memcpy(b->seen, s->seen, s->n_seen * sizeof(b->seen[0]));
	b->bundle_seq = s->held ? p->bundle_seq : 0;
	b->file_seq = p->file_seq;
	slot_mac(p, sl, sl->mac);
	p->generation++;
	key_generation_set(p, p->generation);
	/* Only now that no slot in force names them. */
	for (size_t i = 0; i < ELEMENTSOF(p->retired); i++)
		drop(&p->retired[i]);
}

/* Take a file out of force: dropped after the next save. */
static void retire(struct persist *p, struct persist_file *f)
{
	if (f->fd < 0)
		return;
	for (size_t i = 0; i < ELEMENTSOF(p->retired); i++)
		if (p->retired[i].fd < 0) {
			adopt(&p->retired[i], f);
			return;
		}
	drop(f); /* not reached: at most two files leave force between two saves */
}

int persist_bundle_put(struct persist *p, const char *id, const struct secret *data)
{
	if (!p || !p->enabled)
		return 0;
	char name[64];
	uint64_t seq = p->file_seq + 1;
	bundle_name(name, id, seq);
	struct persist_file *f = &p->next_bundle;
	drop(f);
	int r = mem_file(p, name, sizeof(struct bundle_head) + data->len, f);
	if (r < 0)
		return r;
	struct bundle_head h = {.len = data->len};
	memcpy(h.magic, bundle_magic, sizeof(bundle_magic));
	str_copy(h.id, sizeof(h.id), id);
	memcpy(f->map + sizeof(h), data->data, data->len);
	mac(p, &h, offsetof(struct bundle_head, mac), data->data, data->len, h.mac);
	memcpy(f->map, &h, sizeof(h));
	r = to_store(f->fd, name);
	if (r < 0) {
		secret_wipe(f->map, f->len);
		release(f);
		return r;
	}
	p->file_seq = seq; /* a name is never used again, even if this one is never saved */
	p->next_seq = seq;
	return 0;
}

void persist_bundle_commit(struct persist *p)
{
	if (!p || p->next_bundle.fd < 0)
		return;
	retire(p, &p->bundle);
	adopt(&p->bundle, &p->next_bundle);
	p->bundle_seq = p->next_seq;
}

void persist_bundle_retire(struct persist *p)
{
	if (p)
		retire(p, &p->bundle);
}

void persist_drop_all(struct persist *p)
{
	for (size_t i = 0; i < ELEMENTSOF(p->retired); i++)
		drop(&p->retired[i]);
	drop(&p->next_bundle);
	drop(&p->bundle);
	drop(&p->state);
	drop(&p->key);
	p->enabled = false;
}

void persist_close(struct persist *p)
{
	for (size_t i = 0; i < ELEMENTSOF(p->retired); i++)
		release(&p->retired[i]);
	release(&p->next_bundle);
	release(&p->bundle);
	release(&p->state);
	release(&p->key);
	p->enabled = false;
}

const char *persist_kind(const struct persist *p)
{
	return !p->enabled ? "none" : p->secretmem ? "memfd_secret" : "memfd";
}
