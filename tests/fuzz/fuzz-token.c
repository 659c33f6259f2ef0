/* fuzz-token.c - join token parsing (the Authorization: Bearer value of POST /v1/enroll). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "token.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[TOKEN_ID_LEN + 1], secret[TOKEN_SECRET_LEN + 1], detail[DETAIL_MAX];
	uint8_t hash[TOKEN_HASH_BYTES];
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	if (token_parse(s, id, secret, detail) == 0)
		token_hash(id, secret, hash);
	token_id_valid(s);
	free(s);
	return 0;
}
