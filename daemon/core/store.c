/* store.c - the held state, by concept (store.h): joins the bytes this node holds
 * (held.c), the ledger's decisions (ledger.h, one-node: ledger-local.c) and join tokens
 * (tokens.c); runs the reaper; writes every change through persist.h, as a record persist
 * owns, before it is acknowledged.
 *
 * Must wipe the held bytes (not just drop the pointer) on expiry, replacement, deletion,
 * the last allowed fetch and shutdown, and never serve them past either deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "persist.h"
#include "store.h"
#include "util.h"

int store_init(struct store *s)
{
	pthread_condattr_t ca;

	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0 || pthread_mutex_init(&s->put_lock, NULL) != 0)
		return -ENOMEM;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	/* Deadlines use the monotonic clock: moving the wall clock does not move expiry. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int r = pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (r != 0)
		return -ENOMEM;
	return ledger_local_open(&s->ledger);
}

/* The ledger's thread: what the cluster says may have changed; the reaper looks. */
static void ledger_changed(void *arg)
{
	struct store *s = arg;
	pthread_mutex_lock(&s->lock);
	s->ledger_changed = true;
	pthread_cond_broadcast(&s->wake);
	void (*fn)(void *) = s->on_change;
	void *fn_arg = s->on_change_arg;
	pthread_mutex_unlock(&s->lock);
	if (fn)
		fn(fn_arg);
}

void store_on_cluster_change(struct store *s, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&s->lock);
	s->on_change = fn;
	s->on_change_arg = arg;
	pthread_mutex_unlock(&s->lock);
}

int store_coordinate(struct store *s, const struct ledger_coord_config *cfg)
{
	struct ledger l = {0};
	int r = ledger_coord_open(&l, cfg);
	if (r < 0)
		return r;
	s->ledger.ops->done(&s->ledger);
	s->ledger = l;
	s->ledger.ops->watch(&s->ledger, ledger_changed, s);
	return 0;
}

void store_coord_state(struct store *s, struct ledger_coord_state *ret)
{
	if (s->ledger.ops->state)
		s->ledger.ops->state(&s->ledger, ret);
	else
		memset(ret, 0, sizeof(*ret));
}

/* Called with the lock held, after the held bytes changed: tell the ledger what this node
 * holds (peers may copy it from here). */
static void holding_locked(struct store *s)
{
	if (s->ledger.ops->holding)
		s->ledger.ops->holding(&s->ledger, s->held.blob ? s->held.id : "");
}

/* Called with the lock held: the record of everything, for persist. */
static void record_fill_locked(struct store *s, struct persist_record *r)
{
	struct ledger_view lv;
	s->ledger.ops->view(&s->ledger, &lv);
	r->held = s->held.blob && lv.current && strcmp(lv.id, s->held.id) == 0;
	str_copy(r->id, sizeof(r->id), r->held ? s->held.id : "");
	str_copy(r->key_id, sizeof(r->key_id), r->held ? s->held.key_id : "");
	r->created_at = r->held ? s->held.created_at : 0;
	r->expires_at = r->held ? s->held.expires_at : 0;
	r->deadline_ms = r->held ? s->held.deadline_ms : 0;
	r->bundle_len = r->held ? s->held.blob->data->len : 0;
	r->fetches = r->held ? lv.fetches : 0;
	r->max_fetches = r->held ? lv.max_fetches : 0;
	/* Through the scratch room beside the record: not on this thread's stack. */
	r->n_fetch_log =
	    r->held ? s->ledger.ops->fetch_log(&s->ledger, s->record_log, STORE_MAX_FETCH_LOG) : 0;
	for (size_t i = 0; i < r->n_fetch_log; i++) {
		const struct store_fetch_record *f = &s->record_log[i];
		struct persist_fetch *t = &r->fetch_log[i];
		t->at = f->at;
		str_copy(t->client, sizeof(t->client), f->client);
		str_copy(t->cert, sizeof(t->cert), f->cert);
		str_copy(t->source, sizeof(t->source), f->source);
		str_copy(t->peer, sizeof(t->peer), f->peer);
	}
	r->gone = (uint8_t)lv.gone;
	str_copy(r->gone_id, sizeof(r->gone_id), lv.gone_id);
	r->gone_at = lv.gone_at;
	r->last_had_external = lv.last_had_external;
	r->n_seen = s->ledger.ops->key_ids(&s->ledger, r->seen, STORE_MAX_SEEN_KEYS);
	r->n_tokens = s->tokens.n;
	for (size_t i = 0; i < s->tokens.n; i++) {
		const struct store_token *k = &s->tokens.t[i];
		struct persist_token *t = &r->tokens[i];
		str_copy(t->id, sizeof(t->id), k->id);
		memcpy(t->hash, k->hash, sizeof(t->hash));
		t->expires_at = k->expires_at;
		t->deadline_ms = k->deadline_ms;
		t->uses_left = k->uses_left;
		t->used = k->used;
		str_copy(t->description, sizeof(t->description), k->description);
	}
}

