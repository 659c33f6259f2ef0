/* ledger-etcd.c - the ledger in etcd (ledger-etcd.h; records in proto/coord.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ledger-etcd.h"
#include "util.h"

#define KEY_MAX (LEDGER_PREFIX_MAX + 200)

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bound the etcd calls that follow by the deadline (etcd.c shares what is left between
 * the tries); false when nothing is left. */
static bool budget(struct ledger_etcd *l, int64_t deadline_ms)
{
	etcd_set_deadline(l->e, deadline_ms);
	return deadline_ms - now_ms() > 0;
}

static void key(const struct ledger_etcd *l, char buf[KEY_MAX], const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void key(const struct ledger_etcd *l, char buf[KEY_MAX], const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, KEY_MAX, "%s", l->prefix);
	va_start(ap, fmt);
	vsnprintf(buf + n, KEY_MAX - (size_t)n, fmt, ap);
	va_end(ap);
}

/* An etcd client failure as the protocol's reason. write: a write whose outcome a
 * timeout leaves unknown. */
static int fail(int rc, bool write, const struct etcd_error *err, enum coord_error *ret_error,
		char *msg, size_t msg_len)
{
	switch (rc) {
	case -EHOSTUNREACH:
		*ret_error = COORD_E_UNREACHABLE;
		snprintf(msg, msg_len, "no etcd member could be reached");
		break;
	case -ENOTCONN:
		*ret_error = COORD_E_NO_QUORUM;
		snprintf(msg, msg_len, "etcd has no leader (quorum lost); nothing was applied");
		break;
	case -ETIME:
		*ret_error = COORD_E_TIMEOUT;
		snprintf(msg, msg_len, "no etcd member answered within the request's time%s",
			 write ? "; nothing was applied" : "");
		break;
	case -ETIMEDOUT:
		*ret_error = write ? COORD_E_UNKNOWN_OUTCOME : COORD_E_TIMEOUT;
		snprintf(msg, msg_len, "etcd did not answer in time%s",
			 write ? "; the write may or may not have been applied" : "");
		break;
	case -EACCES:
		*ret_error = COORD_E_DENIED;
		snprintf(msg, msg_len, "etcd refused: %s (check the role of coordd's etcd user)",
			 err && err->message[0] ? err->message : "permission denied");
		break;
	default:
		*ret_error = COORD_E_INTERNAL;
		snprintf(msg, msg_len, "etcd: %s (%d)",
			 err && err->message[0] ? err->message : "error", rc);
		break;
	}
	return -EIO;
}

static int timed_out(enum coord_error *ret_error, char *msg, size_t msg_len, bool wrote)
{
	*ret_error = wrote ? COORD_E_UNKNOWN_OUTCOME : COORD_E_TIMEOUT;
	snprintf(msg, msg_len, "no decision within the request's time%s",
		 wrote ? "; a write may have been applied: ask again with the same ids" : "");
	return -ETIMEDOUT;
}

static json_t *kv_json(const struct etcd_kvs *k)
{
	return k->n == 1 ? json_loadb(k->kv[0].value, k->kv[0].value_len, 0, NULL) : NULL;
}

static int64_t kv_mod(const struct etcd_kvs *k)
{
	return k->n == 1 ? k->kv[0].mod_revision : 0;
}

/* The "current" record as the view's fields. */
static int current_read(json_t *j, struct coord_args *a)
{
	const char *id, *key_id, *sha, *exp, *origin;
	json_int_t bytes, max;
	int ext;
	if (!j ||
	    json_unpack(j, "{s:s, s:s, s:s, s:I, s:s, s:I, s:b, s:s}", "id", &id, "keyId", &key_id,
			"sha256", &sha, "bytes", &bytes, "expiresAt", &exp, "maxFetches", &max,
			"hasExternal", &ext, "origin", &origin) < 0 ||
	    strlen(id) > 32 || strlen(key_id) > 16 || strlen(sha) > 64 || strlen(origin) > 96 ||
	    bytes < 0 || max < 0 || time_parse(exp, &a->expires_at) < 0)
		return -EBADMSG;
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->key_id, sizeof(a->key_id), "%s", key_id);
	snprintf(a->sha256, sizeof(a->sha256), "%s", sha);
	snprintf(a->origin, sizeof(a->origin), "%s", origin);
	a->bytes = (uint64_t)bytes;
	a->max_fetches = (uint64_t)max;
	a->has_external = ext;
	return 0;
}

static char *current_text(const struct coord_args *a)
{
	char exp[RFC3339_LEN];
	time_format(a->expires_at, exp);
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:b, s:s}", "id", a->id, "keyId",
			      a->key_id, "sha256", a->sha256, "bytes", (json_int_t)a->bytes,
			      "expiresAt", exp, "maxFetches", (json_int_t)a->max_fetches,
			      "hasExternal", a->has_external, "origin", a->origin);
	char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return t;
}

static char *gone_text(const char *reason, const char *id)
{
	char at[RFC3339_LEN];
	time_format(time_now(), at);
	json_t *j = json_pack("{s:s, s:s, s:s}", "reason", reason, "id", id, "at", at);
	char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return t;
}

static void gone_read(json_t *j, struct coord_gone *g)
{
	const char *reason, *id, *at;
	*g = (struct coord_gone){0};
	if (j && json_unpack(j, "{s:s, s:s, s:s}", "reason", &reason, "id", &id, "at", &at) == 0 &&
	    strlen(reason) < sizeof(g->reason) && strlen(id) == 32 && time_parse(at, &g->at) == 0) {
		snprintf(g->reason, sizeof(g->reason), "%s", reason);
		snprintf(g->id, sizeof(g->id), "%s", id);
	}
}

/* A consistent read of several keys: a txn of ranges only (one snapshot). */
static int snapshot(struct ledger_etcd *l, const char *const *keys, size_t n,
		    struct etcd_txn_result *ret, struct etcd_error *err)
{
	struct etcd_op ops[ETCD_TXN_OPS_MAX];
	for (size_t i = 0; i < n; i++)
		ops[i] = (struct etcd_op){.kind = ETCD_OP_RANGE, .key = keys[i]};
	struct etcd_txn t = {.success = ops, .n_success = n};
	int rc = etcd_txn(l->e, &t, ret, err);
	if (rc >= 0 && ret->n_ranges != n) {
		etcd_txn_result_done(ret);
		return -EBADMSG;
	}
	return rc;
}

