/* ledger-local.c - the one-node ledger (ledger.h): the decisions about the held bundle,
 * in this process's memory, under a lock of its own.
 *
 * Must never forget a key id (a full history refuses), and must count a fetch
 * atomically with its check, so two claimants cannot both take the last slot. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "secret.h"
#include "testhook.h"
#include "util.h"

struct local {
	pthread_mutex_t lock;
	bool current;
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	uint64_t fetches, max_fetches;
	struct store_fetch_record fetch_log[STORE_MAX_FETCH_LOG];
	size_t n_fetch_log; /* records kept (the count itself is fetches) */
	enum store_gone gone;
	char gone_id[BUNDLE_ID_HEX_LEN + 1];
	int64_t gone_at;
	bool last_had_external;
	char (*seen)[KEY_ID_HEX_LEN + 1];
	size_t n_seen;
	/* The bundle the last claim used up, as it was then, for release: valid until
	 * anything else happens to the ledger (announce, retire, load). */
	struct {
		bool valid;
		char id[BUNDLE_ID_HEX_LEN + 1];
		char key_id[KEY_ID_HEX_LEN + 1];
		uint64_t fetches, max_fetches;
		struct store_fetch_record fetch_log[STORE_MAX_FETCH_LOG];
		size_t n_fetch_log;
		enum store_gone gone_before;
		char gone_id_before[BUNDLE_ID_HEX_LEN + 1];
		int64_t gone_at_before;
	} used_up;
};

const char *store_gone_name(enum store_gone g)
{
	static const char *const names[] = {
	    [STORE_GONE_NEVER] = "never-uploaded", [STORE_GONE_EXPIRED] = "expired",
	    [STORE_GONE_DELETED] = "deleted",	   [STORE_GONE_USED_UP] = "used-up",
	    [STORE_GONE_REPLACED] = "replaced",	   [STORE_GONE_LOST] = "lost-at-restart",
	};
	return (size_t)g < ELEMENTSOF(names) && names[g] ? names[g] : "unknown";
}

/* Lock held: whatever release could have brought back is forgotten. */
static void used_up_forget_locked(struct local *L)
{
	if (L->used_up.valid)
		secret_wipe(&L->used_up, sizeof(L->used_up));
}

/* Lock held: the current bundle goes, for why. */
static void retire_locked(struct local *L, enum store_gone why)
{
	used_up_forget_locked(L);
	if (why == STORE_GONE_USED_UP) {
		/* Kept for release: the client whose claim used it up may leave unserved. */
		L->used_up.valid = true;
		str_copy(L->used_up.id, sizeof(L->used_up.id), L->id);
		str_copy(L->used_up.key_id, sizeof(L->used_up.key_id), L->key_id);
		L->used_up.fetches = L->fetches;
		L->used_up.max_fetches = L->max_fetches;
		memcpy(L->used_up.fetch_log, L->fetch_log, sizeof(L->fetch_log));
		L->used_up.n_fetch_log = L->n_fetch_log;
		L->used_up.gone_before = L->gone;
		str_copy(L->used_up.gone_id_before, sizeof(L->used_up.gone_id_before), L->gone_id);
		L->used_up.gone_at_before = L->gone_at;
	}
	L->gone = why;
	str_copy(L->gone_id, sizeof(L->gone_id), L->id);
	L->gone_at = time_now();
	L->current = false;
	L->id[0] = 0;
	L->key_id[0] = 0;
	L->fetches = L->max_fetches = 0;
	secret_wipe(L->fetch_log, sizeof(L->fetch_log));
	L->n_fetch_log = 0;
}

static bool seen_locked(const struct local *L, const char *key_id)
{
	for (size_t i = 0; i < L->n_seen; i++)
		if (strcmp(L->seen[i], key_id) == 0)
			return true;
	return false;
}

static int local_announce(struct ledger *l, const struct ledger_bundle *b,
			  char ret_replaced[BUNDLE_ID_HEX_LEN + 1])
{
	struct local *L = l->state;
	int r = 0;
	pthread_mutex_lock(&L->lock);
	ret_replaced[0] = 0;
	if (L->last_had_external && !b->has_external && !b->allow_drop_external)
		r = -EXDEV;
	else if (seen_locked(L, b->key_id))
		r = -EEXIST;
	else if (L->n_seen >= STORE_MAX_SEEN_KEYS)
		r = -ENOSPC;
	if (r == 0) {
		used_up_forget_locked(L);
		str_copy(L->seen[L->n_seen++], sizeof(L->seen[0]), b->key_id);
		L->last_had_external = b->has_external;
		if (L->current) {
			str_copy(ret_replaced, BUNDLE_ID_HEX_LEN + 1, L->id);
			retire_locked(L, STORE_GONE_REPLACED);
		}
		L->current = true;
		str_copy(L->id, sizeof(L->id), b->id);
		str_copy(L->key_id, sizeof(L->key_id), b->key_id);
		L->fetches = 0;
		L->max_fetches = b->max_fetches;
	}
	pthread_mutex_unlock(&L->lock);
	return r;
}