/* Called with the lock held, after every change: write it where it outlives a restart. */
static void changed_locked(struct store *s)
{
	if (!s->persist || !s->persist->enabled || !s->record)
		return;
	record_fill_locked(s, s->record);
	persist_save_locked(s->persist, s->record);
	secret_wipe(s->record->tokens, s->record->n_tokens * sizeof(s->record->tokens[0]));
}

/* Called with the lock held: the held bytes go, and the ledger is told why (when it
 * still has them as current). */
static void let_go_locked(struct store *s, enum store_gone why)
{
	if (!s->held.blob)
		return;
	(void)s->ledger.ops->retire(&s->ledger, s->held.id, why);
	held_wipe(&s->held);
	persist_bundle_retire(s->persist);
	holding_locked(s);
}

/* Called with the lock held: wipe an expired bundle and say so, whoever noticed first
 * (the reaper, or a request that arrived before it woke). */
static void expire_locked(struct store *s)
{
	char id[BUNDLE_ID_HEX_LEN + 1];
	str_copy(id, sizeof(id), s->held.id);
	let_go_locked(s, STORE_GONE_EXPIRED);
	changed_locked(s);
	log_audit(
	    &(struct audit){
		.event = AUDIT_EXPIRE, .peer = "reaper", .bundle_id = id, .result = "ok"},
	    "bundle %s reached its deadline and was wiped", id);
}

/* Called with the lock held: a request arriving after the deadline never gets the
 * bundle, even if the reaper has not run yet. */
static void check_deadline_locked(struct store *s)
{
	if (held_past_deadline(&s->held, time_mono_ms(), time_now()))
		expire_locked(s);
}

/* Called with the lock held, when the ledger heard of another node's doing: held bytes
 * that are no longer the cluster's current bundle go (deleted, replaced or used up
 * elsewhere: the watch brought it). */
static void reconcile_locked(struct store *s)
{
	struct ledger_view lv;
	if (!s->held.blob)
		return;
	s->ledger.ops->view(&s->ledger, &lv);
	if (lv.current && strcmp(lv.id, s->held.id) == 0)
		return;
	enum store_gone why = !strcmp(lv.gone_id, s->held.id) ? lv.gone
			      : lv.current		      ? STORE_GONE_REPLACED
							      : STORE_GONE_LOST;
	char id[BUNDLE_ID_HEX_LEN + 1];
	str_copy(id, sizeof(id), s->held.id);
	held_wipe(&s->held);
	persist_bundle_retire(s->persist);
	holding_locked(s);
	changed_locked(s);
	log_audit(&(struct audit){.event = AUDIT_WIPE,
				  .peer = "cluster",
				  .bundle_id = id,
				  .result = store_gone_name(why)},
		  "bundle %s is no longer current in the cluster (%s): wiped here", id,
		  store_gone_name(why));
}

