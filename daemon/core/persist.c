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

#include "held.h"
#include "log.h"
#include "persist.h"
#include "util.h"

#define MAC_BYTES 32
#define KEY_NAME "pkishared-key"
#define STATE_NAME "pkishared-state"
#define BUNDLE_PREFIX "pkishared-bundle-"

static const char state_magic[8] = {'P', 'K', 'S', 'H', 'S', 'T', 'A', 'T'};
static const char bundle_magic[8] = {'P', 'K', 'S', 'H', 'B', 'N', 'D', 'L'};

/* A slot: magic[8], version u32, body length u32, generation u64, saved_mono_ms i64
 * (CLOCK_MONOTONIC: one clock for every process of a boot), MAC[32] (keyed BLAKE2b of
 * the 32 bytes before it and the body), then the body (persist_record_encode). */
#define SLOT_HEAD 64
#define SLOT_MACED 32
#define SLOT_SIZE (SLOT_HEAD + PERSIST_BODY_MAX)
/* A bundle file's head: magic[8], length u64, id (BUNDLE_ID_HEX_LEN + 1 bytes, NUL
 * padded to 40), MAC[32] (of the 56 bytes before it and the bytes), then the bytes. */
#define BUNDLE_HEAD 88

static void le_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The record's encoding: a writer and a reader that check every bound. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool over;
};

static void w_bytes(struct wbuf *w, const void *b, size_t n)
{
	if (w->over || w->cap - w->len < n) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void w_int(struct wbuf *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	le_put(b, v, n);
	w_bytes(w, b, n);
}

static void w_str(struct wbuf *w, const char *text, size_t size)
{
	size_t n = strnlen(text, size - 1);
	w_int(w, n, 2);
	w_bytes(w, text, n);
}

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	const char *bad;
};

static bool r_bytes(struct rbuf *r, void *out, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = r->bad ? r->bad : "the record is truncated";
		if (out)
			memset(out, 0, n);
		return false;
	}
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return true;
}

static uint64_t r_int(struct rbuf *r, unsigned n)
{
	uint8_t b[8];
	return r_bytes(r, b, n) ? le_get(b, n) : 0;
}

/* A string of at most size - 1 printable ASCII bytes, NUL-terminated into out. */
static void r_str(struct rbuf *r, char *out, size_t size)
{
	size_t n = (size_t)r_int(r, 2);
	out[0] = 0;
	if (r->bad)
		return;
	if (n >= size) {
		r->bad = "a string in the record is too long";
		return;
	}
	if (!r_bytes(r, out, n))
		return;
	out[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e) {
			r->bad = "a string in the record is not printable";
			out[0] = 0;
			return;
		}
}

/* A count of at most max. */
static size_t r_count(struct rbuf *r, size_t max)
{
	uint64_t n = r_int(r, 4);
	if (!r->bad && n > max)
		r->bad = "a count in the record is out of range";
	return r->bad ? 0 : (size_t)n;
}

long persist_record_encode(const struct persist_counters *c, const struct persist_record *rec,
			   uint8_t *buf, size_t cap)
{
	struct wbuf w = {.p = buf, .cap = cap};
	w_int(&w, (uint64_t)c->held_since, 8);
	w_int(&w, c->restores, 8);
	w_int(&w, c->bundle_seq, 8);
	w_int(&w, c->file_seq, 8);
	w_int(&w, rec->held, 1);
	w_str(&w, rec->held ? rec->id : "", sizeof(rec->id));
	w_str(&w, rec->held ? rec->key_id : "", sizeof(rec->key_id));
	w_int(&w, (uint64_t)rec->created_at, 8);
	w_int(&w, (uint64_t)rec->expires_at, 8);
	w_int(&w, (uint64_t)rec->deadline_ms, 8);
	w_int(&w, rec->bundle_len, 8);
	w_int(&w, rec->fetches, 8);
	w_int(&w, rec->max_fetches, 8);
	size_t n_log =
	    rec->n_fetch_log < STORE_MAX_FETCH_LOG ? rec->n_fetch_log : STORE_MAX_FETCH_LOG;
	w_int(&w, n_log, 4);
	for (size_t i = 0; i < n_log; i++) {
		const struct persist_fetch *f = &rec->fetch_log[i];
		w_int(&w, (uint64_t)f->at, 8);
		w_str(&w, f->client, sizeof(f->client));
		w_str(&w, f->cert, sizeof(f->cert));
		w_str(&w, f->source, sizeof(f->source));
		w_str(&w, f->peer, sizeof(f->peer));
	}
	w_int(&w, rec->gone, 1);
	w_str(&w, rec->gone_id, sizeof(rec->gone_id));
	w_int(&w, (uint64_t)rec->gone_at, 8);
	w_int(&w, rec->last_had_external, 1);
	size_t n_seen = rec->n_seen < STORE_MAX_SEEN_KEYS ? rec->n_seen : STORE_MAX_SEEN_KEYS;
	w_int(&w, n_seen, 4);
	for (size_t i = 0; i < n_seen; i++)
		w_str(&w, rec->seen[i], sizeof(rec->seen[i]));
	size_t n_tok = rec->n_tokens < STORE_MAX_TOKENS ? rec->n_tokens : STORE_MAX_TOKENS;
	w_int(&w, n_tok, 4);
	for (size_t i = 0; i < n_tok; i++) {
		const struct persist_token *t = &rec->tokens[i];
		w_str(&w, t->id, sizeof(t->id));
		w_bytes(&w, t->hash, sizeof(t->hash));
		w_int(&w, (uint64_t)t->expires_at, 8);
		w_int(&w, (uint64_t)t->deadline_ms, 8);
		w_int(&w, t->uses_left, 8);
		w_int(&w, t->used, 8);
		w_str(&w, t->description, sizeof(t->description));
	}
	return w.over ? -ENOBUFS : (long)w.len;
}

