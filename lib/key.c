/* key.c - certificate key generation, parsing and ids. Never logs or prints a key. */
#include <stdbool.h>
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

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int key_parse(const char *text, uint8_t *key, char *detail)
{
	size_t len = text ? strlen(text) : 0;
	size_t bin_len = 0, start = 0;

	/* A pasted key often brings blanks or a line ending along: trimmed, as an operator
	 * expects. Blanks inside are a broken paste and are named as such. */
	while (start < len && is_blank(text[start]))
		start++;
	while (len > start && is_blank(text[len - 1]))
		len--;
	for (size_t i = start; i < len; i++)
		if (is_blank(text[i])) {
			if (detail)
				snprintf(detail, DETAIL_MAX,
					 "character %zu is a %s inside the key (a broken paste?); "
					 "give the %d hexadecimal characters as one piece",
					 i + 1,
					 text[i] == ' '	   ? "space"
					 : text[i] == '\t' ? "tab"
							   : "line break",
					 KEY_HEX_LEN);
			secret_wipe(key, KEY_BYTES);
			return -PKS_E_KEY_FORMAT;
		}
	if (len - start != KEY_HEX_LEN) {
		if (detail)
			snprintf(detail, DETAIL_MAX,
				 "expected %d hexadecimal characters, found %zu characters",
				 KEY_HEX_LEN, len - start);
		secret_wipe(key, KEY_BYTES);
		return -PKS_E_KEY_FORMAT;
	}
	for (size_t i = start; i < len; i++) {
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
	if (sodium_hex2bin(key, KEY_BYTES, text + start, len - start, NULL, &bin_len, NULL) != 0 ||
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