static void *reaper_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		if (s->ledger_changed) {
			s->ledger_changed = false;
			reconcile_locked(s);
		}
		if (tokens_expire(&s->tokens, time_mono_ms()) > 0)
			changed_locked(s);
		if (held_past_deadline(&s->held, time_mono_ms(), time_now())) {
			expire_locked(s);
			continue;
		}
		int64_t next = held_next_deadline(&s->held, time_mono_ms(), time_now());
		int64_t tok = tokens_next_deadline(&s->tokens);
		if (tok < next)
			next = tok;
		/* The wall clock may pass expiresAt first (a suspend): look at least once a
		 * minute while a bundle is held. */
		if (s->held.blob && next > time_mono_ms() + 60000)
			next = time_mono_ms() + 60000;
		if (next != INT64_MAX) {
			struct timespec ts = {.tv_sec = next / 1000,
					      .tv_nsec = (next % 1000) * 1000000L};
			pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		} else {
			pthread_cond_wait(&s->wake, &s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int store_start_reaper(struct store *s)
{
	int r = pthread_create(&s->reaper, NULL, reaper_main, s);
	if (r != 0)
		return -r;
	s->reaper_running = true;
	if (s->ledger.ops == &ledger_coord_ops)
		return ledger_coord_start(&s->ledger);
	return 0;
}

/* The record a save fills (~100 KiB, mostly the key-id history's room) and, after it,
 * room for the fetch log on its way into it: one mapping of their own, so that pages never
 * written (a short history, or no save at all) cost no memory, out of core dumps (token
 * hashes pass through it). */
#define RECORD_MAP_BYTES                                                                           \
	(sizeof(struct persist_record) + STORE_MAX_FETCH_LOG * sizeof(struct store_fetch_record))

static struct persist_record *record_new(struct store_fetch_record **ret_log)
{
	void *m = mmap(NULL, RECORD_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	(void)madvise(m, RECORD_MAP_BYTES, MADV_DONTDUMP);
	*ret_log = (struct store_fetch_record *)((char *)m + sizeof(struct persist_record));
	return m;
}

static struct persist_record *record_free(struct persist_record *r)
{
	if (r) {
		/* Token hashes are wiped after every save; the kernel zeroes the rest. */
		secret_wipe(r->tokens, sizeof(r->tokens));
		munmap(r, RECORD_MAP_BYTES);
	}
	return NULL;
}

void store_done(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	held_wipe(&s->held);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (s->reaper_running)
		pthread_join(s->reaper, NULL);
	tokens_wipe(&s->tokens);
	if (s->ledger.ops)
		s->ledger.ops->done(&s->ledger);
	s->record = record_free(s->record);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->put_lock);
	pthread_mutex_destroy(&s->lock);
}

void store_attach(struct store *s, struct persist *p)
{
	struct secret *data = NULL;
	struct store_fetch_record *log = NULL;
	struct persist_record *rec = record_new(&log);
	if (!rec) {
		snprintf(p->why, sizeof(p->why), "out of memory: the held state is not kept");
		return;
	}
	pthread_mutex_lock(&s->lock);
	int started = persist_start(p, rec, &data);
	if (started <= 0 && p->refused) {
		/* A kept state refused whole (another format, a failed MAC, a rollback): what
		 * it held is lost, and a joiner is told so (410 lost, pointing at pkishare
		 * status for why), never that nothing was uploaded. Its id is unknown. */
		struct ledger_view lv = {.gone = STORE_GONE_LOST, .gone_at = time_now()};
		snprintf(lv.gone_id, sizeof(lv.gone_id), "%0*d", BUNDLE_ID_HEX_LEN, 0);
		(void)s->ledger.ops->load(&s->ledger, &lv, log, (const void *)rec->seen, 0);
	}
	if (started > 0) {
		struct ledger_view lv = {0};
		lv.current = rec->held && data;
		str_copy(lv.id, sizeof(lv.id), rec->id);
		str_copy(lv.key_id, sizeof(lv.key_id), rec->key_id);
		lv.fetches = rec->fetches;
		lv.max_fetches = rec->max_fetches;
		lv.n_fetch_log = rec->n_fetch_log;
		for (size_t i = 0; i < rec->n_fetch_log; i++) {
			const struct persist_fetch *f = &rec->fetch_log[i];
			struct store_fetch_record *t = &log[i];
			t->at = f->at;
			str_copy(t->client, sizeof(t->client), f->client);
			str_copy(t->cert, sizeof(t->cert), f->cert);
			str_copy(t->source, sizeof(t->source), f->source);
			str_copy(t->peer, sizeof(t->peer), f->peer);
		}
		lv.gone = (enum store_gone)rec->gone;
		str_copy(lv.gone_id, sizeof(lv.gone_id), rec->gone_id);
		lv.gone_at = rec->gone_at;
		lv.last_had_external = rec->last_had_external;
		if (rec->held && !data) {
			/* Held before the restart, unusable now (p->why says why). A malformed id
			 * is not carried on: the next restore would refuse the record. */
			lv.gone = STORE_GONE_LOST;
			if (str_is_lower_hex(rec->id, BUNDLE_ID_HEX_LEN))
				str_copy(lv.gone_id, sizeof(lv.gone_id), rec->id);
			else
				snprintf(lv.gone_id, sizeof(lv.gone_id), "%0*d", BUNDLE_ID_HEX_LEN,
					 0);
			lv.gone_at = time_now();
		}
		(void)s->ledger.ops->load(&s->ledger, &lv, log, (const void *)rec->seen,
					  rec->n_seen);
		if (lv.current) {
			struct held_blob *blob = held_blob_new(data);
			struct bundle meta = {0};
			/* The profile is the bundle's own: read again from the bytes. */
			if (blob)
				(void)bundle_parse((const char *)blob->data->data, blob->data->len,
						   &meta, NULL);
			str_copy(meta.id, sizeof(meta.id), rec->id);
			str_copy(meta.key_id, sizeof(meta.key_id), rec->key_id);
			meta.created_at = rec->created_at;
			meta.expires_at = rec->expires_at;
			if (blob) {
				held_set(&s->held, blob, &meta, rec->deadline_ms);
				holding_locked(s);
			} else
				(void)s->ledger.ops->retire(&s->ledger, rec->id, STORE_GONE_LOST);
			bundle_done(&meta);
		}
		for (size_t i = 0; i < rec->n_tokens && i < STORE_MAX_TOKENS; i++) {
			const struct persist_token *t = &rec->tokens[i];
			struct store_token *k = &s->tokens.t[s->tokens.n++];
			str_copy(k->id, sizeof(k->id), t->id);
			memcpy(k->hash, t->hash, sizeof(k->hash));
			k->expires_at = t->expires_at;
			k->deadline_ms = t->deadline_ms;
			k->uses_left = t->uses_left;
			k->used = t->used;
			str_copy(k->description, sizeof(k->description), t->description);
		}
		secret_wipe(rec->tokens, rec->n_tokens * sizeof(rec->tokens[0]));
	}
	s->persist = p;
	if (p->enabled) {
		s->record = rec;
		s->record_log = log;
	} else
		record_free(rec); /* nothing is kept: no record to fill */
	changed_locked(s);	  /* the restore count, at once */
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

void store_detach(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	s->persist = NULL;
	pthread_mutex_unlock(&s->lock);
}

/* Called with the lock held: hold blob (its reference taken) as bundle meta until
 * deadline_ms, in place of what was held; kept (persist committed), told to the ledger
 * (peers may copy it), saved, and the reaper woken for its deadline. */
static void hold_locked(struct store *s, struct held_blob *blob, const struct bundle *meta,
			int64_t deadline_ms)
{
	held_wipe(&s->held);
	persist_bundle_commit(s->persist);
	held_set(&s->held, blob, meta, deadline_ms);
	holding_locked(s);
	changed_locked(s);
	pthread_cond_broadcast(&s->wake);
}

/* store_put with a ledger that asks elsewhere (claim_waits): etcd decides first, without
 * the held state's lock (the serving thread must never wait for it), then the bytes are
 * held and kept. Uploads on this node are one at a time (put_lock). */
static int put_elsewhere(struct store *s, struct held_blob *blob, const struct bundle *meta,
			 int64_t ttl_ms, const struct ledger_bundle *lb,
			 char ret_replaced[BUNDLE_ID_HEX_LEN + 1])
{
	pthread_mutex_lock(&s->put_lock);
	int r = s->ledger.ops->announce(&s->ledger, lb, ret_replaced);
	if (r < 0) {
		pthread_mutex_unlock(&s->put_lock);
		held_blob_unref(blob);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	r = persist_bundle_put(s->persist, meta->id, blob->data);
	if (r < 0) {
		/* Announced, and cannot be kept: it goes everywhere ("lost"). */
		(void)s->ledger.ops->retire(&s->ledger, meta->id, STORE_GONE_LOST);
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->put_lock);
		held_blob_unref(blob);
		return r;
	}
	hold_locked(s, blob, meta, time_mono_ms() + ttl_ms);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->put_lock);
	return 0;
}

int store_put(struct store *s, struct secret *json, const struct bundle *meta, int64_t ttl_ms,
	      uint64_t max_fetches, bool allow_drop_external,
	      char ret_replaced[BUNDLE_ID_HEX_LEN + 1])
{
	bool has_external = false;
	struct ledger_view lv;
	uint8_t digest[crypto_hash_sha256_BYTES];
	char sha256[crypto_hash_sha256_BYTES * 2 + 1];
	struct held_blob *blob = held_blob_new(json);
	if (!blob)
		return -ENOMEM;
	for (size_t i = 0; i < meta->files.n; i++)
		has_external |= pki_known_lookup(meta->files.e[i].name)->external;
	crypto_hash_sha256(digest, blob->data->data, blob->data->len);
	sodium_bin2hex(sha256, sizeof(sha256), digest, sizeof(digest));
	struct ledger_bundle lb = {.id = meta->id,
				   .key_id = meta->key_id,
				   .sha256 = sha256,
				   .bytes = blob->data->len,
				   .expires_at = meta->expires_at,
				   .max_fetches = max_fetches,
				   .has_external = has_external,
				   .allow_drop_external = allow_drop_external};
	ret_replaced[0] = 0;
	if (s->ledger.ops->claim_waits(&s->ledger))
		return put_elsewhere(s, blob, meta, ttl_ms, &lb, ret_replaced);
	pthread_mutex_lock(&s->lock);
	/* The ledger's refusals first, so that a refused upload makes no file. */
	s->ledger.ops->view(&s->ledger, &lv);
	int r = 0;
	if (lv.last_had_external && !has_external && !allow_drop_external)
		r = -EXDEV;
	else if (s->ledger.ops->key_id_seen(&s->ledger, meta->key_id) > 0)
		r = -EEXIST;
	else if (lv.n_seen >= STORE_MAX_SEEN_KEYS)
		r = -ENOSPC;
	/* The bytes go where they outlive a restart before anything changes here. */
	if (r == 0)
		r = persist_bundle_put(s->persist, meta->id, json);
	if (r == 0) {
		r = s->ledger.ops->announce(&s->ledger, &lb, ret_replaced);
		if (r < 0)
			persist_bundle_cancel(s->persist);
	}
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		held_blob_unref(blob);
		return r;
	}
	/* The ledger retired the replaced bundle itself ("replaced"). */
	hold_locked(s, blob, meta, time_mono_ms() + ttl_ms);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static enum store_fetch gone_fetch(enum store_gone g)
{
	switch (g) {
	case STORE_GONE_EXPIRED:
		return STORE_FETCH_EXPIRED;
	case STORE_GONE_USED_UP:
		return STORE_FETCH_USED_UP;
	case STORE_GONE_DELETED:
		return STORE_FETCH_DELETED;
	case STORE_GONE_LOST:
		return STORE_FETCH_LOST;
	default:
		return STORE_FETCH_NONE;
	}
}

enum store_fetch store_fetch(struct store *s, const char *want_id, const char *client,
			     const char *cert, const char *source, const char *peer,
			     struct held_blob **ret_blob, char ret_id[BUNDLE_ID_HEX_LEN + 1],
			     uint64_t *ret_fetch_no, bool *ret_repeat, int64_t *ret_gone_at)
{
	return store_fetch_unless_gone(s, want_id, client, cert, source, peer, NULL, NULL, ret_blob,
				       ret_id, ret_fetch_no, ret_repeat, ret_gone_at);
}

enum store_fetch store_fetch_unless_gone(struct store *s, const char *want_id, const char *client,
					 const char *cert, const char *source, const char *peer,
					 bool (*gone)(void *arg), void *arg,
					 struct held_blob **ret_blob,
					 char ret_id[BUNDLE_ID_HEX_LEN + 1], uint64_t *ret_fetch_no,
					 bool *ret_repeat, int64_t *ret_gone_at)
{
	char id[BUNDLE_ID_HEX_LEN + 1];
	struct ledger_claim claim;
	const struct ledger_claimant who = {
	    .client = client, .cert = cert, .source = source, .peer = peer};

	for (unsigned attempt = 0;; attempt++) {
		/* 1. A reference to the held bytes (or why there are none). */
		pthread_mutex_lock(&s->lock);
		check_deadline_locked(s);
		if (!s->held.blob) {
			struct ledger_view lv;
			s->ledger.ops->view(&s->ledger, &lv);
			pthread_mutex_unlock(&s->lock);
			/* Coordination: another node's bundle, not copied here (yet). */
			if (lv.current) {
				str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, lv.id);
				return want_id && strcmp(want_id, lv.id) != 0
					   ? STORE_FETCH_OTHER
					   : STORE_FETCH_NOT_HERE;
			}
			str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, lv.gone_id);
			*ret_gone_at = lv.gone_at;
			return gone_fetch(lv.gone);
		}
		str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, s->held.id);
		/* A bundle uploaded since the client's plan is neither handed out nor counted
		 * (the client could not open it). */
		if (want_id && strcmp(want_id, s->held.id) != 0) {
			struct ledger_view lv;
			s->ledger.ops->view(&s->ledger, &lv);
			pthread_mutex_unlock(&s->lock);
			/* Coordination: a bundle this node has not heard of may be newer than what
			 * it last heard (cut off from etcd, or its watch behind): not for it to
			 * call replaced; another node may hold it. */
			if (s->ledger.ops->current && strcmp(lv.gone_id, want_id) != 0) {
				str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, want_id);
				return STORE_FETCH_NOT_HERE;
			}
			return STORE_FETCH_OTHER;
		}
		struct held_blob *ref = held_ref(&s->held);
		str_copy(id, sizeof(id), s->held.id);
		pthread_mutex_unlock(&s->lock);

		/* 2. A slot, from the ledger: may wait, so without our lock. */
		int r = s->ledger.ops->claim(&s->ledger, id, &who, &claim);
		if (r < 0 || claim.result != LEDGER_CLAIM_OK) {
			held_blob_unref(ref);
			/* Replaced while we claimed: whatever is held now, if the client named
			 * none. */
			if (r == 0 && claim.result == LEDGER_CLAIM_OTHER && !want_id &&
			    attempt == 0)
				continue;
			if (r == 0 && claim.result == LEDGER_CLAIM_OTHER) {
				str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, claim.current);
				return STORE_FETCH_OTHER;
			}
			if (r < 0)
				return STORE_FETCH_UNAVAILABLE;
			str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, claim.gone_id);
			*ret_gone_at = claim.gone_at;
			return gone_fetch(claim.gone);
		}

		/* 3. Serve: unless the deadline passed while we claimed; the last slot wipes. */
		pthread_mutex_lock(&s->lock);
		bool ours = s->held.blob && strcmp(s->held.id, id) == 0;
		if (ours && held_past_deadline(&s->held, time_mono_ms(), time_now())) {
			expire_locked(s);
			pthread_mutex_unlock(&s->lock);
			held_blob_unref(ref);
			*ret_gone_at = time_now();
			return STORE_FETCH_EXPIRED;
		}
		/* The client left while its claim waited: nothing was delivered, so nothing
		 * counts. Asked before the last slot lets the bytes go, so that a bundle given
		 * back is still there to serve. */
		if (gone && gone(arg)) {
			/* (A save of another fetch may have caught this claim's count: save
			 * again once it is given back.) */
			if ((ours || !claim.last) &&
			    s->ledger.ops->release(&s->ledger, id, &who, &claim) == 0 &&
			    !claim.repeat)
				changed_locked(s);
			pthread_mutex_unlock(&s->lock);
			held_blob_unref(ref);
			return STORE_FETCH_ABANDONED;
		}
		if (claim.last && ours) {
			held_wipe(&s->held);
			persist_bundle_retire(s->persist);
			holding_locked(s);
			pthread_cond_broadcast(&s->wake);
		}
		if (!claim.repeat)
			changed_locked(s);
		pthread_mutex_unlock(&s->lock);
		*ret_fetch_no = claim.fetch_no;
		*ret_repeat = claim.repeat;
		*ret_blob = ref;
		return STORE_FETCH_OK;
	}
}