int persist_record_decode(const uint8_t *buf, size_t len, struct persist_counters *ret_c,
			  struct persist_record *rec, const char **ret_why)
{
	struct rbuf r = {.p = buf, .len = len};
	struct persist_counters c = {0};
	memset(rec, 0, sizeof(*rec));
	c.held_since = (int64_t)r_int(&r, 8);
	c.restores = r_int(&r, 8);
	c.bundle_seq = r_int(&r, 8);
	c.file_seq = r_int(&r, 8);
	uint64_t held = r_int(&r, 1);
	r_str(&r, rec->id, sizeof(rec->id));
	r_str(&r, rec->key_id, sizeof(rec->key_id));
	rec->created_at = (int64_t)r_int(&r, 8);
	rec->expires_at = (int64_t)r_int(&r, 8);
	rec->deadline_ms = (int64_t)r_int(&r, 8);
	rec->bundle_len = r_int(&r, 8);
	rec->fetches = r_int(&r, 8);
	rec->max_fetches = r_int(&r, 8);
	rec->n_fetch_log = r_count(&r, STORE_MAX_FETCH_LOG);
	for (size_t i = 0; i < rec->n_fetch_log && !r.bad; i++) {
		struct persist_fetch *f = &rec->fetch_log[i];
		f->at = (int64_t)r_int(&r, 8);
		r_str(&r, f->client, sizeof(f->client));
		r_str(&r, f->cert, sizeof(f->cert));
		r_str(&r, f->source, sizeof(f->source));
		r_str(&r, f->peer, sizeof(f->peer));
		if (!r.bad && f->cert[0] && !str_is_lower_hex(f->cert, STORE_CERT_ID_LEN))
			r.bad = "a record of the fetches is malformed";
	}
	uint64_t gone = r_int(&r, 1);
	r_str(&r, rec->gone_id, sizeof(rec->gone_id));
	rec->gone_at = (int64_t)r_int(&r, 8);
	uint64_t ext = r_int(&r, 1);
	rec->n_seen = r_count(&r, STORE_MAX_SEEN_KEYS);
	for (size_t i = 0; i < rec->n_seen && !r.bad; i++) {
		r_str(&r, rec->seen[i], sizeof(rec->seen[i]));
		if (!r.bad && !str_is_lower_hex(rec->seen[i], KEY_ID_HEX_LEN))
			r.bad = "a key id in the history is malformed";
	}
	rec->n_tokens = r_count(&r, STORE_MAX_TOKENS);
	for (size_t i = 0; i < rec->n_tokens && !r.bad; i++) {
		struct persist_token *t = &rec->tokens[i];
		r_str(&r, t->id, sizeof(t->id));
		r_bytes(&r, t->hash, sizeof(t->hash));
		t->expires_at = (int64_t)r_int(&r, 8);
		t->deadline_ms = (int64_t)r_int(&r, 8);
		t->uses_left = r_int(&r, 8);
		t->used = r_int(&r, 8);
		r_str(&r, t->description, sizeof(t->description));
		if (!r.bad && strlen(t->id) != TOKEN_ID_LEN)
			r.bad = "a token id is malformed";
	}
	if (!r.bad && r.off != r.len)
		r.bad = "the record has bytes after its end";
	if (!r.bad && (held > 1 || ext > 1 || gone > STORE_GONE_LOST))
		r.bad = "a flag is out of range";
	if (!r.bad && c.bundle_seq > c.file_seq)
		r.bad = "the bundle file counter is out of range";
	if (!r.bad && gone != STORE_GONE_NEVER &&
	    !str_is_lower_hex(rec->gone_id, BUNDLE_ID_HEX_LEN))
		r.bad = "the previous bundle's id is malformed";
	if (r.bad) {
		secret_wipe(rec, sizeof(*rec));
		*ret_why = r.bad;
		return -EBADMSG;
	}
	rec->held = held;
	rec->gone = (uint8_t)gone;
	rec->last_had_external = ext;
	*ret_c = c;
	return 0;
}

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

