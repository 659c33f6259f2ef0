/* fuzz-httpresp.c - the client's HTTP response parser (lib/httpresp.c): whatever a
 * server or anyone on the path sends back. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "httpresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready++ && secret_init() < 0)
		abort();
	/* A copy of exactly size bytes: the parser must not read past them. */
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	struct http_response r = {0};
	if (http_response_parse(copy, size, &r) == 0) {
		if (r.status < 0 || r.status > 999 || !r.body || r.body->len > size)
			abort();
		secret_free(r.body);
	}
	free(copy);
	return 0;
}
