/* test-key.c - certificate key generation, parsing (every error) and key ids. */
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "key.h"
#include "secret.h"
#include "test.h"
#include "util.h"

static const char *vectors; /* proto/vectors, from argv[1] */
static uint8_t *key, *key2;
static char hex[KEY_HEX_LEN + 1], detail[DETAIL_MAX];

static void generated_key_formats_as_64_lowercase_hex_and_parses_back(void)
{
	key_generate(key);
	key_format(key, hex);
	CHECK_EQ_INT(strlen(hex), 64);
	for (size_t i = 0; i < 64; i++)
		CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
	CHECK_EQ_INT(key_parse(hex, key2, detail), 0);
	CHECK(memcmp(key, key2, KEY_BYTES) == 0);
}

static void upper_case_is_accepted_as_kubeadm_does(void)
{
	/* kubeadm's hex.DecodeString accepts it too. */
	char upper[KEY_HEX_LEN + 1];
	for (size_t i = 0; i <= 64; i++)
		upper[i] = (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 32 : hex[i]);
	CHECK_EQ_INT(key_parse(upper, key2, detail), 0);
	CHECK(memcmp(key, key2, KEY_BYTES) == 0);
}

static void wrong_length_says_what_was_found_and_zeroes_the_output(void)
{
	uint8_t zero[KEY_BYTES] = {0};
	char long_key[70];
	CHECK_EQ_INT(key_parse("abc", key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 3 characters") != NULL);
	CHECK(memcmp(key2, zero, KEY_BYTES) == 0);
	CHECK_EQ_INT(key_parse("", key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 0 characters") != NULL);
	memset(long_key, 'a', 65);
	long_key[65] = 0;
	CHECK_EQ_INT(key_parse(long_key, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 65") != NULL);
}

static void a_bad_character_is_named_by_position_never_echoing_the_key(void)
{
	char bad[KEY_HEX_LEN + 1];
	memcpy(bad, hex, sizeof(bad));
	bad[10] = 'g';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "character 11") != NULL);
	CHECK(strstr(detail, hex) == NULL);
	bad[10] = ' ';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "character 11 is a space inside the key") != NULL);
	bad[10] = '\n';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "line break inside") != NULL);
	bad[10] = '\t';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "tab inside") != NULL);
}

static void a_pasted_key_is_trimmed_of_blanks_and_line_ends(void)
{
	char pasted[KEY_HEX_LEN + 8];
	uint8_t key3[KEY_BYTES];
	snprintf(pasted, sizeof(pasted), " \t%s\r\n", hex);
	CHECK_EQ_INT(key_parse(pasted, key3, detail), 0);
	CHECK_EQ_INT(key_parse(hex, key2, detail), 0);
	CHECK(memcmp(key3, key2, KEY_BYTES) == 0);
	CHECK_EQ_INT(key_parse(" \r\n", key3, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 0") != NULL);
}

static void key_id_matches_the_independent_implementations(void)
{
	char path[1024], id[KEY_ID_HEX_LEN + 1];
	snprintf(path, sizeof(path), "%s/seal.json", vectors);
	json_t *v = json_load_file(path, 0, NULL);
	CHECK(v != NULL);
	if (!v)
		return;
	CHECK_EQ_INT(key_parse(json_string_value(json_object_get(v, "key")), key2, detail), 0);
	key_id(key2, id);
	CHECK(strcmp(id, json_string_value(json_object_get(v, "keyId"))) == 0);
	json_decref(v);
}

static void different_keys_have_different_16_digit_ids(void)
{
	char id[KEY_ID_HEX_LEN + 1], id2[KEY_ID_HEX_LEN + 1];
	key_id(key, id);
	key_generate(key2);
	key_id(key2, id2);
	CHECK(strcmp(id, id2) != 0);
	CHECK_EQ_INT(strlen(id), 16);
}

static const struct test_case cases[] = {
    TEST(generated_key_formats_as_64_lowercase_hex_and_parses_back),
    TEST(upper_case_is_accepted_as_kubeadm_does),
    TEST(wrong_length_says_what_was_found_and_zeroes_the_output),
    TEST(a_bad_character_is_named_by_position_never_echoing_the_key),
    TEST(a_pasted_key_is_trimmed_of_blanks_and_line_ends),
    TEST(key_id_matches_the_independent_implementations),
    TEST(different_keys_have_different_16_digit_ids),
};

int main(int argc, char **argv)
{
	if (argc < 2 || secret_init() != 0) {
		fprintf(stderr, "usage: test-key VECTORS_DIR\n");
		return 1;
	}
	vectors = argv[1];
	key = secret_mem(KEY_BYTES);
	key2 = secret_mem(KEY_BYTES);
	int r = test_run("key", cases, TEST_ELEMENTS(cases));
	secret_mem_free(key);
	secret_mem_free(key2);
	return r;
}
