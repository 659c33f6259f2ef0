/* fuzz-key.c - certificate key parsing. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "key.h"
#include "secret.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *key;
	char detail[DETAIL_MAX];
	if (!key) {
		secret_init();
		key = secret_mem(KEY_BYTES);
	}
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	key_parse(s, key, detail);
	free(s);
	return 0;
}
