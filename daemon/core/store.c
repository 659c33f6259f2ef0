/* store.c - the held bundle, its deadline and the reaper thread.
 *
 * Must never hold the bundle outside guarded memory, and must wipe it (not just drop the
 * pointer) on expiry, replacement, deletion, the last allowed fetch and shutdown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "persist.h"
#include "store.h"
#include "testhook.h"
#include "util.h"

int store_init(struct store *s)
{
	pthread_condattr_t ca;

	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		return -ENOMEM;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	/* Deadlines use the monotonic clock: moving the wall clock does not move expiry. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int r = pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (r != 0)
		return -ENOMEM;
	s->seen = calloc(STORE_MAX_SEEN_KEYS, sizeof(*s->seen));
	return s->seen ? 0 : -ENOMEM;
}

struct store_blob *store_blob_unref(struct store_blob *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		secret_free(b->data);
		free(b);
	}
	return NULL;
}

/* Called with the lock held. */
static void wipe_locked(struct store *s, enum store_gone why)
{
	if (!s->held)
		return;
	/* A response still being sent keeps its reference; the bytes are wiped when it is
	 * done. From now on nobody can take a new one. */
	s->held = store_blob_unref(s->held);
	persist_bundle_retire(s->persist);
	s->gone = why;
	str_copy(s->gone_id, sizeof(s->gone_id), s->id);
	s->gone_at = time_now();
	s->id[0] = 0;
	s->key_id[0] = 0;
	free(s->profile);
	s->profile = NULL;
	s->fetches = s->max_fetches = 0;
	s->deadline_ms = 0;
	secret_wipe(s->fetch_log, sizeof(s->fetch_log));
	s->n_fetch_log = 0;
}

/* Called with the lock held, after every change: write it where it outlives a restart. */
static void changed_locked(struct store *s)
{
	persist_save_locked(s->persist, s);
}

/* Called with the lock held: drop tokens past their deadline. */
static void expire_tokens_locked(struct store *s)
{
	int64_t now = time_mono_ms();
	size_t before = s->n_tokens;
	for (size_t i = 0; i < s->n_tokens;) {
		if (now >= s->tokens[i].deadline_ms) {
			log_audit(&(struct audit){.event = AUDIT_TOKEN,
						  .peer = "reaper",
						  .client = s->tokens[i].id,
						  .result = "expired"},
				  "join token %s expired and was removed", s->tokens[i].id);
			s->tokens[i] = s->tokens[--s->n_tokens];
			secret_wipe(&s->tokens[s->n_tokens], sizeof(s->tokens[0]));
		} else {
			i++;
		}
	}
	if (s->n_tokens != before)
		changed_locked(s);
}

/* Called with the lock held: past either deadline? The monotonic one is enforced; the
 * sealed expiresAt by the wall clock too, since CLOCK_MONOTONIC stops while the machine
 * is suspended. */
static bool past_deadline_locked(const struct store *s)
{
	return s->held && (time_mono_ms() >= s->deadline_ms || time_now() >= s->expires_at);
}

/* Called with the lock held: wipe an expired bundle and say so, whoever noticed first
 * (the reaper, or a request that arrived before it woke). */
static void expire_locked(struct store *s)
{
	char id[BUNDLE_ID_HEX_LEN + 1];
	str_copy(id, sizeof(id), s->id);
	wipe_locked(s, STORE_GONE_EXPIRED);
	changed_locked(s);
	log_audit(
	    &(struct audit){
		.event = AUDIT_EXPIRE, .peer = "reaper", .bundle_id = id, .result = "ok"},
	    "bundle %s reached its deadline and was wiped", id);
}

/* The monotonic time of the next deadline: the held bundle's (the earlier of its own and
 * its sealed expiresAt by the wall clock, as the wall clock reads now), or a token's. */
static int64_t next_deadline_locked(struct store *s)
{
	int64_t next = INT64_MAX;
	if (s->held) {
		int64_t now = time_mono_ms(), wall_left_ms = (s->expires_at - time_now()) * 1000;
		next = s->deadline_ms;
		if (now + wall_left_ms < next)
			next = now + wall_left_ms;
	}
	for (size_t i = 0; i < s->n_tokens; i++)
		if (s->tokens[i].deadline_ms < next)
			next = s->tokens[i].deadline_ms;
	return next;
}

static void *reaper_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		expire_tokens_locked(s);
		if (past_deadline_locked(s)) {
			expire_locked(s);
			continue;
		}
		int64_t next = next_deadline_locked(s);
		/* The wall clock may pass expiresAt first (a suspend): look at least once a
		 * minute while a bundle is held. */
		if (s->held && next > time_mono_ms() + 60000)
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
	return 0;
}