static int do_announce(struct ledger_etcd *l, const struct coord_args *a, int64_t deadline,
		       json_t **ret, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char kcur[KEY_MAX], kid[KEY_MAX], kgone[KEY_MAX];
	key(l, kcur, "current");
	key(l, kid, "keyids/%s", a->key_id);
	key(l, kgone, "gone");
	bool wrote = false;
	while (budget(l, deadline)) {
		struct etcd_txn_result s;
		struct etcd_error err = {0};
		const char *keys[] = {kcur, kid};
		int rc = snapshot(l, keys, 2, &s, &err);
		if (rc < 0 && wrote)
			return timed_out(ret_error, msg, msg_len, wrote);
		if (rc < 0)
			return fail(rc, false, &err, ret_error, msg, msg_len);
		struct coord_args cur = {0};
		json_t *cj = kv_json(&s.ranges[0]);
		bool has_cur = current_read(cj, &cur) == 0;
		json_decref(cj);
		int64_t mod = kv_mod(&s.ranges[0]);
		bool seen = s.ranges[1].n == 1;
		bool ours = seen && !strcmp(s.ranges[1].kv[0].value, a->id);
		etcd_txn_result_done(&s);
		if (seen && ours && wrote) {
			/* Our own write, applied by a try whose answer was lost. */
			*ret = json_pack("{s:s}", "replaced", "");
			return 0;
		}
		if (seen) {
			*ret_error = COORD_E_KEY_REUSED;
			snprintf(msg, msg_len,
				 "the certificate key with id %s was used before (on this or "
				 "another node); upload-certs with a new key",
				 a->key_id);
			return -EEXIST;
		}
		if (has_cur && cur.has_external && !a->has_external && !a->allow_drop_external) {
			*ret_error = COORD_E_DROPS_EXTERNAL;
			snprintf(msg, msg_len,
				 "bundle %s carries external etcd files and this one does not",
				 cur.id);
			return -EXDEV;
		}
		char *ctext = current_text(a);
		char *gtext = has_cur ? gone_text("replaced", cur.id) : NULL;
		if (!ctext || (has_cur && !gtext)) {
			secret_json_free(ctext);
			secret_json_free(gtext);
			return fail(-ENOMEM, true, NULL, ret_error, msg, msg_len);
		}
		struct etcd_cmp cmp[] = {
		    {.key = kid, .target = ETCD_CREATE, .result = ETCD_EQUAL},
		    {.key = kcur, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mod}};
		struct etcd_op ops[] = {
		    {.kind = ETCD_OP_PUT, .key = kid, .value = a->id, .value_len = strlen(a->id)},
		    {.kind = ETCD_OP_PUT, .key = kcur, .value = ctext, .value_len = strlen(ctext)},
		    {.kind = ETCD_OP_PUT,
		     .key = kgone,
		     .value = gtext,
		     .value_len = gtext ? strlen(gtext) : 0}};
		struct etcd_txn t = {
		    .cmp = cmp, .n_cmp = 2, .success = ops, .n_success = has_cur ? 3 : 2};
		struct etcd_txn_result tr;
		rc = etcd_txn(l->e, &t, &tr, &err);
		secret_json_free(ctext);
		secret_json_free(gtext);
		if (rc < 0 && rc != -ETIMEDOUT && wrote) /* an earlier try's outcome is unknown */
			return timed_out(ret_error, msg, msg_len, true);
		wrote = true;
		if (rc == -ETIMEDOUT)
			continue; /* read again: the key id's record says whether it applied */
		if (rc < 0)
			return fail(rc, true, &err, ret_error, msg, msg_len);
		bool ok = tr.succeeded;
		etcd_txn_result_done(&tr);
		if (ok) {
			*ret = json_pack("{s:s}", "replaced", has_cur ? cur.id : "");
			return 0;
		}
	}
	return timed_out(ret_error, msg, msg_len, wrote);
}