bool store_fetch_waits(struct store *s)
{
	return s->ledger.ops->claim_waits(&s->ledger);
}

int store_delete(struct store *s, char ret_id[BUNDLE_ID_HEX_LEN + 1])
{
	pthread_mutex_lock(&s->lock);
	check_deadline_locked(s);
	if (!s->held.blob) {
		/* Held elsewhere only: the ledger's current bundle goes everywhere. */
		struct ledger_view lv;
		s->ledger.ops->view(&s->ledger, &lv);
		int r = -ENOENT;
		if (lv.current && s->ledger.ops->claim_waits(&s->ledger)) {
			str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, lv.id);
			r = s->ledger.ops->retire(&s->ledger, lv.id, STORE_GONE_DELETED);
		}
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, s->held.id);
	let_go_locked(s, STORE_GONE_DELETED);
	changed_locked(s);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int store_peer_of(struct store *s, const char *pin, char ret_node[LEDGER_TEXT_MAX + 1])
{
	ret_node[0] = 0;
	return s->ledger.ops->peer_of ? s->ledger.ops->peer_of(&s->ledger, pin, ret_node) : 0;
}

int store_peer_connect(struct store *s, const char *node, struct ledger_holder *ret, int *ret_fd,
		       char *why, size_t why_len)
{
	if (!s->ledger.ops->connect) {
		snprintf(why, why_len, "coordination is off");
		return -EOPNOTSUPP;
	}
	return s->ledger.ops->connect(&s->ledger, node, ret, ret_fd, why, why_len);
}

