/* httpresp.c - split a raw HTTP/1.1 response from pkishared into status, Date and body. It
 * reads what came over the network: every length is checked against what arrived, and
 * nothing is read past len (the bytes need not end in NUL). Never logs. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpresp.h"

#define HTTP_HEADERS_MAX (16 * 1024)

/* The first "\r\n" in [p, end), or NULL. */
static const char *line_end(const char *p, const char *end)
{
	return end - p >= 2 ? memmem(p, (size_t)(end - p), "\r\n", 2) : NULL;
}

static bool header_is(const char *h, const char *eol, const char *name)
{
	size_t n = strlen(name);
	return (size_t)(eol - h) >= n && strncasecmp(h, name, n) == 0;
}

/* A Date header's value [v, eol) in IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as
 * Unix seconds, or 0. */
static int64_t date_parse(const char *v, const char *eol)
{
	char buf[64];
	struct tm tm = {0};
	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	size_t n = (size_t)(eol - v);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, v, n);
	buf[n] = 0;
	const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return 0;
	time_t t = timegm(&tm);
	return t > 0 ? (int64_t)t : 0;
}

void http_response_done(struct http_response *r)
{
	r->body = secret_free(r->body);
}

int http_response_parse(const uint8_t *raw, size_t len, struct http_response *ret)
{
	const char *p = (const char *)raw;
	int status = 0;
	int64_t date = 0;
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -EPROTO;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EPROTO;
		status = status * 10 + (p[i] - '0');
	}
	const char *end = memmem(p, len < HTTP_HEADERS_MAX ? len : HTTP_HEADERS_MAX, "\r\n\r\n", 4);
	if (!end)
		return -EPROTO;
	size_t hdr_len = (size_t)(end - p) + 4;
	size_t body_len = len - hdr_len;
	const char *hdr_end = end + 2; /* the last header line's "\r\n" included */
	for (const char *h = p, *eol; h < end && (eol = line_end(h, hdr_end)); h = eol + 2) {
		if (header_is(h, eol, "Content-Length:")) {
			/* Digits only, and it must not promise more than arrived. */
			const char *d = h + 15;
			while (d < eol && (*d == ' ' || *d == '\t'))
				d++;
			if (d == eol)
				return -EPROTO;
			size_t cl = 0;
			for (; d < eol && *d != ' ' && *d != '\t'; d++) {
				if (*d < '0' || *d > '9' || cl > body_len)
					return -EPROTO;
				cl = cl * 10 + (size_t)(*d - '0');
			}
			if (cl > body_len)
				return -EPROTO;
			body_len = cl;
		}
		if (header_is(h, eol, "Date:"))
			date = date_parse(h + 5, eol);
		if (header_is(h, eol, "Transfer-Encoding:"))
			return -EPROTO; /* pkishared never chunks its fixed-size answers */
	}
	ret->status = status;
	ret->date = date;
	ret->body = secret_dup(p + hdr_len, body_len);
	return ret->body ? 0 : -ENOMEM;
}
