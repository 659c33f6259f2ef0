/* addr.h - socket addresses as text, one format everywhere: "192.0.2.1:9443",
 * "[2001:db8::1]:9443" (IPv6 always bracketed, with its port), "unix" for a unix socket. */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX 64 /* "[" + INET6_ADDRSTRLEN + "]:" + port, with room to spare */

/* Format sa; "unknown" for a family it does not know (or sa NULL). An IPv4-mapped IPv6
 * address (an IPv4 client of a dual-stack socket) is shown as the IPv4 address. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* The address part of such a text: "192.0.2.1", "[2001:db8::1]". */
void addr_host_part(const char *text, char *buf, size_t len);
