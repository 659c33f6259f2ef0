/* fuzz-addr.c - server addresses as an operator (or a status reply's listen field)
 * writes them: addr_parse and addr_parse_listen, then addr_join of what each accepted. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[ADDR_HOST_MAX], detail[DETAIL_MAX], out[ADDR_TEXT_MAX + ADDR_HOST_MAX];
	char again[ADDR_HOST_MAX];
	uint16_t port = 0, port2 = 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (addr_parse(s, ADDR_DEFAULT_PORT, host, &port, detail) == 0) {
		/* What was accepted formats to a text that parses to the same host and port. */
		addr_join(host, port, out, sizeof(out));
		if (addr_parse(out, 1, again, &port2, detail) != 0 || strcmp(host, again) ||
		    port != port2)
			abort();
	}
	if (addr_parse_listen(s, host, &port, detail) == 0) {
		/* A listen address is a narrower server form: it parses as one, to the same. */
		addr_join(host, port, out, sizeof(out));
		if (addr_parse_listen(out, again, &port2, detail) != 0 || strcmp(host, again) ||
		    port != port2)
			abort();
		if (port && (addr_parse(s, 1, again, &port2, detail) != 0 || strcmp(host, again)))
			abort();
	}
	free(s);
	return 0;
}
