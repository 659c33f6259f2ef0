/* addr.h - socket addresses as text, one format everywhere: "192.0.2.1:9443",
 * "[2001:db8::1]:9443" (IPv6 always bracketed, with its port), "unix" for a unix socket. */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX 64 /* "[" + INET6_ADDRSTRLEN + "]:" + port, with room to spare */

/* Format sa; "unknown" for a family it does not know (or sa NULL). */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* The address part of such a text: "192.0.2.1", "[2001:db8::1]". */
void addr_host_part(const char *text, char *buf, size_t len);
