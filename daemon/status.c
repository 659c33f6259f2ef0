/* status.c - render the store's views as the admin API's JSON (status.h). Reads only the
 * views: never the store, never a secret. */
#include "status.h"
#include "util.h"

json_t *status_bundle_json(const struct store_bundle_view *b)
{
	char created[RFC3339_LEN], expires[RFC3339_LEN], at[RFC3339_LEN];
	time_format(b->created_at, created);
	time_format(b->expires_at, expires);
	json_t *log = json_array();
	for (size_t i = 0; log && i < b->n_fetch_log; i++) {
		const struct store_fetch_record *r = &b->fetch_log[i];
		time_format(r->at, at);
		json_array_append_new(log, json_pack("{s:s, s:s, s:s, s:s, s:s?}", "at", at,
						     "client", r->client, "clientSource", r->source,
						     "peer", r->peer, "certSha256",
						     r->cert[0] ? r->cert : NULL));
	}
	json_t *prof = b->profile ? json_loads(b->profile, 0, NULL) : NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "id", b->id, "keyId",
			 b->key_id, "createdAt", created, "expiresAt", expires, "expiresInSeconds",
			 (json_int_t)b->expires_in_s, "fetches", (json_int_t)b->fetches,
			 "maxFetches", (json_int_t)b->max_fetches, "fetchLog",
			 log ? log : json_array(), "profile", prof ? prof : json_null());
}

json_t *status_tokens_json(const struct store_view *v)
{
	char at[RFC3339_LEN];
	json_t *list = json_array();
	for (size_t i = 0; list && i < v->n_tokens; i++) {
		const struct store_token_view *t = &v->tokens[i];
		time_format(t->expires_at, at);
		json_array_append_new(list,
				      json_pack("{s:s, s:s, s:I, s:I}", "id", t->id, "expiresAt",
						at, "usesLeft", (json_int_t)t->uses_left, "used",
						(json_int_t)t->used));
	}
	return list ? list : json_array();
}

static json_t *kept_json(const struct store_kept_view *k)
{
	char since[RFC3339_LEN];
	if (!k->under)
		return json_null();
	time_format(k->held_since, since);
	return json_pack("{s:b, s:s, s:s?, s:I, s:s, s:s}", "kept", k->kept, "memory", k->memory,
			 "heldSince", k->kept ? since : NULL, "restores", (json_int_t)k->restores,
			 "note", k->note, "refused", k->refused ? k->note : "");
}

json_t *status_json(const struct store_view *v)
{
	char gone_at[RFC3339_LEN];
	time_format(v->gone_at, gone_at);
	json_t *b = v->held ? status_bundle_json(&v->bundle) : json_null();
	json_t *last = v->gone == STORE_GONE_NEVER
			   ? json_null()
			   : json_pack("{s:s, s:s, s:s}", "id", v->gone_id, "reason",
				       store_gone_name(v->gone), "at", gone_at);
	json_t *kept = kept_json(&v->kept);
	return json_pack("{s:o, s:o, s:o, s:o, s:{s:I, s:I}}", "bundle", b ? b : json_null(),
			 "previous", last ? last : json_null(), "tokens", status_tokens_json(v),
			 "state", kept ? kept : json_null(), "keyIds", "used",
			 (json_int_t)v->n_seen, "max", (json_int_t)STORE_MAX_SEEN_KEYS);
}
