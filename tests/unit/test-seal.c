/* test-seal.c - the sealing construction against vectors from an independent
 * implementation (proto/pkishare_seal.py: pure-Python HChaCha20 + cryptography's
 * ChaCha20-Poly1305), and its failure modes. */
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "seal.h"
#include "secret.h"
#include "test.h"

#define ENTRIES_MAX 32

/* One vector entry, and its associated data as seal_aad builds it. */
struct entry {
	unsigned char *aad_want, *nonce, *pt, *sealed;
	size_t alen, nlen, plen, slen;
	unsigned mode;
	uint8_t *aad;
	size_t aad_len;
};

static json_t *vec;
static unsigned char *key;
static const char *names[ENTRIES_MAX];
static struct entry entries[ENTRIES_MAX];
static size_t n_entries;
static struct seal_header header;

static unsigned char *unhex_field(json_t *o, const char *name, size_t *len)
{
	return test_unhex(json_string_value(json_object_get(o, name)), len);
}

static int load_vectors(const char *dir)
{
	char path[1024];
	size_t klen;
	snprintf(path, sizeof(path), "%s/seal.json", dir);
	vec = json_load_file(path, 0, NULL);
	if (!vec)
		return -1;
	key = unhex_field(vec, "key", &klen);
	json_t *es = json_object_get(vec, "entries");
	n_entries = json_array_size(es);
	if (klen != 32 || n_entries > ENTRIES_MAX)
		return -1;
	for (size_t i = 0; i < n_entries; i++) {
		json_t *e = json_array_get(es, i);
		struct entry *x = &entries[i];
		names[i] = json_string_value(json_object_get(e, "name"));
		x->aad_want = unhex_field(e, "aad", &x->alen);
		x->nonce = unhex_field(e, "nonce", &x->nlen);
		x->pt = unhex_field(e, "plaintext", &x->plen);
		x->sealed = unhex_field(e, "sealed", &x->slen);
		x->mode = (unsigned)json_integer_value(json_object_get(e, "mode"));
	}
	header = (struct seal_header){
	    .id = json_string_value(json_object_get(vec, "id")),
	    .created_at = json_integer_value(json_object_get(vec, "createdAt")),
	    .expires_at = json_integer_value(json_object_get(vec, "expiresAt")),
	    .names = names,
	    .n_names = n_entries,
	};
	for (size_t i = 0; i < n_entries; i++)
		if (seal_aad(&header, names[i], entries[i].mode, &entries[i].aad,
			     &entries[i].aad_len) < 0)
			return -1;
	return 0;
}

static void vectors_hold_the_eight_shared_files(void)
{
	CHECK_EQ_INT(n_entries, 8);
}

static void aad_matches_the_vectors(void)
{
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];
		CHECK_EQ_INT(e->aad_len, e->alen);
		CHECK(e->aad_len == e->alen && memcmp(e->aad, e->aad_want, e->alen) == 0);
	}
}

static void sealing_with_the_vector_nonce_gives_the_vector(void)
{
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];
		_cleanup_(secret_freep) struct secret *out = NULL;
		CHECK_EQ_INT(seal_encrypt(key, e->aad, e->aad_len, e->pt, e->plen, e->nonce, &out),
			     0);
		CHECK(out && out->len == e->slen && memcmp(out->data, e->sealed, e->slen) == 0);
	}
}

static void vectors_open_to_their_plaintext(void)
{
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];
		_cleanup_(secret_freep) struct secret *back = NULL;
		CHECK_EQ_INT(seal_decrypt(key, e->aad, e->aad_len, e->sealed, e->slen, &back), 0);
		CHECK(back && back->len == e->plen && memcmp(back->data, e->pt, e->plen) == 0);
	}
}