static int local_claim(struct ledger *l, const char *id, const struct ledger_claimant *who,
		       struct ledger_claim *ret)
{
	struct local *L = l->state;
	int64_t delay_ms = testhook_claim_delay_ms();

	if (delay_ms > 0) /* a test build's slow claim (testhook.h) */
		nanosleep(&(struct timespec){.tv_sec = delay_ms / 1000,
					     .tv_nsec = (delay_ms % 1000) * 1000000L},
			  NULL);
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&L->lock);
	if (!L->current) {
		ret->result = LEDGER_CLAIM_GONE;
		ret->gone = L->gone;
		str_copy(ret->gone_id, sizeof(ret->gone_id), L->gone_id);
		ret->gone_at = L->gone_at;
		pthread_mutex_unlock(&L->lock);
		return 0;
	}
	if (strcmp(id, L->id) != 0) {
		ret->result = LEDGER_CLAIM_OTHER;
		str_copy(ret->current, sizeof(ret->current), L->id);
		pthread_mutex_unlock(&L->lock);
		return 0;
	}
	ret->result = LEDGER_CLAIM_OK;
	/* The same certificate, not a name: another certificate with the same CN is another
	 * identity and counts. Enrolled names come from whoever holds a token: always
	 * counted. */
	const char *cert = who->cert ? who->cert : "";
	bool may_repeat = !strcmp(who->source, "client-ca") && strlen(cert) == STORE_CERT_ID_LEN;
	for (size_t i = 0; may_repeat && i < L->n_fetch_log; i++)
		if (!strcmp(L->fetch_log[i].source, who->source) &&
		    !strcmp(L->fetch_log[i].cert, cert)) {
			ret->fetch_no = i + 1;
			ret->repeat = true;
			pthread_mutex_unlock(&L->lock);
			return 0;
		}
	ret->fetch_no = ++L->fetches;
	if (L->n_fetch_log < STORE_MAX_FETCH_LOG) {
		struct store_fetch_record *rec = &L->fetch_log[L->n_fetch_log++];
		rec->at = time_now();
		str_copy(rec->client, sizeof(rec->client), who->client);
		str_copy(rec->cert, sizeof(rec->cert), cert);
		str_copy(rec->source, sizeof(rec->source), who->source);
		str_copy(rec->peer, sizeof(rec->peer), who->peer);
	}
	if (L->max_fetches && L->fetches >= L->max_fetches) {
		ret->last = true;
		retire_locked(L, STORE_GONE_USED_UP);
	}
	pthread_mutex_unlock(&L->lock);
	return 0;
}

/* In memory: never, unless a test build makes it slow on purpose. */
static bool local_claim_waits(struct ledger *l)
{
	(void)l;
	return testhook_claim_set();
}

/* Lock held: drop who's last fetch record (the one its claim added), if it was kept. */
static void record_drop_locked(struct local *L, const struct ledger_claimant *who)
{
	const char *cert = who->cert ? who->cert : "";
	for (size_t i = L->n_fetch_log; i-- > 0;) {
		const struct store_fetch_record *rec = &L->fetch_log[i];
		if (strcmp(rec->client, who->client) != 0 || strcmp(rec->cert, cert) != 0 ||
		    strcmp(rec->source, who->source) != 0 || strcmp(rec->peer, who->peer) != 0)
			continue;
		memmove(&L->fetch_log[i], &L->fetch_log[i + 1],
			(L->n_fetch_log - i - 1) * sizeof(L->fetch_log[0]));
		L->n_fetch_log--;
		secret_wipe(&L->fetch_log[L->n_fetch_log], sizeof(L->fetch_log[0]));
		return;
	}
}

static int local_release(struct ledger *l, const char *id, const struct ledger_claimant *who,
			 const struct ledger_claim *c)
{
	struct local *L = l->state;
	int r = 0;
	if (c->result != LEDGER_CLAIM_OK || c->repeat)
		return 0;
	pthread_mutex_lock(&L->lock);
	if (c->last) {
		/* Current again, as it was before the claim, unless something happened to it
		 * since (the stash is forgotten then). */
		if (!L->current && L->used_up.valid && L->gone == STORE_GONE_USED_UP &&
		    strcmp(L->used_up.id, id) == 0) {
			L->current = true;
			str_copy(L->id, sizeof(L->id), L->used_up.id);
			str_copy(L->key_id, sizeof(L->key_id), L->used_up.key_id);
			L->fetches = L->used_up.fetches;
			L->max_fetches = L->used_up.max_fetches;
			memcpy(L->fetch_log, L->used_up.fetch_log, sizeof(L->fetch_log));
			L->n_fetch_log = L->used_up.n_fetch_log;
			L->gone = L->used_up.gone_before;
			str_copy(L->gone_id, sizeof(L->gone_id), L->used_up.gone_id_before);
			L->gone_at = L->used_up.gone_at_before;
			used_up_forget_locked(L);
		} else
			r = -ENOENT;
	} else if (!L->current || strcmp(L->id, id) != 0)
		r = -ENOENT;
	if (r == 0) {
		if (L->fetches > 0)
			L->fetches--;
		if (c->fetch_no <= STORE_MAX_FETCH_LOG) /* else its claim kept no record */
			record_drop_locked(L, who);
	}
	pthread_mutex_unlock(&L->lock);
	return r;
}

