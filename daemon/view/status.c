/* status.c - render the store's views as JSON (status.h): the admin API's, and the public
 * description a joiner plans with. Reads only the views: never the store, never a secret. */
#include "status.h"
#include "api.h"
#include "util.h"

json_t *status_bundle_info_json(const struct store_bundle_view *b)
{
	char created[RFC3339_LEN], expires[RFC3339_LEN];
	time_format(b->created_at, created);
	time_format(b->expires_at, expires);
	json_t *prof = b->profile ? json_loads(b->profile, 0, NULL) : NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}", API_F_ID, b->id,
			 API_F_KEY_ID, b->key_id, API_F_CREATED_AT, created, API_F_EXPIRES_AT,
			 expires, API_F_EXPIRES_IN_SECONDS, (json_int_t)b->expires_in_s,
			 API_F_FETCHES, (json_int_t)b->fetches, API_F_MAX_FETCHES,
			 (json_int_t)b->max_fetches, API_F_BYTES, (json_int_t)b->bytes,
			 API_F_PROFILE, prof ? prof : json_null());
}

json_t *status_bundle_json(const struct store_bundle_view *b)
{
	char at[RFC3339_LEN];
	json_t *info = status_bundle_info_json(b);
	json_t *log = json_array();
	for (size_t i = 0; log && i < b->n_fetch_log; i++) {
		const struct store_fetch_record *r = &b->fetch_log[i];
		time_format(r->at, at);
		json_array_append_new(
		    log, json_pack("{s:s, s:s, s:s, s:s, s:s?}", API_F_AT, at, API_F_CLIENT,
				   r->client, API_F_CLIENT_SOURCE, r->source, API_F_PEER, r->peer,
				   API_F_CERT_SHA256, r->cert[0] ? r->cert : NULL));
	}
	if (!info) {
		json_decref(log);
		return NULL;
	}
	/* json_object_set_new takes log's reference, also when it fails. */
	if (json_object_set_new(info, API_F_FETCH_LOG, log ? log : json_array()) < 0) {
		json_decref(info);
		return NULL;
	}
	return info;
}

json_t *status_tokens_json(const struct store_view *v)
{
	char at[RFC3339_LEN];
	json_t *list = json_array();
	for (size_t i = 0; list && i < v->n_tokens; i++) {
		const struct store_token_view *t = &v->tokens[i];
		time_format(t->expires_at, at);
		/* No use limit is null, not 0: 0 would read as "none left". */
		json_array_append_new(
		    list,
		    json_pack("{s:s, s:s, s:o, s:I, s:s}", API_F_ID, t->id, API_F_EXPIRES_AT, at,
			      API_F_USES_LEFT,
			      t->uses_left ? json_integer((json_int_t)t->uses_left) : json_null(),
			      API_F_USED, (json_int_t)t->used, API_F_DESCRIPTION, t->description));
	}
	return list ? list : json_array();
}

static json_t *kept_json(const struct store_kept_view *k)
{
	char since[RFC3339_LEN];
	if (!k->under)
		return json_null();
	time_format(k->held_since, since);
	return json_pack("{s:b, s:s, s:s?, s:I, s:s, s:s}", API_F_KEPT, k->kept, API_F_MEMORY,
			 k->memory, API_F_HELD_SINCE, k->kept ? since : NULL, API_F_RESTORES,
			 (json_int_t)k->restores, API_F_NOTE, k->note, API_F_REFUSED,
			 k->refused ? k->note : "");
}

/* Where coordination stands and what the cluster says (null when it is off). */
static json_t *coordination_json(const struct store_view *v)
{
	const struct ledger_coord_state *c = &v->coord;
	char err_at[RFC3339_LEN], exp[RFC3339_LEN];
	if (!c->on)
		return json_null();
	time_format(c->error_at, err_at);
	time_format(c->expires_at, exp);
	json_t *cur = v->cluster.current
			  ? json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:I}", API_F_ID,
				      v->cluster.id, API_F_KEY_ID, v->cluster.key_id, API_F_FETCHES,
				      (json_int_t)v->cluster.fetches, API_F_MAX_FETCHES,
				      (json_int_t)v->cluster.max_fetches, API_F_ORIGIN, c->origin,
				      API_F_EXPIRES_AT, exp, API_F_BYTES, (json_int_t)c->bytes)
			  : json_null();
	json_t *err = c->error[0] ? json_pack("{s:s, s:s}", API_F_ERROR, c->error, API_F_AT, err_at)
				  : json_null();
	json_t *nodes = json_array();
	for (size_t i = 0; nodes && i < c->n_nodes && i < LEDGER_HOLDERS_MAX; i++)
		json_array_append_new(nodes, json_string(c->nodes[i]));
	return json_pack("{s:s, s:s?, s:b, s:b, s:I, s:I, s:o, s:o, s:o}", API_F_NODE, c->node,
			 API_F_PEER_ADDRESS, c->peer_address[0] ? c->peer_address : NULL,
			 API_F_SYNCED, c->synced, API_F_REACHABLE, c->reachable, API_F_REVISION,
			 (json_int_t)c->revision, API_F_PENDING_WRITES, (json_int_t)c->pending,
			 API_F_CURRENT, cur ? cur : json_null(), API_F_ERROR,
			 err ? err : json_null(), API_F_NODES, nodes ? nodes : json_array());
}

/* The nodes that hold the cluster's current bundle (empty when coordination is off). */
static json_t *holders_json(const struct store_view *v)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < v->coord.n_holders && i < LEDGER_HOLDERS_MAX; i++)
		json_array_append_new(list, json_pack("{s:s, s:s}", API_F_NODE,
						      v->coord.holders[i].node, API_F_PEER_ADDRESS,
						      v->coord.holders[i].peer_address));
	return list ? list : json_array();
}

json_t *status_json(const struct store_view *v)
{
	char gone_at[RFC3339_LEN];
	time_format(v->gone_at, gone_at);
	json_t *b = v->held ? status_bundle_json(&v->bundle) : json_null();
	json_t *last = v->gone == STORE_GONE_NEVER
			   ? json_null()
			   : json_pack("{s:s, s:s, s:s}", API_F_ID, v->gone_id, API_F_REASON,
				       store_gone_name(v->gone), API_F_AT, gone_at);
	json_t *kept = kept_json(&v->kept);
	json_t *coord = coordination_json(v);
	return json_pack(
	    "{s:o, s:o, s:o, s:o, s:{s:I, s:I}, s:o, s:o}", API_F_BUNDLE, b ? b : json_null(),
	    API_F_PREVIOUS, last ? last : json_null(), API_F_TOKENS, status_tokens_json(v),
	    API_F_STATE, kept ? kept : json_null(), API_F_KEY_IDS, API_F_USED,
	    (json_int_t)v->n_seen, API_F_MAX, (json_int_t)STORE_MAX_SEEN_KEYS, API_F_COORDINATION,
	    coord ? coord : json_null(), API_F_HOLDERS, holders_json(v));
}
