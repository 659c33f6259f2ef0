/* tlshello.h - read the server name (SNI) from a raw TLS ClientHello body, as GnuTLS hands
 * it to a handshake hook before it parses it itself. No I/O, no state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The host_name of the server_name extension (RFC 6066 section 3) in a ClientHello body
 * (RFC 8446 section 4.1.2, without the 4-byte handshake header), NUL-terminated into name
 * (len bytes). False when there is none, it does not fit, or the message is malformed. */
bool tlshello_sni(const unsigned char *p, size_t n, char *name, size_t len);
