/* token.c - join token generation, parsing and hashing. Never logs or prints a secret. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "error.h"
#include "secret.h"
#include "token.h"
#include "util.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

void token_generate(char *out)
{
	for (size_t i = 0; i < TOKEN_LEN; i++)
		out[i] =
		    i == TOKEN_ID_LEN ? '.' : alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[TOKEN_LEN] = 0;
}

static bool in_alphabet(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool token_id_valid(const char *text)
{
	if (!text || strlen(text) != TOKEN_ID_LEN)
		return false;
	for (size_t i = 0; i < TOKEN_ID_LEN; i++)
		if (!in_alphabet(text[i]))
			return false;
	return true;
}

int token_parse(const char *text, char id[TOKEN_ID_LEN + 1], char *secret, char *detail)
{
	size_t len = text ? strlen(text) : 0;
	if (len != TOKEN_LEN || text[TOKEN_ID_LEN] != '.') {
		if (detail)
			snprintf(
			    detail, DETAIL_MAX,
			    "a join token looks like abcdef.0123456789abcdef (6 and 16 characters "
			    "a-z 0-9 joined by a dot); found %zu characters",
			    len);
		return -PKS_E_TOKEN_FORMAT;
	}
	for (size_t i = 0; i < TOKEN_LEN; i++)
		if (i != TOKEN_ID_LEN && !in_alphabet(text[i])) {
			if (detail)
				snprintf(detail, DETAIL_MAX,
					 "character %zu is not a lowercase letter or digit", i + 1);
			return -PKS_E_TOKEN_FORMAT;
		}
	memcpy(id, text, TOKEN_ID_LEN);
	id[TOKEN_ID_LEN] = 0;
	memcpy(secret, text + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN);
	secret[TOKEN_SECRET_LEN] = 0;
	return 0;
}

void token_hash(const char *id, const char *secret, uint8_t out[TOKEN_HASH_BYTES])
{
	/* The id is public; it keys the hash so equal secrets under different ids differ. */
	uint8_t key[crypto_generichash_KEYBYTES_MIN + TOKEN_ID_LEN] = {0};
	memcpy(key, id, TOKEN_ID_LEN);
	crypto_generichash(out, TOKEN_HASH_BYTES, (const unsigned char *)secret, TOKEN_SECRET_LEN,
			   key, sizeof(key));
	secret_wipe(key, sizeof(key));
}

bool token_description_ok(const char *text)
{
	if (!text || !text[0])
		return true;
	size_t n = strnlen(text, API_TOKEN_DESCRIPTION_MAX + 1);
	bool visible = false;
	if (n > API_TOKEN_DESCRIPTION_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
			return false;
		visible |= text[i] != ' ';
	}
	return visible;
}