static void any_flipped_bit_fails_and_returns_nothing(void)
{
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];
		for (size_t bit = 0; bit < e->slen * 8; bit += 37) {
			struct secret *back = NULL;
			e->sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			CHECK_EQ_INT(
			    seal_decrypt(key, e->aad, e->aad_len, e->sealed, e->slen, &back),
			    -PKS_E_AUTH);
			CHECK(back == NULL);
			e->sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
	}
}

static void another_entrys_name_fails(void)
{
	/* Swapping two entries' ciphertexts. */
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i], *next = &entries[(i + 1) % n_entries];
		struct secret *back = NULL;
		CHECK_EQ_INT(seal_decrypt(key, next->aad, next->aad_len, e->sealed, e->slen, &back),
			     -PKS_E_AUTH);
		CHECK(back == NULL);
	}
}

static void another_mode_fails(void)
{
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];
		struct secret *back = NULL;
		uint8_t *aad2 = NULL;
		size_t aad2_len = 0;
		CHECK_EQ_INT(seal_aad(&header, names[i], e->mode ^ 0044, &aad2, &aad2_len), 0);
		CHECK_EQ_INT(seal_decrypt(key, aad2, aad2_len, e->sealed, e->slen, &back),
			     -PKS_E_AUTH);
		free(aad2);
	}
}

static void shorter_than_nonce_and_tag_fails(void)
{
	struct entry *e = &entries[0];
	struct secret *back = NULL;
	CHECK_EQ_INT(seal_decrypt(key, e->aad, e->aad_len, e->sealed, SEAL_OVERHEAD - 1, &back),
		     -PKS_E_AUTH);
	CHECK(back == NULL);
}

static void random_nonces_differ_and_still_open(void)
{
	struct entry *e = &entries[0];
	_cleanup_(secret_freep) struct secret *r1 = NULL, *r2 = NULL, *back = NULL;
	CHECK_EQ_INT(seal_encrypt(key, e->aad, e->aad_len, e->pt, e->plen, NULL, &r1), 0);
	CHECK_EQ_INT(seal_encrypt(key, e->aad, e->aad_len, e->pt, e->plen, NULL, &r2), 0);
	CHECK(memcmp(r1->data, r2->data, SEAL_NONCE_BYTES) != 0);
	CHECK_EQ_INT(seal_decrypt(key, e->aad, e->aad_len, r1->data, r1->len, &back), 0);
}

static void redating_the_bundle_changes_the_aad(void)
{
	struct seal_header h = header;
	uint8_t *a2 = NULL;
	size_t l2;
	h.expires_at += 1;
	CHECK_EQ_INT(seal_aad(&h, names[0], entries[0].mode, &a2, &l2), 0);
	CHECK(l2 == entries[0].aad_len && memcmp(a2, entries[0].aad, l2) != 0);
	free(a2);
}

static const struct test_case cases[] = {
    TEST(vectors_hold_the_eight_shared_files),
    TEST(aad_matches_the_vectors),
    TEST(sealing_with_the_vector_nonce_gives_the_vector),
    TEST(vectors_open_to_their_plaintext),
    TEST(any_flipped_bit_fails_and_returns_nothing),
    TEST(another_entrys_name_fails),
    TEST(another_mode_fails),
    TEST(shorter_than_nonce_and_tag_fails),
    TEST(random_nonces_differ_and_still_open),
    TEST(redating_the_bundle_changes_the_aad),
};

int main(int argc, char **argv)
{
	if (argc < 2 || secret_init() != 0 || load_vectors(argv[1]) < 0) {
		fprintf(stderr, "test-seal: cannot load VECTORS_DIR/seal.json\n");
		return 1;
	}
	int r = test_run("seal", cases, TEST_ELEMENTS(cases));
	for (size_t i = 0; i < n_entries; i++) {
		free(entries[i].aad_want);
		free(entries[i].nonce);
		free(entries[i].pt);
		free(entries[i].sealed);
		free(entries[i].aad);
	}
	free(key);
	json_decref(vec);
	return r;
}
