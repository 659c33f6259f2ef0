/* test-key.c - certificate key generation, parsing (every error) and key ids. */
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "key.h"
#include "secret.h"
#include "test.h"
#include "util.h"

int main(int argc, char **argv)
{
	char hex[KEY_HEX_LEN + 1], detail[DETAIL_MAX], id[KEY_ID_HEX_LEN + 1];

	CHECK(secret_init() == 0);
	uint8_t *key = secret_mem(KEY_BYTES), *key2 = secret_mem(KEY_BYTES);
	key_generate(key);
	key_format(key, hex);
	CHECK_EQ_INT(strlen(hex), 64);
	for (size_t i = 0; i < 64; i++)
		CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
	CHECK_EQ_INT(key_parse(hex, key2, detail), 0);
	CHECK(memcmp(key, key2, KEY_BYTES) == 0);

	/* Upper case is accepted (kubeadm's hex.DecodeString accepts it too). */
	char upper[KEY_HEX_LEN + 1];
	for (size_t i = 0; i <= 64; i++)
		upper[i] = (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 32 : hex[i]);
	CHECK_EQ_INT(key_parse(upper, key2, detail), 0);
	CHECK(memcmp(key, key2, KEY_BYTES) == 0);

	/* Every error says what was found and zeroes the output. */
	CHECK_EQ_INT(key_parse("abc", key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 3 characters") != NULL);
	uint8_t zero[KEY_BYTES] = {0};
	CHECK(memcmp(key2, zero, KEY_BYTES) == 0);
	CHECK_EQ_INT(key_parse("", key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 0 characters") != NULL);
	char long_key[70];
	memset(long_key, 'a', 65);
	long_key[65] = 0;
	CHECK_EQ_INT(key_parse(long_key, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 65") != NULL);
	char bad[KEY_HEX_LEN + 1];
	memcpy(bad, hex, sizeof(bad));
	bad[10] = 'g';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "character 11") != NULL);
	CHECK(strstr(detail, hex) == NULL); /* the key is never echoed */
	bad[10] = ' ';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "character 11 is a space inside the key") != NULL);
	bad[10] = '\n';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "line break inside") != NULL);
	bad[10] = '\t';
	CHECK_EQ_INT(key_parse(bad, key2, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "tab inside") != NULL);
	/* A pasted key: blanks and line endings around it are trimmed. */
	char pasted[KEY_HEX_LEN + 8];
	snprintf(pasted, sizeof(pasted), " \t%s\r\n", hex);
	uint8_t key3[KEY_BYTES];
	CHECK_EQ_INT(key_parse(pasted, key3, detail), 0);
	CHECK_EQ_INT(key_parse(hex, key2, detail), 0);
	CHECK(memcmp(key3, key2, KEY_BYTES) == 0);
	CHECK_EQ_INT(key_parse(" \r\n", key3, detail), -PKS_E_KEY_FORMAT);
	CHECK(strstr(detail, "found 0") != NULL);

	/* The key id of the vector key matches the independent implementation's. */
	if (argc > 1) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/seal.json", argv[1]);
		json_t *v = json_load_file(path, 0, NULL);
		CHECK(v != NULL);
		if (v) {
			CHECK_EQ_INT(
			    key_parse(json_string_value(json_object_get(v, "key")), key2, detail),
			    0);
			key_id(key2, id);
			CHECK(strcmp(id, json_string_value(json_object_get(v, "keyId"))) == 0);
			json_decref(v);
		}
	}
	/* Different keys, different ids. */
	key_id(key, id);
	char id2[KEY_ID_HEX_LEN + 1];
	key_generate(key2);
	key_id(key2, id2);
	CHECK(strcmp(id, id2) != 0);
	CHECK_EQ_INT(strlen(id), 16);
	secret_mem_free(key);
	secret_mem_free(key2);
	return test_done("test-key");
}