int store_hold_copy(struct store *s, struct secret *json, const struct bundle *meta,
		    int64_t max_ttl_ms)
{
	struct ledger_view lv;
	struct held_blob *blob = held_blob_new(json);
	if (!blob)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	s->ledger.ops->view(&s->ledger, &lv);
	int r = 0;
	if (s->held.blob && strcmp(s->held.id, meta->id) == 0)
		r = -EALREADY;
	else if (!lv.current || strcmp(lv.id, meta->id) != 0)
		r = -ESTALE;
	int64_t left_ms = (meta->expires_at - time_now()) * 1000;
	if (r == 0 && left_ms <= 0)
		r = -ESTALE;
	if (r == 0)
		r = persist_bundle_put(s->persist, meta->id, blob->data);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		held_blob_unref(blob);
		return r;
	}
	hold_locked(s, blob, meta, time_mono_ms() + (left_ms < max_ttl_ms ? left_ms : max_ttl_ms));
	pthread_mutex_unlock(&s->lock);
	return 0;
}

bool store_holds(struct store *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	bool r = s->held.blob && strcmp(s->held.id, id) == 0;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_peer_current(struct store *s, const char *id)
{
	return s->ledger.ops->current ? s->ledger.ops->current(&s->ledger, id) : 0;
}

struct held_blob *store_peer_ref(struct store *s, const char *id)
{
	struct held_blob *ref = NULL;
	pthread_mutex_lock(&s->lock);
	check_deadline_locked(s);
	if (s->held.blob && strcmp(s->held.id, id) == 0)
		ref = held_ref(&s->held);
	pthread_mutex_unlock(&s->lock);
	return ref;
}

int store_retire_lost(struct store *s, const char *id)
{
	struct ledger_view lv;
	int r = -EALREADY;
	/* Uploads are one at a time (put_lock): not between an upload's announce and its hold. */
	pthread_mutex_lock(&s->put_lock);
	pthread_mutex_lock(&s->lock);
	s->ledger.ops->view(&s->ledger, &lv);
	if (!(s->held.blob && strcmp(s->held.id, id) == 0) && lv.current && strcmp(lv.id, id) == 0)
		r = s->ledger.ops->retire(&s->ledger, id, STORE_GONE_LOST);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->put_lock);
	if (r == 0)
		log_audit(
		    &(struct audit){
			.event = AUDIT_WIPE, .peer = "cluster", .bundle_id = id, .result = "lost"},
		    "bundle %s was uploaded on this node and no node holds it now (this "
		    "pkishared restarted without it, before any copy): retired as lost; "
		    "joiners are told so; upload again",
		    id);
	return r;
}

