/* etcdmsg.c - etcd v3 JSON gateway messages (etcdmsg.h): built with jansson, keys and
 * values through libsodium's base64, every answer read with proto3's defaults. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cleanup.h"
#include "etcdmsg.h"

#define B64 sodium_base64_VARIANT_ORIGINAL

/* base64 of n bytes as a new JSON string, or NULL. */
static json_t *b64_json(const void *p, size_t n)
{
	size_t cap = sodium_base64_encoded_len(n, B64);
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	sodium_bin2base64(buf, cap, p, n, B64);
	json_t *j = json_string(buf);
	free(buf);
	return j;
}

static json_t *i64_json(int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

/* Set name to v (v's reference taken); false if v is NULL or the set failed. */
static bool set(json_t *o, const char *name, json_t *v)
{
	return v && json_object_set_new(o, name, v) == 0;
}

static bool key_ok(const char *key)
{
	return key && key[0] && strlen(key) <= ETCD_KEY_MAX;
}

/* key (and range_end when not NULL) into o. */
static bool set_range(json_t *o, const char *key, const char *range_end)
{
	if (!key_ok(key) || (range_end && strlen(range_end) > ETCD_KEY_MAX))
		return false;
	if (!set(o, "key", b64_json(key, strlen(key))))
		return false;
	/* "" is etcd's "every key from key on": the byte 0 as range_end. */
	if (range_end &&
	    !set(o, "range_end",
		 range_end[0] ? b64_json(range_end, strlen(range_end)) : b64_json("", 1)))
		return false;
	return true;
}

json_t *etcdmsg_range(const char *key, const char *range_end, int64_t revision, bool serializable,
		      int64_t limit)
{
	json_t *o = json_object();
	if (!o || !set_range(o, key, range_end) ||
	    (revision > 0 && !set(o, "revision", i64_json(revision))) ||
	    (limit > 0 && !set(o, "limit", i64_json(limit))) ||
	    (serializable && !set(o, "serializable", json_true()))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *etcdmsg_put(const char *key, const void *value, size_t value_len, int64_t lease)
{
	json_t *o = json_object();
	if (!o || !key_ok(key) || value_len > ETCD_VALUE_MAX ||
	    !set(o, "key", b64_json(key, strlen(key))) ||
	    !set(o, "value", b64_json(value, value_len)) ||
	    (lease && !set(o, "lease", i64_json(lease)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *etcdmsg_delete(const char *key, const char *range_end)
{
	json_t *o = json_object();
	if (!o || !set_range(o, key, range_end)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int etcd_prefix_end(const char *prefix, char *buf, size_t len)
{
	size_t n = prefix ? strlen(prefix) : 0;
	if (n == 0)
		return -EINVAL;
	if (n + 1 > len)
		return -ENOBUFS;
	memcpy(buf, prefix, n + 1);
	/* The last byte that is not 0xff, plus one; what follows it goes. */
	for (size_t i = n; i-- > 0;) {
		if ((unsigned char)buf[i] != 0xff) {
			buf[i] = (char)((unsigned char)buf[i] + 1);
			buf[i + 1] = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const target_names[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
static const char *const target_fields[] = {"version", "create_revision", "mod_revision", "value",
					    "lease"};
static const char *const result_names[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};

static json_t *cmp_json(const struct etcd_cmp *c)
{
	if ((unsigned)c->target > ETCD_LEASE || (unsigned)c->result > ETCD_NOT_EQUAL ||
	    !key_ok(c->key) || c->value_len > ETCD_VALUE_MAX)
		return NULL;
	json_t *o = json_object();
	json_t *v = c->target == ETCD_VALUE ? b64_json(c->value ? c->value : "", c->value_len)
					    : i64_json(c->number);
	if (!o || !set(o, "key", b64_json(c->key, strlen(c->key))) ||
	    !set(o, "target", json_string(target_names[c->target])) ||
	    !set(o, "result", json_string(result_names[c->result])) ||
	    !set(o, target_fields[c->target], v)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *op_json(const struct etcd_op *op)
{
	json_t *inner = NULL;
	const char *name = NULL;
	switch (op->kind) {
	case ETCD_OP_RANGE:
		inner = etcdmsg_range(op->key, op->range_end, 0, false, 0);
		name = "request_range";
		break;
	case ETCD_OP_PUT:
		inner = etcdmsg_put(op->key, op->value, op->value_len, op->lease);
		name = "request_put";
		break;
	case ETCD_OP_DELETE:
		inner = etcdmsg_delete(op->key, op->range_end);
		name = "request_delete_range";
		break;
	}
	if (!inner)
		return NULL;
	json_t *o = json_object();
	if (!o || !set(o, name, inner)) {
		json_decref(o);
		if (!o)
			json_decref(inner);
		return NULL;
	}
	return o;
}

static json_t *ops_json(const struct etcd_op *ops, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *o = op_json(&ops[i]);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *etcdmsg_txn(const struct etcd_txn *t)
{
	if (t->n_cmp > ETCD_TXN_OPS_MAX || t->n_success > ETCD_TXN_OPS_MAX ||
	    t->n_failure > ETCD_TXN_OPS_MAX)
		return NULL;
	json_t *o = json_object(), *cmp = json_array();
	for (size_t i = 0; cmp && i < t->n_cmp; i++) {
		json_t *c = cmp_json(&t->cmp[i]);
		if (!c || json_array_append_new(cmp, c) < 0) {
			json_decref(cmp);
			cmp = NULL;
		}
	}
	if (!o || !set(o, "compare", cmp) ||
	    !set(o, "success", ops_json(t->success, t->n_success)) ||
	    !set(o, "failure", ops_json(t->failure, t->n_failure))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *etcdmsg_lease_grant(int64_t ttl_s, int64_t id)
{
	json_t *o = json_object();
	if (!o || ttl_s <= 0 || !set(o, "TTL", i64_json(ttl_s)) ||
	    (id && !set(o, "ID", i64_json(id)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *etcdmsg_lease_id(int64_t id)
{
	json_t *o = json_object();
	if (!o || !set(o, "ID", i64_json(id))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *etcdmsg_watch_create(const char *key, const char *range_end, int64_t start_revision,
			     bool progress_notify, bool prev_kv)
{
	json_t *o = json_object(), *c = json_object();
	if (!o || !c || !set_range(c, key, range_end) ||
	    (start_revision > 0 && !set(c, "start_revision", i64_json(start_revision))) ||
	    (progress_notify && !set(c, "progress_notify", json_true())) ||
	    (prev_kv && !set(c, "prev_kv", json_true())) || !set(o, "create_request", c)) {
		json_decref(c);
		json_decref(o);
		return NULL;
	}
	return o;
}

int etcdmsg_authenticate(const char *user, const struct secret *password, struct secret **ret_body)
{
	/* jansson allocates through lib/secret's wiping allocator; the text is copied into
	 * guarded memory and jansson's copy wiped. */
	json_t *o = json_pack("{s:s, s:s%}", "name", user, "password", (const char *)password->data,
			      password->len);
	if (!o)
		return -EINVAL;
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	struct secret *s = secret_dup(text, strlen(text));
	secret_wipe(text, strlen(text));
	secret_json_free(text);
	if (!s)
		return -ENOMEM;
	*ret_body = s;
	return 0;
}

/* Answers. */

static json_t *load(const char *body, size_t len)
{
	if (!body || len == 0 || len > ETCD_LINE_MAX)
		return NULL;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* An int64 field: absent or null is 0; a decimal string or a JSON integer. */
static int get_i64(const json_t *o, const char *name, int64_t *ret)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v)) {
		*ret = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || !s[0] || strlen(s) > 20)
		return -EBADMSG;
	char *end = NULL;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || *end || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return -EBADMSG;
	*ret = x;
	return 0;
}

static int get_bool(const json_t *o, const char *name, bool *ret)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v)) {
		*ret = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return -EBADMSG;
	*ret = json_is_true(v);
	return 0;
}

/* An object field: absent or null is NULL (0), another type -EBADMSG. */
static int get_obj(const json_t *o, const char *name, json_t **ret)
{
	json_t *v = json_object_get(o, name);
	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int get_array(const json_t *o, const char *name, json_t **ret)
{
	json_t *v = json_object_get(o, name);
	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* A base64 field decoded into a new NUL-terminated buffer: absent is "". */
static int get_b64(const json_t *o, const char *name, size_t max, char **ret, size_t *ret_len)
{
	json_t *v = json_object_get(o, name);
	const char *s = "";
	if (v && !json_is_null(v) && !(s = json_string_value(v)))
		return -EBADMSG;
	size_t n = strlen(s);
	if (n / 4 * 3 > max + 3)
		return -E2BIG;
	char *buf = malloc(n / 4 * 3 + 4);
	if (!buf)
		return -ENOMEM;
	size_t out = 0;
	const char *end = NULL;
	if (sodium_base642bin((unsigned char *)buf, n / 4 * 3 + 3, s, n, NULL, &out, &end, B64) !=
		0 ||
	    end != s + n || out > max) {
		free(buf);
		return out > max ? -E2BIG : -EBADMSG;
	}
	buf[out] = 0;
	*ret = buf;
	*ret_len = out;
	return 0;
}

static void kv_done(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	*kv = (struct etcd_kv){0};
}

static int parse_kv(const json_t *o, struct etcd_kv *ret)
{
	struct etcd_kv kv = {0};
	if (!json_is_object(o))
		return -EBADMSG;
	int r = get_b64(o, "key", ETCD_KEY_MAX, &kv.key, &kv.key_len);
	if (r >= 0)
		r = get_b64(o, "value", ETCD_VALUE_MAX, &kv.value, &kv.value_len);
	if (r >= 0)
		r = get_i64(o, "create_revision", &kv.create_revision);
	if (r >= 0)
		r = get_i64(o, "mod_revision", &kv.mod_revision);
	if (r >= 0)
		r = get_i64(o, "version", &kv.version);
	if (r >= 0)
		r = get_i64(o, "lease", &kv.lease);
	if (r >= 0 && strlen(kv.key) != kv.key_len)
		r = -EBADMSG; /* a key with a NUL byte is none of ours */
	if (r < 0) {
		kv_done(&kv);
		return r;
	}
	*ret = kv;
	return 0;
}

static int header_revision(const json_t *o, int64_t *ret)
{
	json_t *h;
	int r = get_obj(o, "header", &h);
	if (r < 0)
		return r;
	return get_i64(h, "revision", ret); /* a NULL h reads as absent: 0 */
}

void etcd_kvs_done(struct etcd_kvs *k)
{
	for (size_t i = 0; k->kv && i < k->n; i++)
		kv_done(&k->kv[i]);
	free(k->kv);
	*k = (struct etcd_kvs){0};
}

static int parse_kvs(const json_t *o, struct etcd_kvs *ret)
{
	struct etcd_kvs k = {0};
	json_t *a;
	int r = header_revision(o, &k.revision);
	if (r >= 0)
		r = get_i64(o, "count", &k.count);
	if (r >= 0)
		r = get_bool(o, "more", &k.more);
	if (r >= 0)
		r = get_array(o, "kvs", &a);
	if (r < 0)
		return r;
	size_t n = a ? json_array_size(a) : 0;
	if (n > ETCD_KVS_MAX)
		return -E2BIG;
	if (n && !(k.kv = calloc(n, sizeof(*k.kv))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, k.n++) {
		r = parse_kv(json_array_get(a, i), &k.kv[i]);
		if (r < 0) {
			etcd_kvs_done(&k);
			return r;
		}
	}
	*ret = k;
	return 0;
}

int etcdmsg_error(const char *body, size_t len, struct etcd_error *ret)
{
	_cleanup_(json_decrefp) json_t *j = load(body, len);
	json_t *e = j ? json_object_get(j, "error") : NULL;
	struct etcd_error out = {0};
	const char *msg = NULL;
	if (json_is_string(e)) {
		/* Unary calls: {"error": TEXT, "code": N, "message": TEXT}. */
		json_t *c = json_object_get(j, "code");
		if (!json_is_integer(c))
			return -EBADMSG;
		out.code = (int)json_integer_value(c);
		msg = json_string_value(json_object_get(j, "message"));
		if (!msg)
			msg = json_string_value(e);
	} else if (json_is_object(e)) {
		/* Streams: {"error": {"grpc_code": N, "http_code": N, "message": TEXT}}. */
		json_t *c = json_object_get(e, "grpc_code");
		if (!json_is_integer(c))
			return -EBADMSG;
		out.code = (int)json_integer_value(c);
		msg = json_string_value(json_object_get(e, "message"));
	} else {
		return -EBADMSG;
	}
	snprintf(out.message, sizeof(out.message), "%s", msg ? msg : "");
	/* Printable only: it reaches logs. */
	for (char *p = out.message; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	*ret = out;
	return 0;
}

bool etcd_error_no_leader(const struct etcd_error *e)
{
	return e->code == 14 && strstr(e->message, "no leader") != NULL;
}

int etcdmsg_range_result(const char *body, size_t len, struct etcd_kvs *ret)
{
	_cleanup_(json_decrefp) json_t *j = load(body, len);
	return j ? parse_kvs(j, ret) : -EBADMSG;
}

void etcd_txn_result_done(struct etcd_txn_result *r)
{
	for (size_t i = 0; i < r->n_ranges; i++)
		etcd_kvs_done(&r->ranges[i]);
	*r = (struct etcd_txn_result){0};
}

int etcdmsg_txn_result(const char *body, size_t len, struct etcd_txn_result *ret)
{
	_cleanup_(json_decrefp) json_t *j = load(body, len);
	struct etcd_txn_result t = {0};
	json_t *a;
	if (!j)
		return -EBADMSG;
	int r = header_revision(j, &t.revision);
	if (r >= 0)
		r = get_bool(j, "succeeded", &t.succeeded);
	if (r >= 0)
		r = get_array(j, "responses", &a);
	if (r < 0)
		return r;
	size_t n = a ? json_array_size(a) : 0;
	if (n > ETCD_TXN_OPS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n && r >= 0; i++) {
		json_t *one = json_array_get(a, i), *rr;
		if (!json_is_object(one)) {
			r = -EBADMSG;
			break;
		}
		r = get_obj(one, "response_range", &rr);
		if (r >= 0 && rr) {
			r = parse_kvs(rr, &t.ranges[t.n_ranges]);
			if (r >= 0)
				t.n_ranges++;
		}
	}
	if (r < 0) {
		etcd_txn_result_done(&t);
		return r;
	}
	*ret = t;
	return 0;
}

int etcdmsg_write_result(const char *body, size_t len, int64_t *ret_revision, int64_t *ret_deleted)
{
	_cleanup_(json_decrefp) json_t *j = load(body, len);
	int64_t rev = 0, deleted = 0;
	if (!j || header_revision(j, &rev) < 0 || get_i64(j, "deleted", &deleted) < 0)
		return -EBADMSG;
	if (ret_revision)
		*ret_revision = rev;
	if (ret_deleted)
		*ret_deleted = deleted;
	return 0;
}

int etcdmsg_lease_grant_result(const char *body, size_t len, int64_t *ret_id, int64_t *ret_ttl)
{
	_cleanup_(json_decrefp) json_t *j = load(body, len);
	int64_t id = 0, ttl = 0;
	json_t *e = j ? json_object_get(j, "error") : NULL;
	if (!j || get_i64(j, "ID", &id) < 0 || get_i64(j, "TTL", &ttl) < 0)
		return -EBADMSG;
	/* LeaseGrantResponse's own "error" field: a grant that did not happen. */
	if ((e && json_is_string(e) && json_string_length(e) > 0) || id == 0 || ttl <= 0)
		return -EPROTO;
	*ret_id = id;
	*ret_ttl = ttl;
	return 0;
}

int etcdmsg_keepalive_result(const char *line, size_t len, int64_t *ret_id, int64_t *ret_ttl)
{
	_cleanup_(json_decrefp) json_t *j = load(line, len);
	json_t *res;
	int64_t id = 0, ttl = 0;
	if (!j || get_obj(j, "result", &res) < 0 || !res || get_i64(res, "ID", &id) < 0 ||
	    get_i64(res, "TTL", &ttl) < 0)
		return -EBADMSG;
	*ret_id = id;
	*ret_ttl = ttl;
	return 0;
}

int etcdmsg_auth_result(const char *body, size_t len, struct secret **ret_token)
{
	_cleanup_(json_decrefp) json_t *j = load(body, len);
	const char *tok = j ? json_string_value(json_object_get(j, "token")) : NULL;
	if (!tok || !tok[0] || strlen(tok) > 4096)
		return -EBADMSG;
	for (const char *p = tok; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p > 0x7e)
			return -EBADMSG; /* it goes into a header */
	struct secret *s = secret_dup(tok, strlen(tok));
	if (!s)
		return -ENOMEM;
	*ret_token = s;
	return 0;
}

void etcd_watch_msg_done(struct etcd_watch_msg *m)
{
	for (size_t i = 0; m->events && i < m->n_events; i++) {
		kv_done(&m->events[i].kv);
		kv_done(&m->events[i].prev);
	}
	free(m->events);
	*m = (struct etcd_watch_msg){0};
}

static int parse_event(const json_t *o, struct etcd_event *ret)
{
	json_t *kv, *prev, *type;
	if (!json_is_object(o) || get_obj(o, "kv", &kv) < 0 || !kv ||
	    get_obj(o, "prev_kv", &prev) < 0)
		return -EBADMSG;
	type = json_object_get(o, "type");
	struct etcd_event e = {0};
	if (type && !json_is_null(type)) {
		const char *t = json_string_value(type);
		if (!t || (strcmp(t, "DELETE") != 0 && strcmp(t, "PUT") != 0))
			return -EBADMSG;
		e.deleted = strcmp(t, "DELETE") == 0;
	}
	int r = parse_kv(kv, &e.kv);
	if (r >= 0 && prev) {
		r = parse_kv(prev, &e.prev);
		e.has_prev = r >= 0;
	}
	if (r < 0) {
		kv_done(&e.kv);
		return r;
	}
	*ret = e;
	return 0;
}

int etcdmsg_watch_msg(const char *line, size_t len, struct etcd_watch_msg *ret,
		      struct etcd_error *ret_error)
{
	_cleanup_(json_decrefp) json_t *j = load(line, len);
	struct etcd_watch_msg m = {0};
	json_t *res, *events;
	if (!j)
		return -EBADMSG;
	if (json_object_get(j, "error")) {
		struct etcd_error e;
		if (etcdmsg_error(line, len, &e) < 0)
			return -EBADMSG;
		if (ret_error)
			*ret_error = e;
		return -EPROTO;
	}
	int r = get_obj(j, "result", &res);
	if (r < 0 || !res)
		return -EBADMSG;
	const char *reason = NULL;
	json_t *rv = json_object_get(res, "cancel_reason");
	if (rv && !json_is_null(rv) && !(reason = json_string_value(rv)))
		return -EBADMSG;
	if ((r = header_revision(res, &m.revision)) < 0 ||
	    (r = get_i64(res, "watch_id", &m.watch_id)) < 0 ||
	    (r = get_bool(res, "created", &m.created)) < 0 ||
	    (r = get_bool(res, "canceled", &m.canceled)) < 0 ||
	    (r = get_i64(res, "compact_revision", &m.compact_revision)) < 0 ||
	    (r = get_array(res, "events", &events)) < 0)
		return r;
	snprintf(m.cancel_reason, sizeof(m.cancel_reason), "%s", reason ? reason : "");
	for (char *p = m.cancel_reason; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	size_t n = events ? json_array_size(events) : 0;
	if (n > ETCD_EVENTS_MAX)
		return -E2BIG;
	if (n && !(m.events = calloc(n, sizeof(*m.events))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, m.n_events++) {
		r = parse_event(json_array_get(events, i), &m.events[i]);
		if (r < 0) {
			etcd_watch_msg_done(&m);
			return r;
		}
	}
	m.progress = !m.created && !m.canceled && n == 0;
	*ret = m;
	return 0;
}

int etcd_lines_feed(struct etcd_lines *l, const char *data, size_t n,
		    int (*cb)(const char *line, size_t len, void *arg), void *arg)
{
	if (l->overflow)
		return -E2BIG;
	size_t max = l->max ? l->max : ETCD_LINE_MAX;
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		if (l->len + take > max) {
			l->overflow = true;
			return -E2BIG;
		}
		if (l->len + take + 1 > l->cap) {
			size_t cap = l->cap ? l->cap : 4096;
			while (cap < l->len + take + 1)
				cap *= 2;
			char *b = realloc(l->buf, cap);
			if (!b)
				return -ENOMEM;
			l->buf = b;
			l->cap = cap;
		}
		memcpy(l->buf + l->len, data, take);
		l->len += take;
		data += take;
		n -= take;
		if (!nl)
			break;
		data++, n--;
		size_t len = l->len;
		l->len = 0;
		/* A line's own "\r" (HTTP/1.1 chunking leaves none, but be lenient). */
		if (len && l->buf[len - 1] == '\r')
			len--;
		l->buf[len] = 0;
		if (len) {
			int r = cb(l->buf, len, arg);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

void etcd_lines_done(struct etcd_lines *l)
{
	free(l->buf);
	*l = (struct etcd_lines){0};
}
