/* tlshello.c - the one field pkishared reads from a raw TLS ClientHello (see tlshello.h).
 *
 * Peer data: every length is checked against the bytes that are there before it is used. */
#include <string.h>

#include "tlshello.h"

bool tlshello_sni(const unsigned char *p, size_t n, char *name, size_t len)
{
	size_t i = 2 + 32; /* legacy_version, random */
	if (i >= n)
		return false;
	i += 1 + p[i]; /* session id */
	if (i + 2 > n)
		return false;
	i += 2 + ((size_t)p[i] << 8 | p[i + 1]); /* cipher suites */
	if (i >= n)
		return false;
	i += 1 + p[i]; /* compression methods */
	if (i + 2 > n)
		return false;
	size_t end = i + 2 + ((size_t)p[i] << 8 | p[i + 1]);
	if (end > n)
		return false;
	for (i += 2; i + 4 <= end;) {
		unsigned type = (unsigned)p[i] << 8 | p[i + 1];
		size_t elen = (size_t)p[i + 2] << 8 | p[i + 3];
		i += 4;
		if (i + elen > end)
			return false;
		/* server_name: list length (2), name type (1) = host_name, length (2), name */
		if (type == 0 && elen >= 5 && p[i + 2] == 0) {
			size_t nlen = (size_t)p[i + 3] << 8 | p[i + 4];
			if (nlen + 5 > elen || nlen >= len)
				return false;
			memcpy(name, p + i + 5, nlen);
			name[nlen] = 0;
			return true;
		}
		i += elen;
	}
	return false;
}