void store_done(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	wipe_locked(s, STORE_GONE_DELETED);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (s->reaper_running)
		pthread_join(s->reaper, NULL);
	free(s->seen);
	s->seen = NULL;
	secret_wipe(s->spent, sizeof(s->spent));
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
}

/* Called with the lock held: a request arriving after the deadline never gets the
 * bundle, even if the reaper has not run yet. */
static void check_deadline_locked(struct store *s)
{
	if (past_deadline_locked(s))
		expire_locked(s);
}

int store_put(struct store *s, struct secret *json, const struct bundle *meta, int64_t ttl_ms,
	      uint64_t max_fetches, bool allow_drop_external,
	      char ret_replaced[BUNDLE_ID_HEX_LEN + 1])
{
	bool has_external = false;
	struct store_blob *blob = calloc(1, sizeof(*blob));
	if (!blob) {
		secret_free(json);
		return -ENOMEM;
	}
	blob->refs = 1;
	blob->data = json;
	for (size_t i = 0; i < meta->files.n; i++)
		has_external |= pki_known_lookup(meta->files.e[i].name)->external;
	pthread_mutex_lock(&s->lock);
	ret_replaced[0] = 0;
	if (s->last_had_external && !has_external && !allow_drop_external) {
		pthread_mutex_unlock(&s->lock);
		store_blob_unref(blob);
		return -EXDEV;
	}
	for (size_t i = 0; i < s->n_seen; i++)
		if (strcmp(s->seen[i], meta->key_id) == 0) {
			pthread_mutex_unlock(&s->lock);
			store_blob_unref(blob);
			return -EEXIST;
		}
	/* Forgetting a key id would let that key be used again: a full history refuses. */
	if (s->n_seen >= STORE_MAX_SEEN_KEYS) {
		pthread_mutex_unlock(&s->lock);
		store_blob_unref(blob);
		return -ENOSPC;
	}
	/* The bytes go where they outlive a restart before anything changes here. */
	int r = persist_bundle_put(s->persist, meta->id, json);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		store_blob_unref(blob);
		return r;
	}
	str_copy(s->seen[s->n_seen++], sizeof(s->seen[0]), meta->key_id);
	s->last_had_external = has_external;
	if (s->held) {
		str_copy(ret_replaced, BUNDLE_ID_HEX_LEN + 1, s->id);
		wipe_locked(s, STORE_GONE_REPLACED);
	}
	persist_bundle_commit(s->persist);
	s->held = blob;
	str_copy(s->id, sizeof(s->id), meta->id);
	str_copy(s->key_id, sizeof(s->key_id), meta->key_id);
	s->created_at = meta->created_at;
	s->expires_at = meta->expires_at;
	s->profile = meta->profile ? strdup(meta->profile) : NULL;
	s->deadline_ms = time_mono_ms() + ttl_ms;
	s->fetches = 0;
	s->max_fetches = max_fetches;
	changed_locked(s);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

