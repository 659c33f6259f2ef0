/* fuzz-pin.c - CA pin parsing (--ca-cert-hash) and PEM chains for pins. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pin.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pin[PIN_BYTES];
	char detail[DETAIL_MAX], curl[128];
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	pin_parse(s, pin, detail);
	pin_of_chain_ca(data, size, pin);
	pin_curl_of_leaf(data, size, curl, sizeof(curl));
	free(s);
	return 0;
}
