/* key.c - certificate key generation, parsing and ids. Never logs or prints a key. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "error.h"
#include "key.h"
#include "secret.h"
#include "util.h"

void key_generate(uint8_t *key)
{
	randombytes_buf(key, KEY_BYTES);
}

int key_parse(const char *text, uint8_t *key, char *detail)
{
	size_t len = text ? strlen(text) : 0;
	size_t bin_len = 0;

	if (len != KEY_HEX_LEN) {
		if (detail)
			snprintf(detail, DETAIL_MAX,
				 "expected %d hexadecimal characters, found %zu characters",
				 KEY_HEX_LEN, len);
		secret_wipe(key, KEY_BYTES);
		return -PKS_E_KEY_FORMAT;
	}
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			if (detail)
				snprintf(detail, DETAIL_MAX,
					 "character %zu is not a hexadecimal digit", i + 1);
			secret_wipe(key, KEY_BYTES);
			return -PKS_E_KEY_FORMAT;
		}
	}
	/* sodium_hex2bin runs in constant time with respect to the digits. */
	if (sodium_hex2bin(key, KEY_BYTES, text, len, NULL, &bin_len, NULL) != 0 ||
	    bin_len != KEY_BYTES) {
		if (detail)
			snprintf(detail, DETAIL_MAX, "not valid hexadecimal");
		secret_wipe(key, KEY_BYTES);
		return -PKS_E_KEY_FORMAT;
	}
	return 0;
}

void key_format(const uint8_t *key, char *out)
{
	sodium_bin2hex(out, KEY_HEX_LEN + 1, key, KEY_BYTES);
}

void key_id(const uint8_t *key, char out[KEY_ID_HEX_LEN + 1])
{
	uint8_t h[crypto_generichash_BYTES];

	crypto_generichash(h, sizeof(h), key, KEY_BYTES, NULL, 0);
	sodium_bin2hex(out, KEY_ID_HEX_LEN + 1, h, KEY_ID_BYTES);
	secret_wipe(h, sizeof(h));
}