enum store_fetch store_fetch(struct store *s, const char *want_id, const char *client,
			     const char *cert, const char *source, const char *peer,
			     struct store_blob **ret_blob, char ret_id[BUNDLE_ID_HEX_LEN + 1],
			     uint64_t *ret_fetch_no, bool *ret_repeat, int64_t *ret_gone_at)
{
	enum store_fetch res;
	int64_t delay_ms = testhook_claim_delay_ms();

	if (delay_ms > 0) /* a test build's slow claim (testhook.h) */
		nanosleep(&(struct timespec){.tv_sec = delay_ms / 1000,
					     .tv_nsec = (delay_ms % 1000) * 1000000L},
			  NULL);
	pthread_mutex_lock(&s->lock);
	check_deadline_locked(s);
	if (!s->held) {
		str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, s->gone_id);
		*ret_gone_at = s->gone_at;
		switch (s->gone) {
		case STORE_GONE_EXPIRED:
			res = STORE_FETCH_EXPIRED;
			break;
		case STORE_GONE_USED_UP:
			res = STORE_FETCH_USED_UP;
			break;
		case STORE_GONE_DELETED:
			res = STORE_FETCH_DELETED;
			break;
		case STORE_GONE_LOST:
			res = STORE_FETCH_LOST;
			break;
		default:
			res = STORE_FETCH_NONE;
		}
		pthread_mutex_unlock(&s->lock);
		return res;
	}
	str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, s->id);
	/* Under the lock that counts: a bundle uploaded since the client's plan is neither
	 * handed out nor counted (the client could not open it). */
	if (want_id && strcmp(want_id, s->id) != 0) {
		pthread_mutex_unlock(&s->lock);
		return STORE_FETCH_OTHER;
	}
	struct store_blob *ref = s->held;
	atomic_fetch_add(&ref->refs, 1);
	*ret_repeat = false;
	/* A name the log would truncate could match another: such names always count. */
	/* The same certificate, not a name: another certificate with the same CN is
	 * another identity and counts. */
	bool may_repeat = !strcmp(source, "client-ca") && cert && strlen(cert) == STORE_CERT_ID_LEN;
	for (size_t i = 0; may_repeat && i < s->n_fetch_log; i++)
		if (!strcmp(s->fetch_log[i].source, source) &&
		    !strcmp(s->fetch_log[i].cert, cert)) {
			*ret_fetch_no = i + 1;
			*ret_repeat = true;
			pthread_mutex_unlock(&s->lock);
			*ret_blob = ref;
			return STORE_FETCH_OK;
		}
	/* Counted under the same lock as the check: two racing clients cannot both be the
	 * last of max_fetches. */
	*ret_fetch_no = ++s->fetches;
	if (s->n_fetch_log < STORE_MAX_FETCH_LOG) {
		struct store_fetch_record *rec = &s->fetch_log[s->n_fetch_log++];
		rec->at = time_now();
		str_copy(rec->client, sizeof(rec->client), client);
		str_copy(rec->cert, sizeof(rec->cert), cert ? cert : "");
		str_copy(rec->source, sizeof(rec->source), source);
		str_copy(rec->peer, sizeof(rec->peer), peer);
	}
	if (s->max_fetches && s->fetches >= s->max_fetches) {
		wipe_locked(s, STORE_GONE_USED_UP);
		pthread_cond_broadcast(&s->wake);
	}
	changed_locked(s);
	pthread_mutex_unlock(&s->lock);
	*ret_blob = ref;
	return STORE_FETCH_OK;
}

int store_delete(struct store *s, char ret_id[BUNDLE_ID_HEX_LEN + 1])
{
	pthread_mutex_lock(&s->lock);
	check_deadline_locked(s);
	if (!s->held) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, s->id);
	wipe_locked(s, STORE_GONE_DELETED);
	changed_locked(s);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const char *store_gone_name(enum store_gone g)
{
	static const char *const names[] = {
	    [STORE_GONE_NEVER] = "never-uploaded", [STORE_GONE_EXPIRED] = "expired",
	    [STORE_GONE_DELETED] = "deleted",	   [STORE_GONE_USED_UP] = "used-up",
	    [STORE_GONE_REPLACED] = "replaced",	   [STORE_GONE_LOST] = "lost-at-restart",
	};
	return (size_t)g < ELEMENTSOF(names) && names[g] ? names[g] : "unknown";
}

void store_view(struct store *s, struct store_view *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&s->lock);
	check_deadline_locked(s);
	if (s->held) {
		struct store_bundle_view *b = &ret->bundle;
		int64_t left = (s->deadline_ms - time_mono_ms() + 999) / 1000;
		ret->held = true;
		str_copy(b->id, sizeof(b->id), s->id);
		str_copy(b->key_id, sizeof(b->key_id), s->key_id);
		b->created_at = s->created_at;
		b->expires_at = s->expires_at;
		b->expires_in_s = left > 0 ? left : 0;
		b->fetches = s->fetches;
		b->max_fetches = s->max_fetches;
		b->bytes = s->held->data ? s->held->data->len : 0;
		b->n_fetch_log = s->n_fetch_log;
		memcpy(b->fetch_log, s->fetch_log, s->n_fetch_log * sizeof(s->fetch_log[0]));
		b->profile = s->profile ? strdup(s->profile) : NULL;
	}
	ret->gone = s->gone;
	str_copy(ret->gone_id, sizeof(ret->gone_id), s->gone_id);
	ret->gone_at = s->gone_at;
	ret->n_seen = s->n_seen;
	ret->n_tokens = s->n_tokens;
	for (size_t i = 0; i < s->n_tokens; i++) {
		struct store_token_view *t = &ret->tokens[i];
		str_copy(t->id, sizeof(t->id), s->tokens[i].id);
		t->expires_at = s->tokens[i].expires_at;
		t->uses_left = s->tokens[i].uses_left;
		t->used = s->tokens[i].used;
	}
	if (s->persist) {
		const struct persist *p = s->persist;
		struct store_kept_view *k = &ret->kept;
		k->under = true;
		k->kept = p->enabled;
		k->memory = persist_kind(p);
		k->held_since = p->held_since;
		k->restores = p->restores;
		k->refused = p->refused;
		str_copy(k->note, sizeof(k->note), p->why);
	}
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

