/* httpresp.h - a raw HTTP/1.1 response from pkishared split into status, Date and body
 * (the body in guarded memory). A parser of what came over the network; never logs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

/* The most a response may be, headers and body (a bundle is far less). */
#define HTTP_RESPONSE_MAX_BYTES (2 * 1024 * 1024)

struct http_response {
	int status;
	struct secret *body;
	int64_t date; /* the server's Date header (its clock, to the second), or 0 */
};
/* Free the body (a _cleanup_ destructor; a zeroed response is fine). Returns nothing. */
void http_response_done(struct http_response *r);
/* Split a raw HTTP/1.1 response (len bytes, not NUL-terminated) into status, body and
 * Date (0 if absent or not in RFC 9110's IMF-fixdate form); a Content-Length must be
 * digits and not promise more than arrived; chunked answers are refused. 0 with *ret, or
 * -EPROTO for anything else, -ENOMEM. */
int http_response_parse(const uint8_t *raw, size_t len, struct http_response *ret);
