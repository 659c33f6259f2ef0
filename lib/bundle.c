/* bundle.c - bundle JSON and the sealing of whole PKI sets.
 *
 * Plaintext exists here only inside struct secret buffers; jansson's own copies are wiped
 * by the allocator installed in secret_init(). Never logs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "bundle.h"
#include "cleanup.h"
#include "error.h"
#include "seal.h"
#include "util.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

static void set_detail(char *detail, const char *what)
{
	if (detail)
		str_copy(detail, DETAIL_MAX, what);
}

static void names_of(const struct pki_set *s, const char **names)
{
	for (size_t i = 0; i < s->n; i++)
		names[i] = s->e[i].name;
}

static int seal_one(const struct seal_header *h, const struct pki_entry *e, const uint8_t *key,
		    json_t *files)
{
	_cleanup_(freep) uint8_t *aad = NULL;
	_cleanup_(secret_freep) struct secret *sealed = NULL;
	_cleanup_(secret_freep) struct secret *b64 = NULL;
	size_t aad_len = 0;
	char mode[8];

	int r = seal_aad(h, e->name, e->mode, &aad, &aad_len);
	if (r < 0)
		return r;
	r = seal_encrypt(key, aad, aad_len, e->data->data, e->data->len, NULL, &sealed);
	if (r < 0)
		return r;
	size_t b64_len = sodium_base64_ENCODED_LEN(sealed->len, B64_VARIANT);
	b64 = secret_new(b64_len);
	if (!b64)
		return -ENOMEM;
	sodium_bin2base64((char *)b64->data, b64_len, sealed->data, sealed->len, B64_VARIANT);
	snprintf(mode, sizeof(mode), "%04o", e->mode);
	json_t *f = json_pack("{s:s, s:s, s:s}", "name", e->name, "mode", mode, "data",
			      (const char *)b64->data);
	if (!f || json_array_append_new(files, f) < 0)
		return -ENOMEM;
	return 0;
}

/* id, or a fresh random one. */
static void id_make(const char *id, char out[BUNDLE_ID_HEX_LEN + 1])
{
	uint8_t raw[BUNDLE_ID_BYTES];
	if (id) {
		str_copy(out, BUNDLE_ID_HEX_LEN + 1, id);
		return;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, BUNDLE_ID_HEX_LEN + 1, raw, sizeof(raw));
}

/* The document as indented JSON and a final newline, in guarded memory (jansson's own
 * copy is wiped). */
static int document_dump(json_t *root, struct secret **ret_json)
{
	char *text = json_dumps(root, JSON_INDENT(2));
	if (!text)
		return -ENOMEM;
	size_t tl = strlen(text);
	struct secret *out = secret_new(tl + 1);
	if (out && (secret_append(out, text, tl) < 0 || secret_append(out, "\n", 1) < 0))
		out = secret_free(out);
	secret_wipe(text, tl);
	secret_json_free(text);
	if (!out)
		return -ENOMEM;
	*ret_json = out;
	return 0;
}

