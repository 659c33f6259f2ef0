/* fuzz-duration.c - durations in Go's form (flags and pkishared.conf values). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[64];
	int64_t v = 0, w = 0;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (duration_parse(s, &v) == 0) {
		/* Accepted: in range, and its own formatting parses back to it. */
		if (v < 1 || v > 1000LL * 24 * 3600)
			abort();
		duration_format(v, out, sizeof(out));
		if (duration_parse(out, &w) != 0 || w != v)
			abort();
	}
	if (duration_parse_max(s, DURATION_LIMIT_SECONDS, &v) == 0 &&
	    (v < 1 || v > DURATION_LIMIT_SECONDS))
		abort();
	free(s);
	return 0;
}