static int do_claim(struct ledger_etcd *l, const struct coord_args *a, int64_t deadline,
		    json_t **ret, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char kcur[KEY_MAX], kcount[KEY_MAX], kslot[KEY_MAX], kcert[KEY_MAX], kgone[KEY_MAX],
	    krec[KEY_MAX];
	key(l, kcur, "current");
	key(l, kcount, "bundles/%s/count", a->id);
	key(l, kslot, "bundles/%s/slots/%s", a->id, a->claim_id);
	key(l, krec, "bundles/%s/record", a->id);
	key(l, kcert, "bundles/%s/certs/%s", a->id, a->cert[0] ? a->cert : "-");
	key(l, kgone, "gone");
	bool wrote = false;
	while (budget(l, deadline)) {
		struct etcd_txn_result s;
		struct etcd_error err = {0};
		const char *keys[] = {kcur, kcount, kslot, kcert, kgone};
		int rc = snapshot(l, keys, 5, &s, &err);
		if (rc < 0 && wrote)
			return timed_out(ret_error, msg, msg_len, wrote);
		if (rc < 0)
			return fail(rc, false, &err, ret_error, msg, msg_len);
		struct coord_claim_result c = {0};
		struct coord_args cur = {0};
		json_t *cj = kv_json(&s.ranges[0]), *slot = kv_json(&s.ranges[2]),
		       *cert = kv_json(&s.ranges[3]), *gj = kv_json(&s.ranges[4]);
		bool has_cur = current_read(cj, &cur) == 0;
		int64_t mcur = kv_mod(&s.ranges[0]), mcount = kv_mod(&s.ranges[1]),
			mcert = kv_mod(&s.ranges[3]);
		uint64_t count =
		    s.ranges[1].n == 1 ? strtoull(s.ranges[1].kv[0].value, NULL, 10) : 0;
		json_int_t no = 0;
		gone_read(gj, &c.gone);
		etcd_txn_result_done(&s);
		json_decref(cj);
		json_decref(gj);
		int decided = 0;
		if (slot && json_unpack(slot, "{s:I}", "fetchNo", &no) == 0) {
			/* This claim was made before (a retry): the same answer. */
			snprintf(c.result, sizeof(c.result), "ok");
			c.fetch_no = (uint64_t)no;
			c.last = has_cur ? (cur.max_fetches && c.fetch_no == cur.max_fetches)
					 : !strcmp(c.gone.reason, "used-up") &&
					       !strcmp(c.gone.id, a->id);
			decided = 1;
		} else if (!has_cur || strcmp(cur.id, a->id) != 0) {
			snprintf(c.result, sizeof(c.result), has_cur ? "other" : "gone");
			if (has_cur)
				snprintf(c.current, sizeof(c.current), "%s", cur.id);
			decided = 1;
		} else if (cur.expires_at <= time_now()) {
			/* Past the sealed expiry by this node's clock too: no slot, whatever the
			 * asking pkishared's clock says (one that runs slow would serve late). */
			snprintf(c.result, sizeof(c.result), "gone");
			snprintf(c.gone.reason, sizeof(c.gone.reason), "expired");
			snprintf(c.gone.id, sizeof(c.gone.id), "%s", a->id);
			c.gone.at = cur.expires_at;
			decided = 1;
		} else if (a->cert[0] && cert && json_unpack(cert, "{s:I}", "fetchNo", &no) == 0) {
			/* A repeat serves that slot again: marked so (compare-and-swap on the
			 * certificate's record), so that an unclaim of the slot by the node
			 * whose client left cannot give it back under a served repeat. */
			int rr = 1;
			if (!json_is_true(json_object_get(cert, "repeated"))) {
				json_object_set_new(cert, "repeated", json_true());
				char *rtext = json_dumps(cert, JSON_COMPACT | JSON_SORT_KEYS);
				struct etcd_cmp rc1 = {.key = kcert,
						       .target = ETCD_MOD,
						       .result = ETCD_EQUAL,
						       .number = mcert};
				struct etcd_op ro = {.kind = ETCD_OP_PUT,
						     .key = kcert,
						     .value = rtext,
						     .value_len = rtext ? strlen(rtext) : 0};
				struct etcd_txn rt = {
				    .cmp = &rc1, .n_cmp = 1, .success = &ro, .n_success = 1};
				struct etcd_txn_result rtr = {0};
				struct etcd_error rerr = {0};
				int w = rtext ? etcd_txn(l->e, &rt, &rtr, &rerr) : -ENOMEM;
				secret_json_free(rtext);
				rr = w == 0 && rtr.succeeded ? 1 : w == 0 ? 0 : w;
				if (w == 0)
					etcd_txn_result_done(&rtr);
			}
			if (rr < 0) {
				json_decref(slot);
				json_decref(cert);
				return fail(rr, true, NULL, ret_error, msg, msg_len);
			}
			if (rr == 1) {
				snprintf(c.result, sizeof(c.result), "ok");
				c.fetch_no = (uint64_t)no;
				c.repeat = true;
				decided = 1;
			}
			/* rr == 0: the record changed (given back meanwhile): read again */
			if (!decided) {
				json_decref(slot);
				json_decref(cert);
				continue;
			}
		}
		json_decref(slot);
		json_decref(cert);
		if (decided) {
			*ret = coordmsg_claim_result(&c);
			return 0;
		}
		if (cur.max_fetches && count >= cur.max_fetches) {
			/* Cannot happen while current names it (the last claim deletes it); say
			 * used-up rather than count past the limit. */
			snprintf(c.result, sizeof(c.result), "gone");
			snprintf(c.gone.reason, sizeof(c.gone.reason), "used-up");
			snprintf(c.gone.id, sizeof(c.gone.id), "%s", a->id);
			*ret = coordmsg_claim_result(&c);
			return 0;
		}
		uint64_t next = count + 1;
		bool last = cur.max_fetches && next == cur.max_fetches;
		char ntext[24], at[RFC3339_LEN];
		snprintf(ntext, sizeof(ntext), "%llu", (unsigned long long)next);
		time_format(time_now(), at);
		json_t *sj = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "fetchNo",
				       (json_int_t)next, "client", a->client, "cert", a->cert,
				       "source", a->source, "peer", a->peer, "at", at);
		json_t *cjj =
		    json_pack("{s:s, s:I}", "claimId", a->claim_id, "fetchNo", (json_int_t)next);
		char *stext = sj ? json_dumps(sj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		char *ctext = cjj ? json_dumps(cjj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		char *gtext = last ? gone_text("used-up", a->id) : NULL;
		/* The record the last claim takes out of current, kept beside the slots so that
		 * an unclaim of that slot (its answer never reached a client) can put it back. */
		char *rtext = last ? current_text(&cur) : NULL;
		json_decref(sj);
		json_decref(cjj);
		struct etcd_cmp cmp[] = {
		    {.key = kcur, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mcur},
		    {.key = kcount, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mcount},
		    {.key = kslot, .target = ETCD_CREATE, .result = ETCD_EQUAL}};
		struct etcd_op ops[6];
		size_t n = 0;
		ops[n++] = (struct etcd_op){
		    .kind = ETCD_OP_PUT, .key = kcount, .value = ntext, .value_len = strlen(ntext)};
		ops[n++] = (struct etcd_op){.kind = ETCD_OP_PUT,
					    .key = kslot,
					    .value = stext,
					    .value_len = stext ? strlen(stext) : 0};
		if (a->cert[0])
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_PUT,
						    .key = kcert,
						    .value = ctext,
						    .value_len = ctext ? strlen(ctext) : 0};
		if (last) {
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_DELETE, .key = kcur};
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_PUT,
						    .key = kgone,
						    .value = gtext,
						    .value_len = gtext ? strlen(gtext) : 0};
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_PUT,
						    .key = krec,
						    .value = rtext,
						    .value_len = rtext ? strlen(rtext) : 0};
		}
		struct etcd_txn t = {.cmp = cmp, .n_cmp = 3, .success = ops, .n_success = n};
		struct etcd_txn_result tr = {0};
		rc = stext && ctext && (!last || (gtext && rtext)) ? etcd_txn(l->e, &t, &tr, &err)
								   : -ENOMEM;
		secret_json_free(stext);
		secret_json_free(ctext);
		secret_json_free(gtext);
		secret_json_free(rtext);
		if (rc < 0 && rc != -ETIMEDOUT && wrote) /* an earlier try's outcome is unknown */
			return timed_out(ret_error, msg, msg_len, true);
		wrote = true;
		if (rc == -ETIMEDOUT)
			continue; /* the slot's record says whether it applied */
		if (rc < 0)
			return fail(rc, true, &err, ret_error, msg, msg_len);
		bool ok = tr.succeeded;
		etcd_txn_result_done(&tr);
		if (ok) {
			c = (struct coord_claim_result){.fetch_no = next, .last = last};
			snprintf(c.result, sizeof(c.result), "ok");
			*ret = coordmsg_claim_result(&c);
			return 0;
		}
	}
	return timed_out(ret_error, msg, msg_len, wrote);
}

