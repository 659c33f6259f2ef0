/* admin.h - pkishare's calls on pkishared's admin socket (a unix socket, root's): which
 * socket, the daemon's status, a call without a body, and how a refusal or a daemon that
 * cannot be reached is said. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "httpresp.h"

/* The admin socket: --admin-socket (opt), else $PKISHARE_ADMIN_SOCKET, else the default. */
const char *admin_socket(const char *opt);
/* Say that the admin socket sock could not be used (r: -errno from net_unix_request), and
 * what to check. Returns EXIT_UNREACHABLE. */
int admin_unreachable(const char *sock, int r);
/* The daemon's status JSON (the caller's, json_decref). 0 with *ret, or -errno from
 * net_unix_request, -EPROTO when the answer is not a 200 with JSON. */
int admin_status(const char *sock, json_t **ret);
/* The daemon's default and maximum bundle lifetimes from its status, into *ret_default and
 * *ret_max, both left as they are when it does not say. 0, or -errno from net_unix_request. */
int admin_ttls(const char *sock, int64_t *ret_default, int64_t *ret_max);
/* Say what the admin API answered to what (not a success), as one line with what to do.
 * Returns the exit status: EXIT_NOT_FOUND (nothing held), EXIT_FORBIDDEN, EXIT_FAIL. */
int admin_refused(const char *what, const struct http_response *resp);
/* A request without a body: ok_line printed on 200, else the refusal said (admin_refused,
 * admin_unreachable). An exit status. */
int admin_call(const char *sock, const char *method, const char *path, const char *what,
	       const char *ok_line);