int store_token_add(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    int64_t ttl_s, uint64_t uses)
{
	pthread_mutex_lock(&s->lock);
	expire_tokens_locked(s);
	for (size_t i = 0; i < s->n_tokens; i++)
		if (strcmp(s->tokens[i].id, id) == 0) {
			pthread_mutex_unlock(&s->lock);
			return -EEXIST;
		}
	if (s->n_tokens >= STORE_MAX_TOKENS) {
		pthread_mutex_unlock(&s->lock);
		return -ENOSPC;
	}
	struct store_token *t = &s->tokens[s->n_tokens++];
	memset(t, 0, sizeof(*t));
	str_copy(t->id, sizeof(t->id), id);
	memcpy(t->hash, hash, TOKEN_HASH_BYTES);
	t->expires_at = time_now() + ttl_s;
	t->deadline_ms = time_mono_ms() + ttl_s * 1000;
	t->uses_left = uses;
	changed_locked(s);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int store_token_delete(struct store *s, const char *id)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_tokens; i++)
		if (strcmp(s->tokens[i].id, id) == 0) {
			s->tokens[i] = s->tokens[--s->n_tokens];
			secret_wipe(&s->tokens[s->n_tokens], sizeof(s->tokens[0]));
			changed_locked(s);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Called with the lock held: the spent record of id if its secret matches, else NULL. */
static const struct store_spent_token *spent_find_locked(const struct store *s, const char *id,
							 const uint8_t hash[TOKEN_HASH_BYTES])
{
	int64_t now = time_mono_ms();
	size_t n = s->n_spent < STORE_MAX_SPENT_TOKENS ? s->n_spent : STORE_MAX_SPENT_TOKENS;
	for (size_t i = 0; i < n; i++) {
		const struct store_spent_token *t = &s->spent[i];
		if (strcmp(t->id, id) == 0 && now < t->deadline_ms &&
		    secret_equal(t->hash, hash, TOKEN_HASH_BYTES))
			return t;
	}
	return NULL;
}

/* Called with the lock held: the token's slot, or a negative error as for store_token_use
 * (with -ESTALE, *ret_spent points at its record). */
static int token_find_locked(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
			     size_t *ret_i, const struct store_spent_token **ret_spent)
{
	for (size_t i = 0; i < s->n_tokens; i++) {
		struct store_token *t = &s->tokens[i];
		if (strcmp(t->id, id) != 0)
			continue;
		if (!secret_equal(t->hash, hash, TOKEN_HASH_BYTES))
			return -EACCES;
		if (time_mono_ms() >= t->deadline_ms)
			return -ETIMEDOUT;
		*ret_i = i;
		return 0;
	}
	const struct store_spent_token *sp = spent_find_locked(s, id, hash);
	if (sp) {
		*ret_spent = sp;
		return -ESTALE;
	}
	return -ENOENT;
}

int store_token_check(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		      struct store_spent_token *ret_spent)
{
	size_t i;
	const struct store_spent_token *sp = NULL;
	pthread_mutex_lock(&s->lock);
	int r = token_find_locked(s, id, hash, &i, &sp);
	if (r == -ESTALE && ret_spent)
		*ret_spent = *sp;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_token_use(struct store *s, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		    const char *client)
{
	size_t i;
	const struct store_spent_token *sp = NULL;
	pthread_mutex_lock(&s->lock);
	int r = token_find_locked(s, id, hash, &i, &sp);
	if (r == 0) {
		struct store_token *t = &s->tokens[i];
		t->used++;
		if (t->uses_left && --t->uses_left == 0) {
			struct store_spent_token *rec =
			    &s->spent[s->n_spent++ % STORE_MAX_SPENT_TOKENS];
			*rec = (struct store_spent_token){.deadline_ms = t->deadline_ms,
							  .at = time_now()};
			str_copy(rec->id, sizeof(rec->id), t->id);
			memcpy(rec->hash, t->hash, TOKEN_HASH_BYTES);
			str_copy(rec->client, sizeof(rec->client), client ? client : "");
			*t = s->tokens[--s->n_tokens];
			secret_wipe(&s->tokens[s->n_tokens], sizeof(s->tokens[0]));
		}
		changed_locked(s);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}