/* Give back the slot claim a->claim_id took of bundle a->id, whose answer never reached a
 * client (it left, or pkishared gave up on an unknown outcome): the count goes down, the
 * slot (and its certificate's record) go, and when that slot was the last one (the bundle
 * is gone as used-up by it), the bundle is current again from the record the claim kept.
 * Nothing to give back (no such slot, or the bundle went otherwise) is not an error. */
static int do_unclaim(struct ledger_etcd *l, const struct coord_args *a, int64_t deadline,
		      json_t **ret, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char kcur[KEY_MAX], kcount[KEY_MAX], kslot[KEY_MAX], kgone[KEY_MAX], krec[KEY_MAX],
	    kcert[KEY_MAX];
	key(l, kcur, "current");
	key(l, kcount, "bundles/%s/count", a->id);
	key(l, kslot, "bundles/%s/slots/%s", a->id, a->claim_id);
	key(l, kgone, "gone");
	key(l, krec, "bundles/%s/record", a->id);
	bool wrote = false;
	while (budget(l, deadline)) {
		struct etcd_txn_result s;
		struct etcd_error err = {0};
		const char *keys[] = {kcur, kcount, kslot, kgone, krec};
		int rc = snapshot(l, keys, 5, &s, &err);
		if (rc < 0)
			return wrote ? timed_out(ret_error, msg, msg_len, true)
				     : fail(rc, false, &err, ret_error, msg, msg_len);
		struct coord_args cur = {0};
		struct coord_gone g = {0};
		json_t *cj = kv_json(&s.ranges[0]), *slot = kv_json(&s.ranges[2]),
		       *gj = kv_json(&s.ranges[3]);
		bool has_cur = current_read(cj, &cur) == 0;
		gone_read(gj, &g);
		int64_t mcur = kv_mod(&s.ranges[0]), mcount = kv_mod(&s.ranges[1]),
			mslot = kv_mod(&s.ranges[2]), mgone = kv_mod(&s.ranges[3]);
		uint64_t count =
		    s.ranges[1].n == 1 ? strtoull(s.ranges[1].kv[0].value, NULL, 10) : 0;
		char *rec = s.ranges[4].n == 1
				? strndup(s.ranges[4].kv[0].value, s.ranges[4].kv[0].value_len)
				: NULL;
		json_int_t no = 0;
		const char *cert = "";
		bool have_slot =
		    slot && json_unpack(slot, "{s:I, s:s}", "fetchNo", &no, "cert", &cert) == 0;
		int64_t mcert = 0;
		if (have_slot && cert[0]) {
			/* A certificate's slot that a repeat served (on any node) is not given
			 * back: that identity has the bundle. */
			struct etcd_kvs ck;
			key(l, kcert, "bundles/%s/certs/%s", a->id, cert);
			rc = etcd_range(l->e, kcert, NULL, false, &ck, &err);
			if (rc < 0) {
				json_decref(slot);
				free(rec);
				return fail(rc, false, &err, ret_error, msg, msg_len);
			}
			json_t *cj2 = kv_json(&ck);
			const char *owner = json_string_value(json_object_get(cj2, "claimId"));
			bool repeated = json_is_true(json_object_get(cj2, "repeated"));
			bool ours = owner && !strcmp(owner, a->claim_id);
			mcert = kv_mod(&ck);
			json_decref(cj2);
			etcd_kvs_done(&ck);
			if (repeated || !ours)
				have_slot = false;
		}
		json_decref(cj);
		json_decref(gj);
		etcd_txn_result_done(&s);
		bool mine = has_cur && !strcmp(cur.id, a->id);
		bool last = !has_cur && !strcmp(g.reason, "used-up") && !strcmp(g.id, a->id) &&
			    rec && (uint64_t)no == count;
		if (!have_slot || (!mine && !last) || count == 0) {
			/* Nothing (left) to give back that counts. */
			json_decref(slot);
			free(rec);
			*ret = json_object();
			return 0;
		}
		char ntext[24];
		snprintf(ntext, sizeof(ntext), "%llu", (unsigned long long)(count - 1));
		struct etcd_cmp cmp[] = {
		    {.key = kcount, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mcount},
		    {.key = kslot, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mslot},
		    {.key = mine ? kcur : kgone,
		     .target = ETCD_MOD,
		     .result = ETCD_EQUAL,
		     .number = mine ? mcur : mgone},
		    {.key = kcert, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mcert}};
		struct etcd_op ops[5];
		size_t n = 0;
		ops[n++] = (struct etcd_op){
		    .kind = ETCD_OP_PUT, .key = kcount, .value = ntext, .value_len = strlen(ntext)};
		ops[n++] = (struct etcd_op){.kind = ETCD_OP_DELETE, .key = kslot};
		if (cert[0])
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_DELETE, .key = kcert};
		if (last) {
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_PUT,
						    .key = kcur,
						    .value = rec,
						    .value_len = strlen(rec)};
			ops[n++] = (struct etcd_op){.kind = ETCD_OP_DELETE, .key = kgone};
		}
		struct etcd_txn t = {
		    .cmp = cmp, .n_cmp = cert[0] ? 4 : 3, .success = ops, .n_success = n};
		struct etcd_txn_result tr = {0};
		rc = etcd_txn(l->e, &t, &tr, &err);
		json_decref(slot);
		free(rec);
		if (rc == -ETIMEDOUT) {
			wrote = true;
			continue; /* the slot's absence says whether it applied */
		}
		if (rc < 0)
			return wrote ? timed_out(ret_error, msg, msg_len, true)
				     : fail(rc, true, &err, ret_error, msg, msg_len);
		bool ok = tr.succeeded;
		etcd_txn_result_done(&tr);
		if (ok) {
			*ret = json_object();
			return 0;
		}
	}
	return timed_out(ret_error, msg, msg_len, wrote);
}

