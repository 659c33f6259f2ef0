/* test-bundle.c - bundle JSON parsing (every refusal), opening the independent
 * implementation's bundle, and tampering: swapped, dropped, re-dated entries. */
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "cleanup.h"
#include "error.h"
#include "key.h"
#include "secret.h"
#include "test.h"
#include "util.h"

/* Parse text, expecting err; returns the detail for further checks. */
static int parse_err(const char *text, int want)
{
	struct bundle b = {0};
	char detail[DETAIL_MAX] = "";
	int r = bundle_parse(text, strlen(text), &b, detail);
	bundle_done(&b);
	if (r != want)
		fprintf(stderr, "parse gave %d (%s), wanted %d\n", r, detail, want);
	return r;
}

/* Re-encode a modified document. */
static char *dump(json_t *j)
{
	return json_dumps(j, 0);
}

/* Parse and open a changed copy of a bundle document (d is released): bundle_open's
 * result, or bundle_parse's if it refused. Nothing opened is kept. */
static int open_changed(json_t *d, const uint8_t *key, int64_t when)
{
	struct bundle b = {0};
	struct pki_set got = {0};
	char detail[DETAIL_MAX];
	char *t = dump(d);
	int r = bundle_parse(t, strlen(t), &b, detail);
	if (r == 0)
		r = bundle_open(&b, key, when, 0, &got, detail);
	CHECK(r == 0 || got.n == 0);
	pki_set_clear(&got);
	bundle_done(&b);
	secret_json_free(t);
	json_decref(d);
	return r;
}

static void make_plain(struct pki_set *set)
{
	for (size_t i = 0; i < pki_shared_files_count; i++) {
		if (pki_shared_files[i].external)
			continue;
		char content[64];
		snprintf(content, sizeof(content), "content of %s\n", pki_shared_files[i].name);
		pki_set_add(set, pki_shared_files[i].name, pki_shared_files[i].mode,
			    secret_dup(content, strlen(content)));
	}
}

/* Loaded once from proto/vectors (argv[1]): the Python implementation's bundles. */
static uint8_t *key;
static char *text, *ptext;
static json_t *doc, *pdoc, *seal_vec;
static int64_t during; /* a time inside the vector bundle's lifetime */