int bundle_seal(const struct pki_set *plain, const uint8_t *key, const char *id, int64_t created_at,
		int64_t expires_at, const struct profile *profile, struct secret **ret_json,
		char ret_id[BUNDLE_ID_HEX_LEN + 1])
{
	struct pki_set sorted = *plain; /* shallow: only the order changes */
	const char *names[PKI_MAX_FILES];
	char idbuf[BUNDLE_ID_HEX_LEN + 1], kid[KEY_ID_HEX_LEN + 1];
	char created[RFC3339_LEN], expires[RFC3339_LEN];

	if (plain->n == 0)
		return -PKS_E_MISSING;
	if (expires_at <= created_at)
		return -EINVAL;
	for (size_t i = 0; i < plain->n; i++) {
		const struct pki_known *k = pki_known_lookup(plain->e[i].name);
		if (!k || k->mode != plain->e[i].mode)
			return -PKS_E_NAME;
	}
	pki_set_sort(&sorted);
	names_of(&sorted, names);
	id_make(id, idbuf);
	key_id(key, kid);
	time_format(created_at, created);
	time_format(expires_at, expires);

	_cleanup_(freep) char *canonical = NULL;
	_cleanup_(json_decrefp) json_t *pjson = NULL;
	if (profile && profile_is_set(profile)) {
		canonical = profile_canonical(profile);
		pjson = profile_to_json(profile);
		if (!canonical || !pjson)
			return -ENOMEM;
	}
	struct seal_header h = {.id = idbuf,
				.created_at = created_at,
				.expires_at = expires_at,
				.names = names,
				.n_names = sorted.n,
				.profile = canonical};
	_cleanup_(json_decrefp) json_t *files = json_array();
	if (!files)
		return -ENOMEM;
	for (size_t i = 0; i < sorted.n; i++) {
		int e = seal_one(&h, &sorted.e[i], key, files);
		if (e < 0)
			return e;
	}
	_cleanup_(json_decrefp) json_t *root =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "apiVersion", BUNDLE_API_VERSION,
		      "kind", BUNDLE_KIND, "id", idbuf, "createdAt", created, "expiresAt", expires,
		      "keyId", kid, "cipher", BUNDLE_CIPHER, "files", files);
	if (!root || (pjson && json_object_set(root, "profile", pjson) < 0))
		return -ENOMEM;
	int r = document_dump(root, ret_json);
	if (r < 0)
		return r;
	if (ret_id)
		str_copy(ret_id, BUNDLE_ID_HEX_LEN + 1, idbuf);
	return 0;
}

static const char *get_string(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Refuse any field of o outside allowed; where names the object in the detail. */
static int only_fields(json_t *o, const char *const *allowed, size_t n, const char *where,
		       char *detail)
{
	const char *k;
	json_t *v;
	json_object_foreach (o, k, v) {
		bool ok = false;
		for (size_t i = 0; i < n; i++)
			ok |= !strcmp(k, allowed[i]);
		if (!ok) {
			if (!where && detail)
				snprintf(detail, DETAIL_MAX, "unknown field \"%.64s\"", k);
			else
				set_detail(detail, where);
			return -PKS_E_BUNDLE_FORMAT;
		}
	}
	return 0;
}

/* An entry's data: base64 of nonce, ciphertext and tag, decoded into guarded memory. */
static int entry_data_decode(const char *name, const char *data, struct secret **ret, char *detail)
{
	size_t dlen = strlen(data), raw_len = 0;
	const char *end = NULL;
	if (dlen > sodium_base64_ENCODED_LEN(PKI_FILE_MAX_BYTES + SEAL_OVERHEAD, B64_VARIANT)) {
		set_detail(detail, name);
		return -PKS_E_TOO_BIG;
	}
	_cleanup_(secret_freep) struct secret *raw = secret_new(dlen / 4 * 3 + 3);
	if (!raw)
		return -ENOMEM;
	if (sodium_base642bin(raw->data, raw->cap, data, dlen, NULL, &raw_len, &end, B64_VARIANT) !=
		0 ||
	    end != data + dlen) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "files[%s]: data is not valid base64", name);
		return -PKS_E_BUNDLE_FORMAT;
	}
	raw->len = raw_len;
	if (raw_len < SEAL_OVERHEAD) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "files[%s]: data shorter than nonce and tag",
				 name);
		return -PKS_E_BUNDLE_FORMAT;
	}
	*ret = TAKE_PTR(raw);
	return 0;
}

