/* addr.h - socket addresses as text, one format everywhere: "192.0.2.1:9443",
 * "[2001:db8::1]:9443" (IPv6 always bracketed, with its port), "unix" for a unix socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX 64 /* "[" + INET6_ADDRSTRLEN + "]:" + port, with room to spare */

/* Format sa; "unknown" for a family it does not know (or sa NULL). An IPv4-mapped IPv6
 * address (an IPv4 client of a dual-stack socket) is shown as the IPv4 address. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* The network a client address belongs to, for limits per network: an IPv4 /24 (an
 * IPv4-mapped IPv6 address counts as IPv4) or an IPv6 /64, as ADDR_NET_LEN bytes (a
 * family byte, then the prefix; the rest zero). All zero for another family or NULL. */
#define ADDR_NET_LEN 9
void addr_net(const struct sockaddr *sa, uint8_t ret_net[ADDR_NET_LEN]);
/* The address part of such a text: "192.0.2.1", "[2001:db8::1]". */
void addr_host_part(const char *text, char *buf, size_t len);

/* pkishared's port when a server is given without one (its listen default, 0.0.0.0:9443). */
#define ADDR_DEFAULT_PORT 9443
#define ADDR_HOST_MAX 254 /* a DNS name of 253 characters, or an IP address */
#define ADDR_INPUT_MAX 300

/* The one parser of a server or endpoint as an operator writes it: HOST, HOST:PORT,
 * IPv4, IPv4:PORT, [IPv6], [IPv6]:PORT or a bare IPv6 address, optionally as
 * https://...[/]. HOST is a DNS name (letters, digits, '-', '_' and dots, labels of 1 to
 * 63). ret_host receives the host without brackets, *ret_port the port (default_port
 * when none is written). -EINVAL with what is wrong (and the form expected) in detail
 * (DETAIL_MAX); out-params untouched on failure. */
int addr_parse(const char *text, uint16_t default_port, char ret_host[ADDR_HOST_MAX],
	       uint16_t *ret_port, char *detail);
/* The daemon's listen address, by the same rules: IPv4:PORT or [IPv6]:PORT only (no name,
 * no scheme: it is bound before anything is resolved), the port required and 0 allowed
 * (the kernel picks one). Same errors and out-params as addr_parse. */
int addr_parse_listen(const char *text, char ret_host[ADDR_HOST_MAX], uint16_t *ret_port,
		      char *detail);
/* host and port as one text: "192.0.2.1:9443", "[2001:db8::1]:9443", "cp.example:9443". */
void addr_join(const char *host, uint16_t port, char *buf, size_t len);
