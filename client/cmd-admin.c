/* cmd-admin.c - the verbs that only ask pkishared on its admin socket: status, reload and
 * delete-certs. What they ask is admin.c's; here their options and what they print. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin.h"
#include "api.h"
#include "cli.h"
#include "profile.h"
#include "util.h"

/* Options of a verb that only talks to the admin socket. >0: go on with *ret_sock; 0: help
 * was printed; <0: usage error. */
static int admin_only_args(int argc, char **argv, const char *usage, const char **ret_sock)
{
	static const struct option opts[] = {
	    {"admin-socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *sock_opt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 's') {
			sock_opt = optarg;
		} else if (c == 'h') {
			puts(usage);
			return 0;
		} else {
			return -1;
		}
	}
	*ret_sock = admin_socket(sock_opt);
	return 1;
}

int verb_delete_certs(int argc, char **argv)
{
	const char *sock = NULL;
	int r = admin_only_args(argc, argv,
				"Usage: pkishare delete-certs [--admin-socket PATH]\n"
				"Wipe the bundle pkishared holds, now.",
				&sock);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	return admin_call(sock, "DELETE", API_ROUTE_BUNDLE, "delete",
			  "[delete-certs] The bundle was wiped");
}

int verb_reload(int argc, char **argv)
{
	const char *sock = NULL;
	int r =
	    admin_only_args(argc, argv,
			    "Usage: pkishare reload [--admin-socket PATH]\n"
			    "Make pkishared re-read its configuration and TLS files (as SIGHUP "
			    "does) and\nsay whether it took them; the held bundle is kept either "
			    "way. The unit's\nExecReload=, so 'systemctl reload pkishared' fails "
			    "when the reload is refused.",
			    &sock);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	return admin_call(sock, "POST", API_ROUTE_RELOAD, "reload",
			  "[reload] pkishared took the new configuration and TLS files; what it "
			  "holds (bundle, join tokens) was kept");
}

