/* test-seal.c - the sealing construction against vectors from an independent
 * implementation (proto/pkishare_seal.py: pure-Python HChaCha20 + cryptography's
 * ChaCha20-Poly1305), and its failure modes. */
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "seal.h"
#include "secret.h"
#include "test.h"

int main(int argc, char **argv)
{
	char path[1024];
	CHECK(secret_init() == 0);
	CHECK(argc > 1);
	if (argc < 2)
		return test_done("test-seal");
	snprintf(path, sizeof(path), "%s/seal.json", argv[1]);
	json_t *v = json_load_file(path, 0, NULL);
	CHECK(v != NULL);
	if (!v)
		return test_done("test-seal");
	size_t klen;
	unsigned char *key = test_unhex(json_string_value(json_object_get(v, "key")), &klen);
	CHECK_EQ_INT(klen, 32);
	json_t *entries = json_object_get(v, "entries");
	const char *names[32];
	size_t n = json_array_size(entries);
	for (size_t i = 0; i < n; i++)
		names[i] = json_string_value(json_object_get(json_array_get(entries, i), "name"));
	struct seal_header h = {
	    .id = json_string_value(json_object_get(v, "id")),
	    .created_at = json_integer_value(json_object_get(v, "createdAt")),
	    .expires_at = json_integer_value(json_object_get(v, "expiresAt")),
	    .names = names,
	    .n_names = n,
	};
	CHECK_EQ_INT(n, 8);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(entries, i);
		size_t alen, nlen, plen, slen;
		unsigned char *aad_want =
		    test_unhex(json_string_value(json_object_get(e, "aad")), &alen);
		unsigned char *nonce =
		    test_unhex(json_string_value(json_object_get(e, "nonce")), &nlen);
		unsigned char *pt =
		    test_unhex(json_string_value(json_object_get(e, "plaintext")), &plen);
		unsigned char *sealed =
		    test_unhex(json_string_value(json_object_get(e, "sealed")), &slen);
		unsigned mode = (unsigned)json_integer_value(json_object_get(e, "mode"));
		uint8_t *aad = NULL;
		size_t aad_len = 0;
		struct secret *out = NULL, *back = NULL;

		CHECK_EQ_INT(seal_aad(&h, names[i], mode, &aad, &aad_len), 0);
		CHECK_EQ_INT(aad_len, alen);
		CHECK(aad_len == alen && memcmp(aad, aad_want, alen) == 0);
		CHECK_EQ_INT(seal_encrypt(key, aad, aad_len, pt, plen, nonce, &out), 0);
		CHECK_EQ_INT(out->len, slen);
		CHECK(out->len == slen && memcmp(out->data, sealed, slen) == 0);
		CHECK_EQ_INT(seal_decrypt(key, aad, aad_len, sealed, slen, &back), 0);
		CHECK(back && back->len == plen && memcmp(back->data, pt, plen) == 0);
		secret_free(back);
		back = NULL;

		/* Any flipped bit fails; nothing is returned. */
		for (size_t bit = 0; bit < slen * 8; bit += 37) {
			sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			CHECK_EQ_INT(seal_decrypt(key, aad, aad_len, sealed, slen, &back),
				     -PKS_E_AUTH);
			CHECK(back == NULL);
			sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
		/* Another entry's associated data fails (swapping entries). */
		uint8_t *aad2 = NULL;
		size_t aad2_len = 0;
		CHECK_EQ_INT(seal_aad(&h, names[(i + 1) % n], mode, &aad2, &aad2_len), 0);
		CHECK_EQ_INT(seal_decrypt(key, aad2, aad2_len, sealed, slen, &back), -PKS_E_AUTH);
		/* A different mode fails. */
		free(aad2);
		CHECK_EQ_INT(seal_aad(&h, names[i], mode ^ 0044, &aad2, &aad2_len), 0);
		CHECK_EQ_INT(seal_decrypt(key, aad2, aad2_len, sealed, slen, &back), -PKS_E_AUTH);
		/* Truncated below nonce + tag. */
		CHECK_EQ_INT(seal_decrypt(key, aad, aad_len, sealed, SEAL_OVERHEAD - 1, &back),
			     -PKS_E_AUTH);
		/* A random nonce gives a different sealing that still opens. */
		struct secret *r1 = NULL, *r2 = NULL;
		CHECK_EQ_INT(seal_encrypt(key, aad, aad_len, pt, plen, NULL, &r1), 0);
		CHECK_EQ_INT(seal_encrypt(key, aad, aad_len, pt, plen, NULL, &r2), 0);
		CHECK(memcmp(r1->data, r2->data, SEAL_NONCE_BYTES) != 0);
		CHECK_EQ_INT(seal_decrypt(key, aad, aad_len, r1->data, r1->len, &back), 0);
		secret_free(back);
		back = NULL;
		secret_free(r1);
		secret_free(r2);
		free(aad2);
		secret_free(out);
		free(aad);
		free(aad_want);
		free(nonce);
		free(pt);
		free(sealed);
	}
	/* Re-dating the bundle changes the associated data. */
	uint8_t *a1 = NULL, *a2 = NULL;
	size_t l1, l2;
	seal_aad(&h, names[0], 0644, &a1, &l1);
	h.expires_at += 1;
	seal_aad(&h, names[0], 0644, &a2, &l2);
	CHECK(l1 == l2 && memcmp(a1, a2, l1) != 0);
	free(a1);
	free(a2);
	free(key);
	json_decref(v);
	return test_done("test-seal");
}