static int do_retire(struct ledger_etcd *l, const struct coord_args *a, int64_t deadline,
		     json_t **ret, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char kcur[KEY_MAX], kgone[KEY_MAX];
	key(l, kcur, "current");
	key(l, kgone, "gone");
	bool wrote = false;
	while (budget(l, deadline)) {
		struct etcd_txn_result s;
		struct etcd_error err = {0};
		const char *keys[] = {kcur, kgone};
		int rc = snapshot(l, keys, 2, &s, &err);
		if (rc < 0 && wrote)
			return timed_out(ret_error, msg, msg_len, wrote);
		if (rc < 0)
			return fail(rc, false, &err, ret_error, msg, msg_len);
		struct coord_args cur = {0};
		struct coord_gone gone = {0};
		json_t *cj = kv_json(&s.ranges[0]), *gj = kv_json(&s.ranges[1]);
		bool has_cur = current_read(cj, &cur) == 0;
		gone_read(gj, &gone);
		int64_t mod = kv_mod(&s.ranges[0]), mgone = kv_mod(&s.ranges[1]);
		json_decref(cj);
		json_decref(gj);
		etcd_txn_result_done(&s);
		/* Used up by its last claim, this bundle is still the one an unclaim of that
		 * claim would make current again: its retirement (a delete) is recorded in its
		 * place, so that no unclaim brings back what an operator deleted. */
		bool used_up = !has_cur && !strcmp(gone.reason, "used-up") &&
			       !strcmp(gone.id, a->id) && strcmp(a->reason, "used-up") != 0;
		if (!used_up && (!has_cur || strcmp(cur.id, a->id) != 0)) {
			if (wrote) { /* ours applied, its answer lost */
				*ret = json_object();
				return 0;
			}
			*ret_error = COORD_E_NOT_CURRENT;
			snprintf(msg, msg_len, "bundle %s is not the current one (%s is)", a->id,
				 has_cur ? cur.id : "none");
			return -ENOENT;
		}
		char *g = gone_text(a->reason, a->id);
		struct etcd_cmp cmp = {.key = used_up ? kgone : kcur,
				       .target = ETCD_MOD,
				       .result = ETCD_EQUAL,
				       .number = used_up ? mgone : mod};
		struct etcd_op ops[] = {
		    {.kind = ETCD_OP_PUT, .key = kgone, .value = g, .value_len = g ? strlen(g) : 0},
		    {.kind = ETCD_OP_DELETE, .key = kcur}};
		struct etcd_txn t = {
		    .cmp = &cmp, .n_cmp = 1, .success = ops, .n_success = used_up ? 1 : 2};
		struct etcd_txn_result tr = {0};
		rc = g ? etcd_txn(l->e, &t, &tr, &err) : -ENOMEM;
		secret_json_free(g);
		if (rc < 0 && rc != -ETIMEDOUT && wrote) /* an earlier try's outcome is unknown */
			return timed_out(ret_error, msg, msg_len, true);
		wrote = true;
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return fail(rc, true, &err, ret_error, msg, msg_len);
		bool ok = tr.succeeded;
		etcd_txn_result_done(&tr);
		if (ok) {
			*ret = json_object();
			return 0;
		}
	}
	return timed_out(ret_error, msg, msg_len, wrote);
}

static int do_view(struct ledger_etcd *l, json_t **ret, enum coord_error *ret_error, char *msg,
		   size_t msg_len)
{
	char kcur[KEY_MAX], kgone[KEY_MAX], kids[KEY_MAX], kids_end[KEY_MAX], kcount[KEY_MAX];
	key(l, kcur, "current");
	key(l, kgone, "gone");
	key(l, kids, "keyids/");
	etcd_prefix_end(kids, kids_end, sizeof(kids_end));
	const char *keys[] = {kcur, kgone};
	struct etcd_txn_result s;
	struct etcd_error err = {0};
	int rc = snapshot(l, keys, 2, &s, &err);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, msg_len);
	struct coord_view v = {.revision = (uint64_t)s.revision};
	json_t *cj = kv_json(&s.ranges[0]), *gj = kv_json(&s.ranges[1]);
	v.has_current = current_read(cj, &v.current) == 0;
	gone_read(gj, &v.gone);
	json_decref(cj);
	json_decref(gj);
	etcd_txn_result_done(&s);
	struct etcd_kvs k;
	if (v.has_current) {
		key(l, kcount, "bundles/%s/count", v.current.id);
		rc = etcd_range(l->e, kcount, NULL, false, &k, &err);
		if (rc < 0)
			return fail(rc, false, &err, ret_error, msg, msg_len);
		v.fetches = k.n == 1 ? strtoull(k.kv[0].value, NULL, 10) : 0;
		etcd_kvs_done(&k);
	}
	/* The count of every key id ever used (etcd counts them; one is returned). */
	rc = etcd_range_count(l->e, kids, kids_end, &v.key_ids, &err);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, msg_len);
	*ret = coordmsg_view_result(&v);
	return 0;
}

static int do_hold(struct ledger_etcd *l, const struct coord_request *r, json_t **ret,
		   enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char k[KEY_MAX];
	struct etcd_error err = {0};
	if (r->op == COORD_REGISTER)
		key(l, k, "nodes/%s", r->args.node);
	else
		key(l, k, "holders/%s/%s", r->args.id, r->args.node);
	int rc;
	if (r->op == COORD_HOLD || r->op == COORD_REGISTER) {
		json_t *j = json_pack("{s:s, s:s}", "peerAddress", r->args.peer_address,
				      "servingPin", r->args.serving_pin);
		char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
		rc = t ? etcd_put(l->e, k, t, strlen(t), atomic_load(l->lease), NULL, &err)
		       : -ENOMEM;
		secret_json_free(t);
	} else {
		rc = etcd_delete(l->e, k, NULL, NULL, &err);
	}
	if (rc < 0)
		return fail(rc, true, &err, ret_error, msg, msg_len);
	*ret = json_object();
	return 0;
}

/* The nodes under holders/ID/ (holders) or nodes/ (peers), as the protocol lists them. */
static int do_holders(struct ledger_etcd *l, const struct coord_request *r, json_t **ret,
		      enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char k[KEY_MAX], end[KEY_MAX];
	struct etcd_error err = {0};
	struct etcd_kvs kv;
	if (r->op == COORD_PEERS)
		key(l, k, "nodes/");
	else
		key(l, k, "holders/%s/", r->args.id);
	etcd_prefix_end(k, end, sizeof(end));
	int rc = etcd_range(l->e, k, end, false, &kv, &err);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, msg_len);
	struct coord_holder h[COORD_HOLDERS_MAX] = {0};
	size_t n = 0, plen = strlen(k);
	for (size_t i = 0; i < kv.n && n < COORD_HOLDERS_MAX; i++) {
		const char *pa, *pin;
		json_t *j = json_loadb(kv.kv[i].value, kv.kv[i].value_len, 0, NULL);
		if (j && kv.kv[i].key_len > plen &&
		    json_unpack(j, "{s:s, s:s}", "peerAddress", &pa, "servingPin", &pin) == 0) {
			snprintf(h[n].node, sizeof(h[n].node), "%s", kv.kv[i].key + plen);
			snprintf(h[n].peer_address, sizeof(h[n].peer_address), "%s", pa);
			snprintf(h[n].serving_pin, sizeof(h[n].serving_pin), "%s", pin);
			n++;
		}
		json_decref(j);
	}
	etcd_kvs_done(&kv);
	/* A record not of the form (written by something else) is left out, never passed. */
	json_t *(*list)(const struct coord_holder *, size_t) =
	    r->op == COORD_PEERS ? coordmsg_peers_result : coordmsg_holders_result;
	*ret = list(h, n);
	if (!*ret)
		*ret = list(h, 0);
	return 0;
}

