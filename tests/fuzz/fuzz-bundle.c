/* fuzz-bundle.c - the bundle JSON parser and opener (what pkishared parses on upload and
 * pkishare decrypt reads from curl). The first byte picks the key's id match. */
#include <string.h>

#include "bundle.h"
#include "fuzz.h"
#include "secret.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *key;
	struct bundle b = {0};
	struct pki_set plain = {0};
	char detail[DETAIL_MAX];

	if (!key) {
		secret_init();
		key = secret_mem(KEY_BYTES);
		memset(key, 0x42, KEY_BYTES);
	}
	if (bundle_parse((const char *)data, size, &b, detail) == 0) {
		/* Force the key id to match so the AEAD path runs on fuzzed ciphertexts. */
		key_id(key, b.key_id);
		if (bundle_open(&b, key, b.created_at, 0, &plain, detail) == 0)
			pki_set_clear(&plain);
		bundle_done(&b);
	}
	return 0;
}
