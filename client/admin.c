/* admin.c - pkishare's calls on pkishared's admin socket: which socket, the daemon's
 * status, a call without a body, and how a refusal or a daemon that cannot be reached is
 * said. The verbs that use them (cmd-*.c) say everything else. Prints nothing secret. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "admin.h"
#include "api.h"
#include "cli.h"
#include "error.h"
#include "net.h"

const char *admin_socket(const char *opt)
{
	if (opt)
		return opt;
	const char *env = getenv("PKISHARE_ADMIN_SOCKET");
	return env && *env ? env : DEFAULT_ADMIN_SOCKET;
}

int admin_unreachable(const char *sock, int r)
{
	if (r == -ETIMEDOUT)
		cli_error("pkishared on %s accepted the connection but did not answer in time; a "
			  "daemon that cannot start leaves its socket accepting: check "
			  "'systemctl status pkishared' and 'journalctl -u pkishared'",
			  sock);
	else
		cli_error("cannot reach pkishared on %s: %s; is pkishared running (systemctl "
			  "status pkishared), and are you root?",
			  sock, error_message(r));
	return EXIT_UNREACHABLE;
}

int admin_status(const char *sock, json_t **ret)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	int r = net_unix_request(sock, "GET", API_ROUTE_STATUS, NULL, &resp);
	if (r < 0)
		return r;
	json_t *j = resp.status == 200
			? json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL)
			: NULL;
	if (!j)
		return -EPROTO;
	*ret = j;
	return 0;
}

int admin_ttls(const char *sock, int64_t *ret_default, int64_t *ret_max)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	int r = net_unix_request(sock, "GET", API_ROUTE_STATUS, NULL, &resp);
	if (r < 0)
		return r;
	_cleanup_(json_decrefp) json_t *j =
	    resp.status == 200 ? json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL)
			       : NULL;
	json_t *d = json_object_get(j, API_F_DEFAULT_TTL_SECONDS),
	       *m = json_object_get(j, API_F_MAX_TTL_SECONDS);
	if (json_is_integer(d) && json_is_integer(m)) {
		*ret_default = json_integer_value(d);
		*ret_max = json_integer_value(m);
	}
	return 0;
}

int admin_refused(const char *what, const struct http_response *resp)
{
	char reason[64] = "", msg[512] = "";
	bool parsed = api_error_parse(resp->body, reason, sizeof(reason), msg, sizeof(msg));
	/* Done in part (a delete wiped here, the cluster not told yet): not "refused". */
	if (parsed && resp->status == 503 &&
	    api_reason_parse(reason) == API_R_COORDINATION_UNAVAILABLE)
		cli_error("%s not done everywhere (%s): %s", what, reason, msg);
	else if (parsed)
		cli_error("%s refused (%s): %s", what, reason, msg);
	else
		cli_error("%s failed: pkishared answered HTTP %d", what, resp->status);
	if (resp->status == 404 && api_reason_parse(reason) == API_R_NOT_FOUND)
		return EXIT_NOT_FOUND;
	if (resp->status == 403)
		return EXIT_FORBIDDEN;
	return EXIT_FAIL;
}

int admin_call(const char *sock, const char *method, const char *path, const char *what,
	       const char *ok_line)
{
	struct http_response resp = {0};
	int r = net_unix_request(sock, method, path, NULL, &resp);
	if (r < 0)
		return admin_unreachable(sock, r);
	int ex = EXIT_OK;
	if (resp.status != 200)
		ex = admin_refused(what, &resp);
	else
		puts(ok_line);
	http_response_done(&resp);
	return ex;
}
