/* tokens.c - join tokens (tokens.h).
 *
 * Must compare hashes in constant time, never keep a secret (only its keyed hash), and
 * wipe a token's slot when it goes. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "secret.h"
#include "tokens.h"
#include "util.h"

bool tokens_description_ok(const char *text)
{
	return token_description_ok(text);
}

static void remove_at(struct tokens *t, size_t i)
{
	t->t[i] = t->t[--t->n];
	secret_wipe(&t->t[t->n], sizeof(t->t[0]));
}

int tokens_add(struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
	       int64_t ttl_s, uint64_t uses, const char *description)
{
	if (!tokens_description_ok(description))
		return -EINVAL;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->t[i].id, id) == 0)
			return -EEXIST;
	if (t->n >= STORE_MAX_TOKENS)
		return -ENOSPC;
	struct store_token *k = &t->t[t->n++];
	memset(k, 0, sizeof(*k));
	str_copy(k->id, sizeof(k->id), id);
	memcpy(k->hash, hash, TOKEN_HASH_BYTES);
	k->expires_at = time_now() + ttl_s;
	k->deadline_ms = time_mono_ms() + ttl_s * 1000;
	k->uses_left = uses;
	str_copy(k->description, sizeof(k->description), description ? description : "");
	return 0;
}

int tokens_delete(struct tokens *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->t[i].id, id) == 0) {
			remove_at(t, i);
			return 0;
		}
	return -ENOENT;
}

/* The spent record of id if its secret matches, else NULL. */
static const struct store_spent_token *spent_find(const struct tokens *t, const char *id,
						  const uint8_t hash[TOKEN_HASH_BYTES])
{
	int64_t now = time_mono_ms();
	size_t n = t->n_spent < STORE_MAX_SPENT_TOKENS ? t->n_spent : STORE_MAX_SPENT_TOKENS;
	for (size_t i = 0; i < n; i++) {
		const struct store_spent_token *s = &t->spent[i];
		if (strcmp(s->id, id) == 0 && now < s->deadline_ms &&
		    secret_equal(s->hash, hash, TOKEN_HASH_BYTES))
			return s;
	}
	return NULL;
}

/* The token's slot, or a negative error as for tokens_use (with -ESTALE, *ret_spent points
 * at its record). */
static int find(const struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		size_t *ret_i, const struct store_spent_token **ret_spent)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct store_token *k = &t->t[i];
		if (strcmp(k->id, id) != 0)
			continue;
		if (!secret_equal(k->hash, hash, TOKEN_HASH_BYTES))
			return -EACCES;
		if (time_mono_ms() >= k->deadline_ms)
			return -ETIMEDOUT;
		*ret_i = i;
		return 0;
	}
	const struct store_spent_token *sp = spent_find(t, id, hash);
	if (sp) {
		*ret_spent = sp;
		return sp->expired ? -ETIMEDOUT : -ESTALE;
	}
	return -ENOENT;
}

int tokens_check(const struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
		 struct store_spent_token *ret_spent)
{
	size_t i;
	const struct store_spent_token *sp = NULL;
	int r = find(t, id, hash, &i, &sp);
	if (sp && ret_spent)
		*ret_spent = *sp;
	return r;
}

int tokens_use(struct tokens *t, const char *id, const uint8_t hash[TOKEN_HASH_BYTES],
	       const char *client)
{
	size_t i;
	const struct store_spent_token *sp = NULL;
	int r = find(t, id, hash, &i, &sp);
	if (r < 0)
		return r;
	struct store_token *k = &t->t[i];
	k->used++;
	if (k->uses_left && --k->uses_left == 0) {
		struct store_spent_token *rec = &t->spent[t->n_spent++ % STORE_MAX_SPENT_TOKENS];
		*rec = (struct store_spent_token){.deadline_ms = k->deadline_ms, .at = time_now()};
		str_copy(rec->id, sizeof(rec->id), k->id);
		memcpy(rec->hash, k->hash, TOKEN_HASH_BYTES);
		str_copy(rec->client, sizeof(rec->client), client ? client : "");
		remove_at(t, i);
	}
	return 0;
}

size_t tokens_expire(struct tokens *t, int64_t now_ms)
{
	size_t gone = 0;
	for (size_t i = 0; i < t->n;) {
		if (now_ms >= t->t[i].deadline_ms) {
			log_audit(&(struct audit){.event = AUDIT_TOKEN,
						  .peer = "reaper",
						  .client = t->t[i].id,
						  .result = "expired"},
				  "join token %s expired and was removed", t->t[i].id);
			/* Remembered a while, so that it is told "expired at T", not "unknown
			 * (a kubeadm token?)". */
			struct store_spent_token *rec =
			    &t->spent[t->n_spent++ % STORE_MAX_SPENT_TOKENS];
			*rec = (struct store_spent_token){.deadline_ms =
							      now_ms + TOKENS_EXPIRED_KEPT_MS,
							  .at = t->t[i].expires_at,
							  .expired = true};
			str_copy(rec->id, sizeof(rec->id), t->t[i].id);
			memcpy(rec->hash, t->t[i].hash, TOKEN_HASH_BYTES);
			remove_at(t, i);
			gone++;
		} else {
			i++;
		}
	}
	return gone;
}

int64_t tokens_next_deadline(const struct tokens *t)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < t->n; i++)
		if (t->t[i].deadline_ms < next)
			next = t->t[i].deadline_ms;
	return next;
}

void tokens_wipe(struct tokens *t)
{
	secret_wipe(t, sizeof(*t));
}