/* A join token's record, tokens/ID: everything but its id (the key's last part). */
static char *token_text(const struct coord_token *t)
{
	char exp[RFC3339_LEN], at[RFC3339_LEN] = "";
	time_format(t->expires_at, exp);
	if (t->spent_at)
		time_format(t->spent_at, at);
	json_t *j =
	    json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "hash", t->secret_hash, "expiresAt",
		      exp, "uses", (json_int_t)t->uses, "used", (json_int_t)t->used, "description",
		      t->description, "spentBy", t->spent_by, "spentAt", at);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

/* The record kv (of token id) into t: 0, or -EBADMSG for one not of the form. */
static int token_read(const char *id, const char *value, size_t len, struct coord_token *t)
{
	const char *hash, *exp, *desc, *by, *at;
	json_int_t uses, used;
	json_t *j = json_loadb(value, len, 0, NULL);
	int rc = -EBADMSG;
	memset(t, 0, sizeof(*t));
	if (j &&
	    json_unpack(j, "{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "hash", &hash, "expiresAt", &exp,
			"uses", &uses, "used", &used, "description", &desc, "spentBy", &by,
			"spentAt", &at) == 0 &&
	    strlen(id) == 6 && strlen(hash) == 64 && uses >= 0 && used >= 0 &&
	    strlen(desc) <= COORD_DESCRIPTION_MAX && strlen(by) <= COORD_TEXT_MAX &&
	    time_parse(exp, &t->expires_at) == 0 && (!at[0] || time_parse(at, &t->spent_at) == 0)) {
		memcpy(t->id, id, 7);
		memcpy(t->secret_hash, hash, 65);
		t->uses = (uint64_t)uses;
		t->used = (uint64_t)used;
		snprintf(t->description, sizeof(t->description), "%s", desc);
		snprintf(t->spent_by, sizeof(t->spent_by), "%s", by);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* The live token records under tokens/ (at most COORD_TOKENS_MAX; ret NULL: none), and how
 * many there are in all; records expired more than a day ago are deleted on the way (best
 * effort: the list is etcd's, and a failed delete is tried again at the next list). */
#define TOKEN_EXPIRED_KEPT_S (24 * 3600)
static int tokens_read(struct ledger_etcd *l, struct coord_token *ret, size_t *ret_n,
		       size_t *ret_live, struct etcd_error *err)
{
	char k[KEY_MAX], end[KEY_MAX];
	struct etcd_kvs kv;
	key(l, k, "tokens/");
	etcd_prefix_end(k, end, sizeof(end));
	int rc = etcd_range(l->e, k, end, false, &kv, err);
	if (rc < 0)
		return rc;
	size_t plen = strlen(k), n = 0, live = 0;
	int64_t now = time_now();
	for (size_t i = 0; i < kv.n; i++) {
		struct coord_token t;
		if (kv.kv[i].key_len <= plen ||
		    token_read(kv.kv[i].key + plen, kv.kv[i].value, kv.kv[i].value_len, &t) < 0)
			continue; /* not of the form: left out, never passed on */
		if (t.expires_at + TOKEN_EXPIRED_KEPT_S < now) {
			struct etcd_error ignored = {0};
			(void)etcd_delete(l->e, kv.kv[i].key, NULL, NULL, &ignored);
			continue;
		}
		if (t.expires_at > now && (!t.uses || t.used < t.uses))
			live++;
		if (ret && n < COORD_TOKENS_MAX)
			ret[n++] = t;
	}
	etcd_kvs_done(&kv);
	*ret_n = n;
	if (ret_live)
		*ret_live = live;
	return 0;
}

static int do_tokens(struct ledger_etcd *l, json_t **ret, enum coord_error *ret_error, char *msg,
		     size_t msg_len)
{
	/* On the heap, not static: coordd's workers list tokens at the same time; not on the
	 * stack, as it is some 40 kB. */
	struct coord_token *t = calloc(COORD_TOKENS_MAX, sizeof(*t));
	struct etcd_error err = {0};
	size_t n = 0;
	if (!t)
		return fail(-ENOMEM, false, NULL, ret_error, msg, msg_len);
	int rc = tokens_read(l, t, &n, NULL, &err);
	if (rc >= 0)
		*ret = coordmsg_tokens_result(t, n);
	sodium_memzero(t, COORD_TOKENS_MAX * sizeof(*t));
	free(t);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, msg_len);
	return *ret ? 0 : fail(-ENOMEM, false, NULL, ret_error, msg, msg_len);
}

static int do_token_add(struct ledger_etcd *l, const struct coord_args *a, int64_t deadline,
			json_t **ret, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char k[KEY_MAX];
	struct etcd_error err = {0};
	struct coord_token t = {.expires_at = a->expires_at, .uses = a->uses};
	size_t n = 0, live = 0;
	memcpy(t.id, a->token_id, sizeof(t.id));
	memcpy(t.secret_hash, a->secret_hash, sizeof(t.secret_hash));
	memcpy(t.description, a->description, sizeof(t.description));
	key(l, k, "tokens/%s", a->token_id);
	int rc = tokens_read(l, NULL, &n, &live, &err);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, msg_len);
	if (live >= COORD_TOKENS_MAX) {
		*ret_error = COORD_E_TOO_MANY;
		snprintf(msg, msg_len, "%d join tokens are live in the cluster; delete some first",
			 COORD_TOKENS_MAX);
		return -ENOSPC;
	}
	bool unknown = false; /* a try's answer was lost: read before trying again */
	while (budget(l, deadline)) {
		if (unknown) {
			struct etcd_kvs kv;
			struct coord_token there;
			if (etcd_range(l->e, k, NULL, false, &kv, &err) < 0)
				continue;
			int taken = kv.n == 1;
			bool ours = taken &&
				    token_read(a->token_id, kv.kv[0].value, kv.kv[0].value_len,
					       &there) == 0 &&
				    sodium_memcmp(there.secret_hash, a->secret_hash, 64) == 0;
			etcd_kvs_done(&kv);
			sodium_memzero(&there, sizeof(there));
			if (ours) {
				*ret = json_object();
				return 0;
			}
			if (taken) {
				*ret_error = COORD_E_EXISTS;
				snprintf(msg, msg_len, "join token %s exists", a->token_id);
				return -EEXIST;
			}
		}
		char *text = token_text(&t);
		struct etcd_cmp cmp = {.key = k, .target = ETCD_CREATE, .result = ETCD_EQUAL};
		struct etcd_op op = {.kind = ETCD_OP_PUT,
				     .key = k,
				     .value = text,
				     .value_len = text ? strlen(text) : 0};
		struct etcd_txn tx = {.cmp = &cmp, .n_cmp = 1, .success = &op, .n_success = 1};
		struct etcd_txn_result tr = {0};
		rc = text ? etcd_txn(l->e, &tx, &tr, &err) : -ENOMEM;
		secret_json_free(text);
		if (rc == -ETIMEDOUT) {
			unknown = true;
			continue;
		}
		if (rc < 0)
			return unknown ? timed_out(ret_error, msg, msg_len, true)
				       : fail(rc, true, &err, ret_error, msg, msg_len);
		bool ok = tr.succeeded;
		etcd_txn_result_done(&tr);
		if (!ok) {
			*ret_error = COORD_E_EXISTS;
			snprintf(msg, msg_len, "join token %s exists", a->token_id);
			return -EEXIST;
		}
		*ret = json_object();
		return 0;
	}
	return timed_out(ret_error, msg, msg_len, unknown);
}

/* One use of token a->token_id for a->client, if a->secret_hash is its own, it has not
 * expired and a use is left: compare-and-swap on the record's revision, so uses are
 * counted once cluster-wide whichever node enrolls. */
static int do_token_use(struct ledger_etcd *l, const struct coord_args *a, int64_t deadline,
			json_t **ret, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char k[KEY_MAX];
	struct coord_token_use u = {0};
	key(l, k, "tokens/%s", a->token_id);
	while (budget(l, deadline)) {
		struct etcd_kvs kv;
		struct etcd_error err = {0};
		struct coord_token t;
		int rc = etcd_range(l->e, k, NULL, false, &kv, &err);
		if (rc < 0)
			return fail(rc, false, &err, ret_error, msg, msg_len);
		bool found = kv.n == 1 &&
			     token_read(a->token_id, kv.kv[0].value, kv.kv[0].value_len, &t) == 0;
		int64_t mod = kv.n == 1 ? kv_mod(&kv) : 0;
		etcd_kvs_done(&kv);
		bool same = found && sodium_memcmp(t.secret_hash, a->secret_hash, 64) == 0;
		if (!same) {
			snprintf(u.result, sizeof(u.result), "unknown");
		} else if (t.expires_at <= time_now()) {
			snprintf(u.result, sizeof(u.result), "expired");
		} else if (t.uses && t.used >= t.uses) {
			snprintf(u.result, sizeof(u.result), "spent");
			snprintf(u.spent_by, sizeof(u.spent_by), "%s", t.spent_by);
			u.spent_at = t.spent_at;
		} else {
			t.used++;
			if (t.uses && t.used == t.uses) {
				snprintf(t.spent_by, sizeof(t.spent_by), "%s", a->client);
				t.spent_at = time_now();
			}
			char *text = token_text(&t);
			struct etcd_cmp cmp = {
			    .key = k, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = mod};
			struct etcd_op op = {.kind = ETCD_OP_PUT,
					     .key = k,
					     .value = text,
					     .value_len = text ? strlen(text) : 0};
			struct etcd_txn tx = {
			    .cmp = &cmp, .n_cmp = 1, .success = &op, .n_success = 1};
			struct etcd_txn_result tr = {0};
			rc = text ? etcd_txn(l->e, &tx, &tr, &err) : -ENOMEM;
			secret_json_free(text);
			sodium_memzero(&t.secret_hash, sizeof(t.secret_hash));
			/* A use whose answer was lost may have been spent: never asked again
			 * (that could spend two), answered unknown-outcome. */
			if (rc == -ETIMEDOUT)
				return timed_out(ret_error, msg, msg_len, true);
			if (rc < 0)
				return fail(rc, true, &err, ret_error, msg, msg_len);
			bool ok = tr.succeeded;
			etcd_txn_result_done(&tr);
			if (!ok)
				continue; /* another node's use came first: read again */
			snprintf(u.result, sizeof(u.result), "ok");
			u.uses_left = t.uses ? t.uses - t.used : 0;
			if (t.uses && !u.uses_left) {
				snprintf(u.spent_by, sizeof(u.spent_by), "%s", t.spent_by);
				u.spent_at = t.spent_at;
			}
		}
		sodium_memzero(&t, sizeof(t));
		*ret = coordmsg_token_use_result(&u);
		return *ret ? 0 : fail(-ENOMEM, false, NULL, ret_error, msg, msg_len);
	}
	return timed_out(ret_error, msg, msg_len, false);
}

static int do_token_delete(struct ledger_etcd *l, const struct coord_args *a, json_t **ret,
			   enum coord_error *ret_error, char *msg, size_t msg_len)
{
	char k[KEY_MAX];
	struct etcd_error err = {0};
	int64_t deleted = 0;
	key(l, k, "tokens/%s", a->token_id);
	int rc = etcd_delete(l->e, k, NULL, &deleted, &err);
	if (rc < 0)
		return fail(rc, true, &err, ret_error, msg, msg_len);
	if (!deleted) {
		*ret_error = COORD_E_NOT_CURRENT;
		snprintf(msg, msg_len, "no join token %s", a->token_id);
		return -ENOENT;
	}
	*ret = json_object();
	return 0;
}

int ledger_etcd_unregister(struct ledger_etcd *l, const char *node, int64_t deadline_ms)
{
	char k[KEY_MAX];
	struct etcd_error err = {0};
	if (!budget(l, deadline_ms))
		return -ETIME;
	key(l, k, "nodes/%s", node);
	return etcd_delete(l->e, k, NULL, NULL, &err);
}

int ledger_etcd_peer(struct ledger_etcd *l, const char *node, int64_t deadline_ms,
		     struct coord_holder *ret, enum coord_error *ret_error, char *msg,
		     size_t msg_len)
{
	char k[KEY_MAX];
	struct etcd_error err = {0};
	struct etcd_kvs kv;
	const char *pa, *pin;
	if (!budget(l, deadline_ms))
		return timed_out(ret_error, msg, msg_len, false);
	key(l, k, "nodes/%s", node);
	int rc = etcd_range(l->e, k, NULL, false, &kv, &err);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, msg_len);
	json_t *j = kv.n == 1 ? json_loadb(kv.kv[0].value, kv.kv[0].value_len, 0, NULL) : NULL;
	rc = -ENOENT;
	if (j && json_unpack(j, "{s:s, s:s}", "peerAddress", &pa, "servingPin", &pin) == 0 &&
	    strlen(pa) < sizeof(ret->peer_address) && strlen(pin) < sizeof(ret->serving_pin)) {
		snprintf(ret->node, sizeof(ret->node), "%s", node);
		snprintf(ret->peer_address, sizeof(ret->peer_address), "%s", pa);
		snprintf(ret->serving_pin, sizeof(ret->serving_pin), "%s", pin);
		rc = 0;
	}
	json_decref(j);
	etcd_kvs_done(&kv);
	if (rc < 0) {
		*ret_error = COORD_E_NOT_CURRENT;
		snprintf(msg, msg_len, "no node %s is registered", node);
	}
	return rc;
}