/* The MAC of a slot: its head before the MAC, and body_len bytes of body. */
static void slot_mac(const struct persist *p, const uint8_t *sl, size_t body_len,
		     uint8_t out[MAC_BYTES])
{
	mac(p, sl, SLOT_MACED, sl + SLOT_HEAD, body_len, out);
}

static uint8_t *slot_at(const struct persist *p, unsigned i)
{
	return p->state.map + (size_t)i * SLOT_SIZE;
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

/* The held bundle's part of a record that passed its MAC (refused alone: the rest stays).
 * The deadline's bound is the longest lifetime the daemon accepts (STORE_MAX_TTL_S). */
static const char *held_check(const struct persist_record *r, const struct persist_counters *c,
			      int64_t now_ms)
{
	if (!str_is_lower_hex(r->id, BUNDLE_ID_HEX_LEN) ||
	    !str_is_lower_hex(r->key_id, KEY_ID_HEX_LEN) || !r->bundle_len ||
	    r->bundle_len > BUNDLE_MAX_BYTES || r->deadline_ms <= 0 ||
	    r->deadline_ms > now_ms + STORE_MAX_TTL_S * 1000 || c->bundle_seq == 0)
		return "its description in the state is malformed";
	return NULL;
}

/* Why a slot of another format is not read. */
static void other_format(char *why, size_t len, uint32_t version)
{
	if (version > PERSIST_FORMAT_VERSION) {
		snprintf(why, len,
			 "the state was written in format %u by a newer version of pkishared, "
			 "and this one reads format %d only (a downgrade?): the held bundle, the "
			 "join tokens and the key-id history it held are dropped; upload again "
			 "(pkishare upload-certs) and re-create join tokens",
			 version, PERSIST_FORMAT_VERSION);
		return;
	}
	snprintf(why, len,
		 "the state was written in format %u by another version of pkishared, and this "
		 "one reads format %d only (an upgrade from before issue 31 does not carry the "
		 "held state over): the held bundle, the join tokens and the key-id history it "
		 "held are dropped; upload again (pkishare upload-certs) and re-create join "
		 "tokens",
		 version, PERSIST_FORMAT_VERSION);
}

/* The newest slot that passes every check, decoded into rec; false with p->why set. */
static bool pick_slot(struct persist *p, struct persist_record *rec, struct persist_counters *c,
		      uint64_t *ret_generation)
{
	int64_t now = time_mono_ms();
	const char *why = "neither copy of the state passes its integrity check (MAC)";
	uint64_t gen[2] = {0, 0};
	bool ok[2] = {false, false};
	bool mac_failed = false; /* a copy of ours (its magic) whose MAC does not match */
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *sl = slot_at(p, i);
		uint8_t m[MAC_BYTES];
		uint32_t version = (uint32_t)le_get(sl + 8, 4);
		size_t body_len = (size_t)le_get(sl + 12, 4);
		if (memcmp(sl, state_magic, sizeof(state_magic)) != 0)
			continue;
		if (version != PERSIST_FORMAT_VERSION) {
			other_format(p->why, sizeof(p->why), version);
			return false;
		}
		if (body_len > PERSIST_BODY_MAX)
			continue; /* the MAC's length comes from it: bound it first */
		slot_mac(p, sl, body_len, m);
		if (!secret_equal(m, sl + 32, MAC_BYTES)) {
			mac_failed = true;
			continue;
		}
		if ((int64_t)le_get(sl + 24, 8) > now) {
			why = "the state is dated after now (another boot?)";
			continue;
		}
		gen[i] = le_get(sl + 16, 8);
		ok[i] = true;
	}
	/* The newer first; a record that fails its checks gives way to the other. */
	unsigned order[2] = {0, 1};
	if (ok[1] && (!ok[0] || gen[1] > gen[0]))
		order[0] = 1, order[1] = 0;
	for (unsigned k = 0; k < 2; k++) {
		unsigned i = order[k];
		if (!ok[i])
			continue;
		const uint8_t *sl = slot_at(p, i);
		const char *bad = NULL;
		if (persist_record_decode(sl + SLOT_HEAD, (size_t)le_get(sl + 12, 4), c, rec,
					  &bad) < 0) {
			why = bad;
			continue;
		}
		uint64_t kg = key_generation(p);
		if (gen[i] < kg || gen[i] > kg + 1) {
			secret_wipe(rec, sizeof(*rec));
			/* Corruption says corruption: the newest copy failing its MAC leaves
			 * only the older one, which is then older than the last state written
			 * without any rollback. */
			snprintf(p->why, sizeof(p->why), "%s",
				 gen[i] < kg && mac_failed
				     ? "the newest copy of the state fails its integrity check "
				       "(MAC: corrupted), and the other copy is older than the "
				       "last state written"
				 : gen[i] < kg
				     ? "the state file is older than the last state written "
				       "(rolled back to an earlier copy?)"
				     : "the state file is newer than the key file says");
			return false;
		}
		*ret_generation = gen[i];
		return true;
	}
	snprintf(p->why, sizeof(p->why), "%s", why);
	return false;
}