static int parse_file(json_t *f, struct pki_set *set, char *detail)
{
	static const char *const allowed[] = {"name", "mode", "data"};
	struct secret *raw = NULL;

	if (!json_is_object(f)) {
		set_detail(detail, "files[]: each entry must be an object");
		return -PKS_E_BUNDLE_FORMAT;
	}
	int r = only_fields(f, allowed, ELEMENTSOF(allowed), "files[]: unknown field", detail);
	if (r < 0)
		return r;
	const char *name = get_string(f, "name");
	const char *mode = get_string(f, "mode");
	const char *data = get_string(f, "data");
	if (!name || !mode || !data) {
		set_detail(detail, "files[]: name, mode and data must be strings");
		return -PKS_E_BUNDLE_FORMAT;
	}
	const struct pki_known *known = pki_known_lookup(name);
	if (!known || !name_is_safe(name)) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "files[]: \"%.64s\" is not a shared PKI file",
				 name);
		return -PKS_E_NAME;
	}
	char want[8];
	snprintf(want, sizeof(want), "%04o", known->mode);
	if (strcmp(mode, want) != 0) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "files[%s]: mode must be %s", name, want);
		return -PKS_E_BUNDLE_FORMAT;
	}
	r = entry_data_decode(name, data, &raw, detail);
	if (r < 0)
		return r;
	r = pki_set_add(set, name, known->mode, raw);
	if (r < 0)
		set_detail(detail, name);
	return r;
}

/* The document's top level: an object of known fields, within the size cap. */
static int root_load(const char *text, size_t len, json_t **ret, char *detail)
{
	static const char *const allowed[] = {"apiVersion", "kind",	 "id",
					      "createdAt",  "expiresAt", "keyId",
					      "cipher",	    "files",	 "profile"};
	json_error_t jerr;
	if (len > BUNDLE_MAX_BYTES) {
		set_detail(detail, "bundle larger than 1 MiB");
		return -PKS_E_TOO_BIG;
	}
	_cleanup_(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
		return -PKS_E_BUNDLE_FORMAT;
	}
	if (!json_is_object(root)) {
		set_detail(detail, "top level must be an object");
		return -PKS_E_BUNDLE_FORMAT;
	}
	int r = only_fields(root, allowed, ELEMENTSOF(allowed), NULL, detail);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(root);
	return 0;
}

/* apiVersion, kind, cipher, id, keyId and the two times, into b. */
static int header_parse(json_t *root, struct bundle *b, char *detail)
{
	const char *api = get_string(root, "apiVersion"), *kind = get_string(root, "kind");
	const char *cipher = get_string(root, "cipher");
	if (!api || !kind || !cipher) {
		set_detail(detail, "apiVersion, kind and cipher are required strings");
		return -PKS_E_BUNDLE_FORMAT;
	}
	if (strcmp(api, BUNDLE_API_VERSION) != 0 || strcmp(kind, BUNDLE_KIND) != 0 ||
	    strcmp(cipher, BUNDLE_CIPHER) != 0) {
		set_detail(detail, "expected " BUNDLE_API_VERSION " " BUNDLE_KIND
				   " with cipher " BUNDLE_CIPHER);
		return -PKS_E_BUNDLE_VERSION;
	}
	const char *id = get_string(root, "id"), *kid = get_string(root, "keyId");
	if (!id || !str_is_lower_hex(id, BUNDLE_ID_HEX_LEN)) {
		set_detail(detail, "id must be 32 lowercase hex characters");
		return -PKS_E_BUNDLE_FORMAT;
	}
	if (!kid || !str_is_lower_hex(kid, KEY_ID_HEX_LEN)) {
		set_detail(detail, "keyId must be 16 lowercase hex characters");
		return -PKS_E_BUNDLE_FORMAT;
	}
	if (time_parse(get_string(root, "createdAt"), &b->created_at) < 0 ||
	    time_parse(get_string(root, "expiresAt"), &b->expires_at) < 0) {
		set_detail(detail, "createdAt and expiresAt must be UTC times like "
				   "2026-01-02T03:04:05Z");
		return -PKS_E_BUNDLE_FORMAT;
	}
	if (b->expires_at <= b->created_at) {
		set_detail(detail, "expiresAt must be after createdAt");
		return -PKS_E_BUNDLE_FORMAT;
	}
	str_copy(b->id, sizeof(b->id), id);
	str_copy(b->key_id, sizeof(b->key_id), kid);
	return 0;
}