int ledger_etcd_handle(struct ledger_etcd *l, const struct coord_request *r, int64_t deadline_ms,
		       json_t **ret_result, enum coord_error *ret_error, char *msg, size_t msg_len)
{
	json_t *res = NULL;
	int rc;
	struct etcd_kvs k;
	struct etcd_error err = {0};
	char kid[KEY_MAX];
	if (!budget(l, deadline_ms))
		return timed_out(ret_error, msg, msg_len, false);
	switch (r->op) {
	case COORD_ANNOUNCE:
		rc = do_announce(l, &r->args, deadline_ms, &res, ret_error, msg, msg_len);
		break;
	case COORD_CLAIM:
		rc = do_claim(l, &r->args, deadline_ms, &res, ret_error, msg, msg_len);
		break;
	case COORD_RETIRE:
		rc = do_retire(l, &r->args, deadline_ms, &res, ret_error, msg, msg_len);
		break;
	case COORD_KEYID_SEEN:
		key(l, kid, "keyids/%s", r->args.key_id);
		rc = etcd_range(l->e, kid, NULL, false, &k, &err);
		if (rc < 0)
			return fail(rc, false, &err, ret_error, msg, msg_len);
		res = json_pack("{s:b}", "seen", k.n == 1);
		etcd_kvs_done(&k);
		break;
	case COORD_VIEW:
		rc = do_view(l, &res, ret_error, msg, msg_len);
		break;
	case COORD_HOLD:
	case COORD_RELEASE:
	case COORD_REGISTER:
		rc = do_hold(l, r, &res, ret_error, msg, msg_len);
		break;
	case COORD_HOLDERS:
	case COORD_PEERS:
		rc = do_holders(l, r, &res, ret_error, msg, msg_len);
		break;
	case COORD_UNCLAIM:
		rc = do_unclaim(l, &r->args, deadline_ms, &res, ret_error, msg, msg_len);
		break;
	case COORD_TOKEN_ADD:
		rc = do_token_add(l, &r->args, deadline_ms, &res, ret_error, msg, msg_len);
		break;
	case COORD_TOKEN_USE:
		rc = do_token_use(l, &r->args, deadline_ms, &res, ret_error, msg, msg_len);
		break;
	case COORD_TOKEN_DELETE:
		rc = do_token_delete(l, &r->args, &res, ret_error, msg, msg_len);
		break;
	case COORD_TOKENS:
		rc = do_tokens(l, &res, ret_error, msg, msg_len);
		break;
	case COORD_PING:
		res = json_pack("{s:i, s:s, s:s}", "version", COORD_VERSION, "prefix", l->prefix,
				"endpoint", etcd_endpoint(l->e));
		rc = 0;
		break;
	default:
		*ret_error = COORD_E_BAD_REQUEST;
		snprintf(msg, msg_len, "%s is not handled here", coord_op_name(r->op));
		return -EINVAL;
	}
	if (rc < 0)
		return rc;
	if (!res)
		return fail(-ENOMEM, false, NULL, ret_error, msg, msg_len);
	*ret_result = res;
	return 0;
}