/* The file entry of d named name. */
static json_t *entry_named(json_t *d, const char *name)
{
	size_t i;
	json_t *e;
	json_array_foreach (json_object_get(d, "files"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")), name))
			return e;
	return NULL;
}

static void independent_bundle_opens_byte_for_byte(void)
{
	struct bundle b = {0};
	struct pki_set plain = {0};
	char detail[DETAIL_MAX];
	json_t *e;
	size_t i;
	CHECK_EQ_INT(bundle_parse(text, strlen(text), &b, detail), 0);
	CHECK_EQ_INT(bundle_open(&b, key, during, 0, &plain, detail), 0);
	CHECK_EQ_INT(plain.n, 8);
	json_array_foreach (json_object_get(seal_vec, "entries"), i, e) {
		size_t plen;
		unsigned char *pt =
		    test_unhex(json_string_value(json_object_get(e, "plaintext")), &plen);
		const struct pki_entry *got =
		    pki_set_find(&plain, json_string_value(json_object_get(e, "name")));
		CHECK(got && got->data->len == plen && memcmp(got->data->data, pt, plen) == 0);
		CHECK(got && got->mode == (unsigned)json_integer_value(json_object_get(e, "mode")));
		free(pt);
	}
	pki_set_clear(&plain);
	bundle_done(&b);
}

static void expired_bundle_opens_only_when_allowed(void)
{
	struct bundle b = {0};
	struct pki_set plain = {0};
	char detail[DETAIL_MAX];
	CHECK_EQ_INT(bundle_parse(text, strlen(text), &b, detail), 0);
	CHECK_EQ_INT(bundle_open(&b, key, b.expires_at, 0, &plain, detail), -PKS_E_EXPIRED);
	CHECK(strstr(detail, "expired at") != NULL);
	CHECK_EQ_INT(plain.n, 0);
	CHECK_EQ_INT(bundle_open(&b, key, b.expires_at, BUNDLE_OPEN_ALLOW_EXPIRED, &plain, detail),
		     0);
	pki_set_clear(&plain);
	bundle_done(&b);
}

static void wrong_key_is_told_as_rotated_before_decryption(void)
{
	struct bundle b = {0};
	struct pki_set plain = {0};
	char detail[DETAIL_MAX];
	_cleanup_(secret_mem_freep) uint8_t *other = secret_mem(KEY_BYTES);
	key_generate(other);
	CHECK_EQ_INT(bundle_parse(text, strlen(text), &b, detail), 0);
	CHECK_EQ_INT(bundle_open(&b, other, during, 0, &plain, detail), -PKS_E_KEY_MISMATCH);
	CHECK_EQ_INT(plain.n, 0);
	bundle_done(&b);
}

static void swapped_entries_fail_authentication(void)
{
	/* ca.key and front-proxy-ca.key: same key, same mode. */
	json_t *d = json_deep_copy(doc);
	json_t *a = entry_named(d, "ca.key"), *c = entry_named(d, "front-proxy-ca.key");
	json_t *tmp = json_deep_copy(json_object_get(a, "data"));
	json_object_set(a, "data", json_object_get(c, "data"));
	json_object_set_new(c, "data", tmp);
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
}

static void dropped_entry_fails_authentication(void)
{
	/* An optional entry: the name list no longer matches. */
	json_t *d = json_deep_copy(doc), *fs = json_object_get(d, "files"), *e;
	size_t i;
	json_array_foreach (fs, i, e) {
		if (!strcmp(json_string_value(json_object_get(e, "name")), "etcd/ca.key")) {
			json_array_remove(fs, i);
			break;
		}
	}
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
}

static void redated_or_renamed_bundle_fails_authentication(void)
{
	json_t *d = json_deep_copy(doc);
	json_object_set_new(d, "expiresAt", json_string("2030-01-01T00:00:00Z"));
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
	d = json_deep_copy(doc);
	json_object_set_new(d, "id", json_string("00000000000000000000000000000000"));
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
}

static void parse_refuses_what_is_not_bundle_json(void)
{
	CHECK_EQ_INT(parse_err("", -PKS_E_BUNDLE_FORMAT), -PKS_E_BUNDLE_FORMAT);
	CHECK_EQ_INT(parse_err("[]", -PKS_E_BUNDLE_FORMAT), -PKS_E_BUNDLE_FORMAT);
	CHECK_EQ_INT(parse_err("{\"apiVersion\":", -PKS_E_BUNDLE_FORMAT), -PKS_E_BUNDLE_FORMAT);
	CHECK_EQ_INT(parse_err("\xff\xfe", -PKS_E_BUNDLE_FORMAT), -PKS_E_BUNDLE_FORMAT);
	/* Duplicate JSON keys are refused, not silently merged. */
	CHECK_EQ_INT(parse_err("{\"id\":\"a\",\"id\":\"b\"}", -PKS_E_BUNDLE_FORMAT),
		     -PKS_E_BUNDLE_FORMAT);
}

static void parse_refuses_each_bad_top_level_field(void)
{
	struct {
		const char *field;
		json_t *value; /* NULL: delete the field */
		int want;
	} cases[] = {
	    {"apiVersion", json_string("pkishare.io/v2"), -PKS_E_BUNDLE_VERSION},
	    {"kind", json_string("Secret"), -PKS_E_BUNDLE_VERSION},
	    {"cipher", json_string("aes-256-gcm"), -PKS_E_BUNDLE_VERSION},
	    {"id", json_string("XYZ"), -PKS_E_BUNDLE_FORMAT},
	    {"id", NULL, -PKS_E_BUNDLE_FORMAT},
	    {"keyId", json_string("ABCDEF0123456789"), -PKS_E_BUNDLE_FORMAT},
	    {"createdAt", json_string("2026-09-21 14:13:20"), -PKS_E_BUNDLE_FORMAT},
	    {"expiresAt", json_string("2020-01-01T00:00:00Z"), -PKS_E_BUNDLE_FORMAT},
	    {"expiresAt", json_integer(5), -PKS_E_BUNDLE_FORMAT},
	    {"files", json_array(), -PKS_E_BUNDLE_FORMAT},
	    {"files", NULL, -PKS_E_BUNDLE_FORMAT},
	    {"extra", json_true(), -PKS_E_BUNDLE_FORMAT},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		json_t *d = json_deep_copy(doc);
		if (cases[i].value)
			json_object_set_new(d, cases[i].field, cases[i].value);
		else
			json_object_del(d, cases[i].field);
		char *t = dump(d);
		CHECK_EQ_INT(parse_err(t, cases[i].want), cases[i].want);
		secret_json_free(t);
		json_decref(d);
	}
}

static void parse_refuses_each_bad_entry_field(void)
{
	/* Unknown and unsafe names, wrong modes, bad base64, short data, duplicates, unknown
	 * fields. */
	struct {
		const char *field;
		json_t *value;
		int want;
	} ecases[] = {
	    {"name", json_string("../ca.key"), -PKS_E_NAME},
	    {"name", json_string("/etc/shadow"), -PKS_E_NAME},
	    {"name", json_string("apiserver.key"), -PKS_E_NAME},
	    {"name", json_stringn("ca.key\0x", 8), -PKS_E_BUNDLE_FORMAT}, /* jansson refuses NUL */
	    {"name", json_string("front-proxy-ca.key"), -PKS_E_DUPLICATE},
	    {"mode", json_string("0644"), -PKS_E_BUNDLE_FORMAT},
	    {"mode", json_integer(384), -PKS_E_BUNDLE_FORMAT},
	    {"data", json_string("!!!notbase64"), -PKS_E_BUNDLE_FORMAT},
	    {"data", json_string("AAAA"), -PKS_E_BUNDLE_FORMAT},
	    {"comment", json_string("hi"), -PKS_E_BUNDLE_FORMAT},
	};
	for (size_t i = 0; i < ELEMENTSOF(ecases); i++) {
		json_t *d = json_deep_copy(doc);
		json_object_set_new(entry_named(d, "ca.key"), ecases[i].field, ecases[i].value);
		char *t = dump(d);
		CHECK_EQ_INT(parse_err(t, ecases[i].want), ecases[i].want);
		secret_json_free(t);
		json_decref(d);
	}
}

static void seal_parse_open_round_trips_with_fresh_ids(void)
{
	struct pki_set plain = {0}, back = {0};
	struct bundle b = {0};
	_cleanup_(secret_freep) struct secret *json = NULL, *json2 = NULL;
	char id[BUNDLE_ID_HEX_LEN + 1], id2[BUNDLE_ID_HEX_LEN + 1], detail[DETAIL_MAX];
	int64_t now = time_now();
	make_plain(&plain);
	CHECK_EQ_INT(bundle_seal(&plain, key, NULL, now, now + 60, NULL, &json, id), 0);
	CHECK_EQ_INT(bundle_parse((const char *)json->data, json->len, &b, detail), 0);
	CHECK(strcmp(b.id, id) == 0);
	CHECK_EQ_INT(bundle_open(&b, key, now, 0, &back, detail), 0);
	CHECK_EQ_INT(back.n, plain.n);
	for (size_t i = 0; i < plain.n; i++) {
		const struct pki_entry *g = pki_set_find(&back, plain.e[i].name);
		CHECK(g && g->data->len == plain.e[i].data->len &&
		      memcmp(g->data->data, plain.e[i].data->data, g->data->len) == 0);
	}
	CHECK_EQ_INT(bundle_seal(&plain, key, NULL, now, now + 60, NULL, &json2, id2), 0);
	CHECK(strcmp(id, id2) != 0);
	pki_set_clear(&back);
	pki_set_clear(&plain);
	bundle_done(&b);
}

static void seal_refuses_a_file_outside_the_shared_set(void)
{
	struct pki_set bad = {0};
	struct secret *json = NULL;
	int64_t now = time_now();
	pki_set_add(&bad, "apiserver.key", 0600, secret_dup("x", 1));
	CHECK_EQ_INT(bundle_seal(&bad, key, NULL, now, now + 60, NULL, &json, NULL), -PKS_E_NAME);
	CHECK(json == NULL);
	pki_set_clear(&bad);
}

static void bundle_missing_a_required_file_does_not_open(void)
{
	struct pki_set partial = {0}, back = {0};
	struct bundle b = {0};
	_cleanup_(secret_freep) struct secret *json = NULL;
	char detail[DETAIL_MAX];
	int64_t now = time_now();
	pki_set_add(&partial, "ca.crt", 0644, secret_dup("x", 1));
	CHECK_EQ_INT(bundle_seal(&partial, key, NULL, now, now + 60, NULL, &json, NULL), 0);
	CHECK_EQ_INT(bundle_parse((const char *)json->data, json->len, &b, detail), 0);
	CHECK_EQ_INT(bundle_open(&b, key, now, 0, &back, detail), -PKS_E_MISSING);
	CHECK(strstr(detail, "ca.key") != NULL);
	bundle_done(&b);
	pki_set_clear(&partial);
}

static void independent_bundle_with_a_profile_opens(void)
{
	struct bundle b = {0};
	struct pki_set got = {0};
	char detail[DETAIL_MAX];
	CHECK_EQ_INT(bundle_parse(ptext, strlen(ptext), &b, detail), 0);
	CHECK(b.profile && strstr(b.profile, "\"controlPlaneEndpoint\":\"[fd00::10]:6443\""));
	CHECK_EQ_INT(bundle_open(&b, key, b.created_at + 10, 0, &got, detail), 0);
	CHECK_EQ_INT(got.n, 8);
	pki_set_clear(&got);
	bundle_done(&b);
}

static void profile_changed_added_or_removed_fails_authentication(void)
{
	json_t *d = json_deep_copy(pdoc);
	json_object_set_new(json_object_get(d, "profile"), "controlPlaneEndpoint",
			    json_string("evil.example.com:6443"));
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
	d = json_deep_copy(pdoc);
	json_object_del(d, "profile");
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
	/* A profile added to a bundle sealed without one. */
	d = json_deep_copy(doc);
	json_object_set(d, "profile", json_object_get(pdoc, "profile"));
	CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_AUTH);
}

static void malformed_profiles_are_refused(void)
{
	const char *bad_profiles[] = {
	    "{\"color\":\"red\"}",		     /* unknown field */
	    "{\"controlPlaneEndpoint\":\"a\\\"b\"}", /* a quote */
	    "{\"controlPlaneEndpoint\":7}",	     /* wrong type */
	    "{\"apiServerCertSANs\":[]}",	     /* empty list */
	    "{\"encryptionAlgorithm\":\"DSA\"}",     /* not kubeadm's */
	    "{\"certificateValiditySeconds\":5}",    /* too short */
	    "{}",				     /* empty */
	    "[]",				     /* not an object */
	};
	for (size_t k = 0; k < ELEMENTSOF(bad_profiles); k++) {
		json_t *d = json_deep_copy(pdoc);
		json_object_set_new(d, "profile", json_loads(bad_profiles[k], 0, NULL));
		CHECK_EQ_INT(open_changed(d, key, during), -PKS_E_BUNDLE_FORMAT);
	}
}

static void profile_sealed_here_is_in_canonical_form(void)
{
	struct pki_set plain = {0}, got = {0};
	struct bundle b = {0};
	struct profile prof = {0};
	_cleanup_(secret_freep) struct secret *sj = NULL;
	char detail[DETAIL_MAX];
	int64_t t0 = time_now();
	make_plain(&plain);
	str_copy(prof.endpoint, sizeof(prof.endpoint), "cp.example.com:6443");
	str_copy(prof.algorithm, sizeof(prof.algorithm), "ECDSA-P384");
	str_copy(prof.api_sans[0], sizeof(prof.api_sans[0]), "10.0.0.100");
	prof.n_api_sans = 1;
	CHECK_EQ_INT(bundle_seal(&plain, key, NULL, t0, t0 + 60, &prof, &sj, NULL), 0);
	CHECK_EQ_INT(bundle_parse((const char *)sj->data, sj->len, &b, detail), 0);
	CHECK(b.profile &&
	      !strcmp(b.profile,
		      "{\"apiServerCertSANs\":[\"10.0.0.100\"],\"controlPlaneEndpoint\":"
		      "\"cp.example.com:6443\",\"encryptionAlgorithm\":\"ECDSA-P384\"}"));
	CHECK_EQ_INT(bundle_open(&b, key, t0, 0, &got, detail), 0);
	pki_set_clear(&got);
	pki_set_clear(&plain);
	bundle_done(&b);
}

static const struct test_case cases[] = {
    TEST(independent_bundle_opens_byte_for_byte),
    TEST(expired_bundle_opens_only_when_allowed),
    TEST(wrong_key_is_told_as_rotated_before_decryption),
    TEST(swapped_entries_fail_authentication),
    TEST(dropped_entry_fails_authentication),
    TEST(redated_or_renamed_bundle_fails_authentication),
    TEST(parse_refuses_what_is_not_bundle_json),
    TEST(parse_refuses_each_bad_top_level_field),
    TEST(parse_refuses_each_bad_entry_field),
    TEST(seal_parse_open_round_trips_with_fresh_ids),
    TEST(seal_refuses_a_file_outside_the_shared_set),
    TEST(bundle_missing_a_required_file_does_not_open),
    TEST(independent_bundle_with_a_profile_opens),
    TEST(profile_changed_added_or_removed_fails_authentication),
    TEST(malformed_profiles_are_refused),
    TEST(profile_sealed_here_is_in_canonical_form),
};

/* The vectors, or -1. */
static int load_vectors(const char *dir)
{
	char path[1024], detail[DETAIL_MAX];
	struct bundle b = {0};
	snprintf(path, sizeof(path), "%s/bundle.json", dir);
	text = test_slurp(path);
	snprintf(path, sizeof(path), "%s/bundle-profile.json", dir);
	ptext = test_slurp(path);
	snprintf(path, sizeof(path), "%s/seal.json", dir);
	seal_vec = json_load_file(path, 0, NULL);
	snprintf(path, sizeof(path), "%s/bundle.key", dir);
	char *keytext = test_slurp(path);
	if (!text || !ptext || !seal_vec || !keytext || strlen(keytext) < KEY_HEX_LEN) {
		free(keytext);
		return -1;
	}
	keytext[KEY_HEX_LEN] = 0;
	key = secret_mem(KEY_BYTES);
	int r = key_parse(keytext, key, NULL);
	free(keytext);
	doc = json_loads(text, 0, NULL);
	pdoc = json_loads(ptext, 0, NULL);
	if (r < 0 || !doc || !pdoc || bundle_parse(text, strlen(text), &b, detail) < 0)
		return -1;
	during = b.created_at + 10;
	bundle_done(&b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || secret_init() != 0 || load_vectors(argv[1]) < 0) {
		fprintf(stderr, "test-bundle: cannot load the vectors in VECTORS_DIR\n");
		return 1;
	}
	int r = test_run("bundle", cases, TEST_ELEMENTS(cases));
	json_decref(doc);
	json_decref(pdoc);
	json_decref(seal_vec);
	free(text);
	free(ptext);
	secret_mem_free(key);
	return r;
}