/* status' options: >0 go on, 0 after --help, <0 a usage error (said). */
static int status_parse(int argc, char **argv, const char **ret_sock, bool *ret_json)
{
	static const struct option opts[] = {
	    {"admin-socket", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *sock_opt = NULL;
	bool as_json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (c == 's') {
			sock_opt = optarg;
		} else if (c == 'o') {
			/* kubectl's -o=json: getopt leaves the '='. */
			if (optarg[0] == '=')
				optarg++;
			if (strcmp(optarg, "json") != 0) {
				cli_error("-o supports only json");
				return -EINVAL;
			}
			as_json = true;
		} else if (c == 'h') {
			puts("Usage: pkishare status [-o|--output json] [--admin-socket PATH]\n"
			     "Show what pkishared holds (ids and times, never a secret).");
			return 0;
		} else {
			return -EINVAL;
		}
	}
	*ret_sock = admin_socket(sock_opt);
	*ret_json = as_json;
	return 1;
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long int_of(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* The held bundle: ids, times, fetches, its profile and who fetched it. */
static void status_print_bundle(json_t *b)
{
	long long mf = int_of(b, API_F_MAX_FETCHES);
	char limit[32] = "no limit";
	if (mf)
		snprintf(limit, sizeof(limit), "of %lld", mf);
	printf("bundle:     %s\nkey id:     %s\ncreated:    %s\nexpires:    %s (in %llds)\n"
	       "fetches:    %lld (%s)\n",
	       str_of(b, API_F_ID), str_of(b, API_F_KEY_ID), str_of(b, API_F_CREATED_AT),
	       str_of(b, API_F_EXPIRES_AT), int_of(b, API_F_EXPIRES_IN_SECONDS),
	       int_of(b, API_F_FETCHES), limit);
	json_t *pj = json_object_get(b, API_F_PROFILE);
	_cleanup_(freep) struct profile *prof =
	    json_is_object(pj) ? calloc(1, sizeof(*prof)) : NULL;
	if (prof && profile_from_json(pj, prof, NULL) == 0) {
		char desc[2048];
		profile_describe(prof, desc, sizeof(desc));
		printf("profile:    %s\n", desc);
	}
	json_t *f;
	size_t i;
	/* The source, always: an enrolled node chose its own name, so "node-2" alone could be
	 * the operator's node-2 or a token holder's. */
	json_array_foreach (json_object_get(b, API_F_FETCH_LOG), i, f)
		printf("  fetch %zu:  %s by %s (%s) from %s\n", i + 1, str_of(f, API_F_AT),
		       str_of(f, API_F_CLIENT), str_of(f, API_F_CLIENT_SOURCE),
		       str_of(f, API_F_PEER));
}

/* Whether the held state survives a restart, and what was refused of it. */
static void status_print_state(json_t *st)
{
	bool kept = json_is_true(json_object_get(st, API_F_KEPT));
	if (kept)
		printf("state:      kept in systemd's store (%s) since %s, %lld restart(s) "
		       "survived\n",
		       str_of(st, API_F_MEMORY), str_of(st, API_F_HELD_SINCE),
		       int_of(st, API_F_RESTORES));
	else if (json_is_object(st))
		printf("state:      not kept across restarts (%s)\n", str_of(st, API_F_NOTE));
	const char *note = str_of(st, API_F_NOTE);
	const char *refused = str_of(st, API_F_REFUSED);
	bool restored = int_of(st, API_F_RESTORES) > 0;
	/* Kept, but with something to say (a limit that could not be learnt, ...). */
	if (kept && note && note[0] && !(refused && refused[0]))
		printf("note:       %s\n", note);
	if (refused && refused[0])
		printf(restored ? "refused:    part of the previous state: %s\n"
				: "refused:    the previous state (%s); started empty\n",
		       refused);
}

/* Coordination: this node, whether etcd answers, the cluster's bundle and its holders. */
static void status_print_coordination(json_t *c, json_t *holders, long long key_ids)
{
	const char *peer = str_of(c, API_F_PEER_ADDRESS);
	json_t *err = json_object_get(c, API_F_ERROR);
	json_t *cur = json_object_get(c, API_F_CURRENT);
	printf("cluster:    node %s, peers reach it at %s\n", str_of(c, API_F_NODE),
	       peer ? peer : "(no peer-address)");
	if (!json_is_true(json_object_get(c, API_F_SYNCED)))
		printf("etcd:       not heard from yet (pkishare-coordd, etcd)%s%s\n",
		       json_is_object(err) ? ": " : "",
		       json_is_object(err) ? str_of(err, API_F_ERROR) : "");
	else if (json_is_object(err))
		printf("etcd:       NOT ANSWERING (pkishare-coordd or etcd) since %s: %s; fetches "
		       "here are refused (503) until they do\n",
		       str_of(err, API_F_AT), str_of(err, API_F_ERROR));
	else
		printf("etcd:       answering (revision %lld)\n", int_of(c, API_F_REVISION));
	json_t *nodes = json_object_get(c, API_F_NODES), *n;
	size_t k;
	bool others = false;
	if (json_is_array(nodes) && json_is_true(json_object_get(c, API_F_SYNCED))) {
		printf("nodes:      %zu registered in etcd:", json_array_size(nodes));
		json_array_foreach (nodes, k, n) {
			printf(" %s", json_string_value(n) ? json_string_value(n) : "?");
			others |= json_is_string(n) &&
				  strcmp(json_string_value(n),
					 str_of(c, API_F_NODE) ? str_of(c, API_F_NODE) : "") != 0;
		}
		printf("\n");
		if (!others)
			printf(
			    "            (no other node: right on the first serving node; on any "
			    "other, check that every node's pkishare-coordd names the same "
			    "etcd-prefix)\n");
	}
	if (int_of(c, API_F_PENDING_WRITES) > 0)
		printf("pending:    %lld write(s) not yet taken by etcd (retried)\n",
		       int_of(c, API_F_PENDING_WRITES));
	if (json_is_object(cur)) {
		long long mf = int_of(cur, API_F_MAX_FETCHES);
		char limit[32] = "no limit";
		if (mf)
			snprintf(limit, sizeof(limit), "of %lld", mf);
		printf("cluster bundle: %s from node %s, fetches %lld (%s), expires %s\n",
		       str_of(cur, API_F_ID), str_of(cur, API_F_ORIGIN), int_of(cur, API_F_FETCHES),
		       limit, str_of(cur, API_F_EXPIRES_AT));
	} else {
		printf("cluster bundle: none\n");
	}
	json_t *h;
	size_t i;
	json_array_foreach (holders, i, h)
		printf("  holder:   %s at %s\n", str_of(h, API_F_NODE),
		       str_of(h, API_F_PEER_ADDRESS));
	printf("key ids:    %lld used in the cluster (etcd keeps every one)\n", key_ids);
}

static void status_print(json_t *j)
{
	json_t *b = json_object_get(j, API_F_BUNDLE), *prev = json_object_get(j, API_F_PREVIOUS);
	printf("pkishared %s listening on %s\n", str_of(j, API_F_VERSION), str_of(j, API_F_LISTEN));
	/* What a joining node passes as --ca-cert-hash (kubeadm's discovery pin). */
	const char *pin = str_of(j, API_F_CA_CERT_HASH);
	printf("CA pin:     %s\n",
	       pin ? pin : "none (the serving chain has no CA; see 'pkishare pki serving-cert')");
	/* Who can join: a daemon older than this client says neither. */
	json_t *token_only = json_object_get(j, API_F_TOKEN_ONLY);
	if (json_is_true(token_only))
		printf("joiners:    token-only: join tokens (no client CA; only nodes enrolled "
		       "with a token can fetch)\n");
	else if (json_is_false(token_only))
		printf("joiners:    client CA %s; join tokens too (unless enrolled-fetch = no)\n",
		       str_of(j, API_F_CLIENT_CA));
	if (json_is_object(b))
		status_print_bundle(b);
	else
		printf("bundle:     none\n");
	json_t *t;
	size_t ti;
	json_array_foreach (json_object_get(j, API_F_TOKENS), ti, t)
		printf("token:      %s until %s (used %lld)\n", str_of(t, API_F_ID),
		       str_of(t, API_F_EXPIRES_AT), int_of(t, API_F_USED));
	if (json_is_object(prev))
		printf("previous:   %s, %s at %s\n", str_of(prev, API_F_ID),
		       str_of(prev, API_F_REASON), str_of(prev, API_F_AT));
	status_print_state(json_object_get(j, API_F_STATE));
	json_t *coord = json_object_get(j, API_F_COORDINATION);
	json_t *keys = json_object_get(j, API_F_KEY_IDS);
	if (json_is_object(coord))
		status_print_coordination(coord, json_object_get(j, API_F_HOLDERS),
					  int_of(keys, API_F_USED));
	else if (json_is_object(keys))
		printf("key ids:    %lld used (of %lld remembered; a full history refuses "
		       "uploads)\n",
		       int_of(keys, API_F_USED), int_of(keys, API_F_MAX));
}

int verb_status(int argc, char **argv)
{
	const char *sock = NULL;
	bool as_json = false;
	int r = status_parse(argc, argv, &sock, &as_json);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	_cleanup_(http_response_done) struct http_response resp = {0};
	r = net_unix_request(sock, "GET", API_ROUTE_STATUS, NULL, &resp);
	if (r < 0)
		return admin_unreachable(sock, r);
	if (resp.status != 200)
		return admin_refused("status", &resp);
	if (as_json) {
		fwrite(resp.body->data, 1, resp.body->len, stdout);
		return EXIT_OK;
	}
	_cleanup_(json_decrefp) json_t *j =
	    json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL);
	if (!j) {
		cli_error("pkishared's status is not JSON");
		return EXIT_FAIL;
	}
	status_print(j);
	return EXIT_OK;
}