int ledger_etcd_revision(struct ledger_etcd *l, int64_t deadline_ms, int64_t *ret_revision,
			 enum coord_error *ret_error)
{
	char k[KEY_MAX], msg[COORD_MESSAGE_MAX];
	struct etcd_kvs kv;
	struct etcd_error err = {0};
	if (!budget(l, deadline_ms))
		return timed_out(ret_error, msg, sizeof(msg), false);
	key(l, k, "current");
	int rc = etcd_range(l->e, k, NULL, false, &kv, &err);
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, sizeof(msg));
	*ret_revision = kv.revision;
	etcd_kvs_done(&kv);
	return 0;
}

int ledger_etcd_keepalive(struct ledger_etcd *l, int64_t ttl_s, int64_t deadline_ms,
			  enum coord_error *ret_error)
{
	char msg[COORD_MESSAGE_MAX];
	struct etcd_error err = {0};
	int64_t ttl = 0, lease = atomic_load(l->lease);
	if (!budget(l, deadline_ms))
		return timed_out(ret_error, msg, sizeof(msg), false);
	int rc = lease ? etcd_lease_keepalive(l->e, lease, &ttl, &err) : 0;
	if (rc < 0)
		return fail(rc, false, &err, ret_error, msg, sizeof(msg));
	if (lease && ttl > 0)
		return 0;
	/* None yet, or gone (coordd was cut off longer than its TTL): a new one. The holders
	 * registered under the old one went with it; pkishared registers again on the next
	 * hold. */
	rc = etcd_lease_grant(l->e, ttl_s, 0, &lease, &err);
	atomic_store(l->lease, rc < 0 ? 0 : lease);
	if (rc < 0)
		return fail(rc, true, &err, ret_error, msg, sizeof(msg));
	return 0;
}