/* The optional profile, kept in its canonical form (what the entries are bound to). */
static int profile_parse(json_t *root, struct bundle *b, char *detail)
{
	json_t *pjson = json_object_get(root, "profile");
	if (!pjson)
		return 0;
	struct profile *prof = calloc(1, sizeof(*prof));
	int r = prof ? profile_from_json(pjson, prof, detail) : -ENOMEM;
	if (r == 0 && !(b->profile = profile_canonical(prof)))
		r = -ENOMEM;
	free(prof);
	return r;
}

int bundle_parse(const char *text, size_t len, struct bundle *ret, char *detail)
{
	_cleanup_(bundle_done) struct bundle b = {0};
	_cleanup_(json_decrefp) json_t *root = NULL;
	size_t i;
	json_t *v;

	int r = root_load(text, len, &root, detail);
	if (r == 0)
		r = header_parse(root, &b, detail);
	if (r < 0)
		return r;
	json_t *files = json_object_get(root, "files");
	if (!json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > PKI_MAX_FILES) {
		set_detail(detail, "files must be a non-empty array");
		return -PKS_E_BUNDLE_FORMAT;
	}
	r = profile_parse(root, &b, detail);
	if (r < 0)
		return r;
	json_array_foreach (files, i, v) {
		r = parse_file(v, &b.files, detail);
		if (r < 0)
			return r;
	}
	pki_set_sort(&b.files);
	*ret = b;
	b = (struct bundle){0}; /* handed out: nothing left to free here */
	return 0;
}

int bundle_open(const struct bundle *b, const uint8_t *key, int64_t now, unsigned flags,
		struct pki_set *ret, char *detail)
{
	struct pki_set out = {0};
	const char *names[PKI_MAX_FILES];
	char kid[KEY_ID_HEX_LEN + 1];

	if (!(flags & BUNDLE_OPEN_ALLOW_EXPIRED) && now >= b->expires_at) {
		char when[RFC3339_LEN];
		time_format(b->expires_at, when);
		if (detail)
			snprintf(detail, DETAIL_MAX, "bundle %s expired at %s", b->id, when);
		return -PKS_E_EXPIRED;
	}
	key_id(key, kid);
	if (strcmp(kid, b->key_id) != 0) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "key id %s, bundle sealed with key id %s", kid,
				 b->key_id);
		return -PKS_E_KEY_MISMATCH;
	}
	names_of(&b->files, names);
	struct seal_header h = {.id = b->id,
				.created_at = b->created_at,
				.expires_at = b->expires_at,
				.names = names,
				.n_names = b->files.n,
				.profile = b->profile};
	for (size_t i = 0; i < b->files.n; i++) {
		const struct pki_entry *e = &b->files.e[i];
		_cleanup_(freep) uint8_t *aad = NULL;
		size_t aad_len = 0;
		struct secret *pt = NULL;
		int r = seal_aad(&h, e->name, e->mode, &aad, &aad_len);
		if (r >= 0)
			r = seal_decrypt(key, aad, aad_len, e->data->data, e->data->len, &pt);
		if (r >= 0)
			r = pki_set_add(&out, e->name, e->mode, pt);
		if (r < 0) {
			pki_set_clear(&out);
			set_detail(detail, e->name);
			return r;
		}
	}
	for (size_t i = 0; i < pki_shared_files_count; i++)
		if (pki_shared_files[i].required && !pki_set_find(&out, pki_shared_files[i].name)) {
			pki_set_clear(&out);
			set_detail(detail, pki_shared_files[i].name);
			return -PKS_E_MISSING;
		}
	*ret = out;
	return 0;
}

void bundle_done(struct bundle *b)
{
	pki_set_clear(&b->files);
	free(b->profile);
	b->profile = NULL;
}