/* The held bundle's bytes from their file, checked; NULL with *why set. */
static struct secret *bundle_take(struct persist *p, const struct persist_record *r,
				  struct persist_file *f, const char **why)
{
	*why = "its file is malformed";
	if (map_given(f) < 0 || f->len < BUNDLE_HEAD + r->bundle_len)
		return NULL;
	const uint8_t *h = f->map;
	uint8_t want[MAC_BYTES];
	struct secret *data = NULL;
	mac(p, h, BUNDLE_HEAD - MAC_BYTES, f->map + BUNDLE_HEAD, r->bundle_len, want);
	if (memcmp(h, bundle_magic, sizeof(bundle_magic)) != 0 ||
	    le_get(h + 8, 8) != r->bundle_len ||
	    strncmp((const char *)h + 16, r->id, BUNDLE_ID_HEX_LEN + 1) != 0)
		*why = "its file does not match the state";
	else if (!secret_equal(want, h + BUNDLE_HEAD - MAC_BYTES, MAC_BYTES))
		*why = "its file fails its integrity check (MAC)";
	else if (!(data = secret_dup(f->map + BUNDLE_HEAD, r->bundle_len)))
		*why = "out of memory";
	if (data)
		adopt(&p->bundle, f);
	return data;
}

/* Take back what systemd kept: true with rec filled if there was a usable state. */
static bool restore(struct persist *p, struct persist_record *rec, struct secret **ret_bundle)
{
	struct persist_file *k = given(p, KEY_NAME), *st = given(p, STATE_NAME);
	struct persist_counters c;
	uint64_t generation = 0;
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
	if (p->state.len >= 16 && memcmp(p->state.map, state_magic, sizeof(state_magic)) == 0 &&
	    le_get(p->state.map + 8, 4) != PERSIST_FORMAT_VERSION) {
		other_format(p->why, sizeof(p->why), (uint32_t)le_get(p->state.map + 8, 4));
		return false;
	}
	if (p->key.len != page_round(KEY_FILE_BYTES) ||
	    p->state.len != page_round(2 * (size_t)SLOT_SIZE)) {
		snprintf(p->why, sizeof(p->why), "the state's files have the wrong size");
		return false;
	}
	if (!pick_slot(p, rec, &c, &generation))
		return false;
	struct secret *data = NULL;
	/* The bundle has its own MAC and its own checks: when only it is unusable, it alone
	 * is dropped, and the join tokens and the key-id history (what makes a certificate
	 * key one-time) are kept. */
	if (rec->held) {
		char name[64];
		const char *why;
		bundle_name(name, rec->id, c.bundle_seq);
		struct persist_file *f = given(p, name);
		why = held_check(rec, &c, time_mono_ms());
		if (!why && !f)
			why = "its file is missing from systemd's store";
		if (!why)
			data = bundle_take(p, rec, f, &why);
		if (!data)
			snprintf(p->why, sizeof(p->why),
				 "the held bundle %.*s was dropped: %s (its join tokens and key-id "
				 "history were kept)",
				 BUNDLE_ID_HEX_LEN, rec->id, why);
	}
	*ret_bundle = data;
	p->bundle_seq = data ? c.bundle_seq : 0;
	p->file_seq = c.file_seq;
	p->generation = generation;
	p->held_since = c.held_since;
	p->restores = c.restores + 1;
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

int persist_start(struct persist *p, struct persist_record *ret, struct secret **ret_bundle)
{
	if (!getenv("NOTIFY_SOCKET")) {
		snprintf(p->why, sizeof(p->why),
			 "not started by systemd: the held state ends with this process");
		for (size_t i = 0; i < p->n_given; i++)
			drop(&p->given[i]);
		return 0;
	}
	p->secretmem = secretmem_works();
	p->fdstore_max = fdstore_max();
	*ret_bundle = NULL;
	p->restored = restore(p, ret, ret_bundle);
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
		*ret_bundle = secret_free(*ret_bundle);
		return 0;
	}
	if (!p->restored) {
		drop(&p->key);
		drop(&p->state);
		drop(&p->bundle);
		int r = mem_file(p, KEY_NAME, KEY_FILE_BYTES, &p->key);
		if (r == 0)
			r = mem_file(p, STATE_NAME, 2 * (size_t)SLOT_SIZE, &p->state);
		if (r == 0) {
			randombytes_buf(p->key.map, crypto_generichash_KEYBYTES);
			r = to_store(p->key.fd, KEY_NAME);
		}
		if (r == 0)
			r = to_store(p->state.fd, STATE_NAME);
		if (r < 0) {
			why_add(p, "cannot keep the state in systemd's store: %s", strerror(-r));
			persist_drop_all(p);
			return 0;
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
	return p->restored ? 1 : 0;
}

void persist_save_locked(struct persist *p, const struct persist_record *rec)
{
	if (!p || !p->enabled)
		return;
	uint8_t *sl = slot_at(p, (unsigned)((p->generation + 1) % 2));
	struct persist_counters c = {.held_since = p->held_since,
				     .restores = p->restores,
				     .bundle_seq = rec->held ? p->bundle_seq : 0,
				     .file_seq = p->file_seq};
	/* Spoil the slot first: a kill while writing it leaves the other one in force. */
	memset(sl + SLOT_MACED, 0, MAC_BYTES);
	long n = persist_record_encode(&c, rec, sl + SLOT_HEAD, PERSIST_BODY_MAX);
	if (n < 0) /* not reached: PERSIST_BODY_MAX bounds every record */
		return;
	memcpy(sl, state_magic, sizeof(state_magic));
	le_put(sl + 8, PERSIST_FORMAT_VERSION, 4);
	le_put(sl + 12, (uint64_t)n, 4);
	le_put(sl + 16, p->generation + 1, 8);
	le_put(sl + 24, (uint64_t)time_mono_ms(), 8);
	slot_mac(p, sl, (size_t)n, sl + SLOT_MACED);
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
	int r = mem_file(p, name, BUNDLE_HEAD + data->len, f);
	if (r < 0)
		return r;
	uint8_t h[BUNDLE_HEAD] = {0};
	memcpy(h, bundle_magic, sizeof(bundle_magic));
	le_put(h + 8, data->len, 8);
	memcpy(h + 16, id, strnlen(id, BUNDLE_ID_HEX_LEN));
	memcpy(f->map + BUNDLE_HEAD, data->data, data->len);
	mac(p, h, BUNDLE_HEAD - MAC_BYTES, data->data, data->len, h + BUNDLE_HEAD - MAC_BYTES);
	memcpy(f->map, h, BUNDLE_HEAD);
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

void persist_bundle_cancel(struct persist *p)
{
	if (p)
		drop(&p->next_bundle);
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

void persist_status(const struct persist *p, struct persist_status *ret)
{
	*ret = (struct persist_status){.kept = p->enabled,
				       .memory = persist_kind(p),
				       .held_since = p->held_since,
				       .restores = p->restores,
				       .refused = p->refused};
	str_copy(ret->note, sizeof(ret->note), p->why);
}

const char *persist_kind(const struct persist *p)
{
	return !p->enabled ? "none" : p->secretmem ? "memfd_secret" : "memfd";
}