bool store_coord_identity(struct store *s, const char *serving_pin)
{
	return s->ledger.ops->identity ? s->ledger.ops->identity(&s->ledger, serving_pin) : false;
}

int store_flush(struct store *s, int timeout_ms)
{
	return s->ledger.ops->flush ? s->ledger.ops->flush(&s->ledger, timeout_ms) : 0;
}

void store_view(struct store *s, struct store_view *ret)
{
	struct ledger_view lv;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&s->lock);
	check_deadline_locked(s);
	s->ledger.ops->view(&s->ledger, &lv);
	if (s->held.blob && lv.current && strcmp(lv.id, s->held.id) == 0) {
		struct store_bundle_view *b = &ret->bundle;
		int64_t left = (s->held.deadline_ms - time_mono_ms() + 999) / 1000;
		ret->held = true;
		str_copy(b->id, sizeof(b->id), s->held.id);
		str_copy(b->key_id, sizeof(b->key_id), s->held.key_id);
		b->created_at = s->held.created_at;
		b->expires_at = s->held.expires_at;
		b->expires_in_s = left > 0 ? left : 0;
		b->fetches = lv.fetches;
		b->max_fetches = lv.max_fetches;
		b->bytes = s->held.blob->data ? s->held.blob->data->len : 0;
		b->n_fetch_log =
		    s->ledger.ops->fetch_log(&s->ledger, b->fetch_log, STORE_MAX_FETCH_LOG);
		b->profile = s->held.profile ? strdup(s->held.profile) : NULL;
	}
	ret->gone = lv.gone;
	str_copy(ret->gone_id, sizeof(ret->gone_id), lv.gone_id);
	ret->gone_at = lv.gone_at;
	ret->n_seen = lv.n_seen;
	ret->cluster = lv;
	store_coord_state(s, &ret->coord);
	if (s->ledger.ops->token_list) {
		struct ledger_token lt[LEDGER_TOKENS_MAX];
		size_t n = s->ledger.ops->token_list(&s->ledger, lt, LEDGER_TOKENS_MAX);
		for (size_t i = 0; i < n && i < STORE_MAX_TOKENS; i++) {
			struct store_token_view *t = &ret->tokens[i];
			str_copy(t->id, sizeof(t->id), lt[i].id);
			t->expires_at = lt[i].expires_at;
			t->uses_left = lt[i].uses_left;
			t->used = lt[i].used;
			str_copy(t->description, sizeof(t->description), lt[i].description);
		}
		ret->n_tokens = n < STORE_MAX_TOKENS ? n : STORE_MAX_TOKENS;
	} else {
		ret->n_tokens = s->tokens.n;
		for (size_t i = 0; i < s->tokens.n; i++) {
			struct store_token_view *t = &ret->tokens[i];
			const struct store_token *k = &s->tokens.t[i];
			str_copy(t->id, sizeof(t->id), k->id);
			t->expires_at = k->expires_at;
			t->uses_left = k->uses_left;
			t->used = k->used;
			str_copy(t->description, sizeof(t->description), k->description);
		}
	}
	if (s->persist) {
		struct persist_status st;
		struct store_kept_view *k = &ret->kept;
		persist_status(s->persist, &st);
		k->under = true;
		k->kept = st.kept;
		k->memory = st.memory;
		k->held_since = st.held_since;
		k->restores = st.restores;
		k->refused = st.refused;
		str_copy(k->note, sizeof(k->note), st.note);
	}
	pthread_mutex_unlock(&s->lock);
}