static int local_retire(struct ledger *l, const char *id, enum store_gone why)
{
	struct local *L = l->state;
	int r = -ENOENT;
	pthread_mutex_lock(&L->lock);
	if (L->current && strcmp(id, L->id) == 0) {
		retire_locked(L, why);
		r = 0;
	}
	pthread_mutex_unlock(&L->lock);
	return r;
}

static int local_key_id_seen(struct ledger *l, const char *key_id)
{
	struct local *L = l->state;
	pthread_mutex_lock(&L->lock);
	bool seen = seen_locked(L, key_id);
	pthread_mutex_unlock(&L->lock);
	return seen;
}

static void local_view(struct ledger *l, struct ledger_view *ret)
{
	struct local *L = l->state;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&L->lock);
	ret->current = L->current;
	str_copy(ret->id, sizeof(ret->id), L->id);
	str_copy(ret->key_id, sizeof(ret->key_id), L->key_id);
	ret->fetches = L->fetches;
	ret->max_fetches = L->max_fetches;
	ret->n_fetch_log = L->n_fetch_log;
	ret->gone = L->gone;
	str_copy(ret->gone_id, sizeof(ret->gone_id), L->gone_id);
	ret->gone_at = L->gone_at;
	ret->last_had_external = L->last_had_external;
	ret->n_seen = L->n_seen;
	pthread_mutex_unlock(&L->lock);
}

static size_t local_fetch_log(struct ledger *l, struct store_fetch_record *ret, size_t max)
{
	struct local *L = l->state;
	pthread_mutex_lock(&L->lock);
	size_t n = L->n_fetch_log < max ? L->n_fetch_log : max;
	memcpy(ret, L->fetch_log, n * sizeof(L->fetch_log[0]));
	pthread_mutex_unlock(&L->lock);
	return n;
}

static size_t local_key_ids(struct ledger *l, char (*ret)[KEY_ID_HEX_LEN + 1], size_t max)
{
	struct local *L = l->state;
	pthread_mutex_lock(&L->lock);
	size_t n = L->n_seen < max ? L->n_seen : max;
	memcpy(ret, L->seen, n * sizeof(L->seen[0]));
	pthread_mutex_unlock(&L->lock);
	return n;
}

static int local_load(struct ledger *l, const struct ledger_view *v,
		      const struct store_fetch_record *fetch_log,
		      const char (*key_ids)[KEY_ID_HEX_LEN + 1], size_t n_key_ids)
{
	struct local *L = l->state;
	if (n_key_ids > STORE_MAX_SEEN_KEYS || v->n_fetch_log > STORE_MAX_FETCH_LOG)
		return -EINVAL;
	pthread_mutex_lock(&L->lock);
	used_up_forget_locked(L);
	L->current = v->current;
	str_copy(L->id, sizeof(L->id), v->current ? v->id : "");
	str_copy(L->key_id, sizeof(L->key_id), v->current ? v->key_id : "");
	L->fetches = v->current ? v->fetches : 0;
	L->max_fetches = v->current ? v->max_fetches : 0;
	L->n_fetch_log = v->current ? v->n_fetch_log : 0;
	memcpy(L->fetch_log, fetch_log, L->n_fetch_log * sizeof(L->fetch_log[0]));
	L->gone = v->gone;
	str_copy(L->gone_id, sizeof(L->gone_id), v->gone_id);
	L->gone_at = v->gone_at;
	L->last_had_external = v->last_had_external;
	memcpy(L->seen, key_ids, n_key_ids * sizeof(L->seen[0]));
	L->n_seen = n_key_ids;
	pthread_mutex_unlock(&L->lock);
	return 0;
}

static void local_done(struct ledger *l)
{
	struct local *L = l->state;
	if (!L)
		return;
	pthread_mutex_destroy(&L->lock);
	free(L->seen);
	secret_wipe(L, sizeof(*L));
	free(L);
	l->state = NULL;
}

const struct ledger_ops ledger_local_ops = {
    .name = "local",
    .announce = local_announce,
    .claim = local_claim,
    .claim_waits = local_claim_waits,
    .release = local_release,
    .retire = local_retire,
    .key_id_seen = local_key_id_seen,
    .view = local_view,
    .fetch_log = local_fetch_log,
    .key_ids = local_key_ids,
    .load = local_load,
    .done = local_done,
};

int ledger_local_open(struct ledger *l)
{
	struct local *L = calloc(1, sizeof(*L));
	if (!L)
		return -ENOMEM;
	L->seen = calloc(STORE_MAX_SEEN_KEYS, sizeof(*L->seen));
	if (!L->seen || pthread_mutex_init(&L->lock, NULL) != 0) {
		free(L->seen);
		free(L);
		return -ENOMEM;
	}
	*l = (struct ledger){.ops = &ledger_local_ops, .state = L};
	return 0;
}