void store_counts(struct store *s, struct store_counts *ret)
{
	struct ledger_view lv;
	pthread_mutex_lock(&s->lock);
	s->ledger.ops->view(&s->ledger, &lv);
	ret->held = s->held.blob && lv.current && strcmp(lv.id, s->held.id) == 0;
	str_copy(ret->id, sizeof(ret->id), ret->held ? s->held.id : "");
	ret->n_tokens = s->tokens.n;
	ret->n_seen = lv.n_seen;
	pthread_mutex_unlock(&s->lock);
}

void store_view_done(struct store_view *v)
{
	free(v->bundle.profile);
	v->bundle.profile = NULL;
}

void store_forget_persisted(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->persist)
		persist_drop_all(s->persist);
	pthread_mutex_unlock(&s->lock);
}

bool store_tokens_wait(struct store *s)
{
	return s->ledger.ops->token_use != NULL;
}

int store_token_add(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    int64_t ttl_s, uint64_t uses, const char *description)
{
	if (s->ledger.ops->token_add) {
		/* The cluster's: the deadline is the wall clock's there (every node checks
		 * it against its own clock; tokens.c's monotonic one is this node's only). */
		if (!tokens_description_ok(description))
			return -EINVAL;
		return s->ledger.ops->token_add(&s->ledger, id, hash, time_now() + ttl_s, uses,
						description);
	}
	pthread_mutex_lock(&s->lock);
	if (tokens_expire(&s->tokens, time_mono_ms()) > 0)
		changed_locked(s);
	int r = tokens_add(&s->tokens, id, hash, ttl_s, uses, description);
	if (r == 0) {
		changed_locked(s);
		pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_token_delete(struct store *s, const char *id)
{
	if (s->ledger.ops->token_delete)
		return s->ledger.ops->token_delete(&s->ledger, id);
	pthread_mutex_lock(&s->lock);
	int r = tokens_delete(&s->tokens, id);
	if (r == 0)
		changed_locked(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_token_check(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		      struct store_spent_token *ret_spent)
{
	if (s->ledger.ops->token_check) {
		struct store_spent_token sp = {0};
		int r = s->ledger.ops->token_check(&s->ledger, id, hash, &sp.at, sp.client,
						   sizeof(sp.client), &sp.expired);
		if (ret_spent)
			*ret_spent = sp;
		return r;
	}
	pthread_mutex_lock(&s->lock);
	int r = tokens_check(&s->tokens, id, hash, ret_spent);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tokens_refresh(struct store *s, int64_t since_ms)
{
	return s->ledger.ops->token_refresh ? s->ledger.ops->token_refresh(&s->ledger, since_ms)
					    : 0;
}

int store_token_use(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    const char *client)
{
	if (s->ledger.ops->token_use)
		return s->ledger.ops->token_use(&s->ledger, id, hash, client);
	pthread_mutex_lock(&s->lock);
	int r = tokens_use(&s->tokens, id, hash, client);
	if (r == 0)
		changed_locked(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}
