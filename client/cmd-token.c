/* cmd-token.c - join tokens (token create|list|delete) and print-join-command.
 *
 * The token is generated here; only its id and a hash of its secret go to pkishared.
 * The token itself is printed once, for the operator to hand to the joining node. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "addr.h"
#include "admin.h"
#include "bundle.h"
#include "cli.h"
#include "error.h"
#include "key.h"
#include "token.h"
#include "util.h"

#define TOKEN_DEFAULT_TTL "24h"

static int report(const char *what, struct http_response *resp)
{
	char reason[64] = "", msg[512] = "";
	if (api_error_parse(resp->body, reason, sizeof(reason), msg, sizeof(msg)))
		cli_error("%s refused (%s): %s", what, reason, msg);
	else
		cli_error("%s failed: pkishared answered HTTP %d", what, resp->status);
	return resp->status == 404 ? EXIT_NOT_FOUND : EXIT_FAIL;
}

/* Create a token in the daemon; token (guarded, TOKEN_LEN + 1) receives it. description:
 * NULL for none. */
static int create_token(const char *sock, int64_t ttl, uint64_t uses, const char *description,
			char *token)
{
	char id[TOKEN_ID_LEN + 1], hash_hex[TOKEN_HASH_HEX_LEN + 1];
	uint8_t hash[TOKEN_HASH_BYTES];
	_cleanup_(secret_mem_freep) char *secret = secret_mem(TOKEN_SECRET_LEN + 1);
	if (!secret)
		return EXIT_FAIL;
	token_generate(token);
	token_parse(token, id, secret, NULL);
	token_hash(id, secret, hash);
	sodium_bin2hex(hash_hex, sizeof(hash_hex), hash, sizeof(hash));
	_cleanup_(json_decrefp) json_t *j =
	    json_pack("{s:s, s:s, s:I, s:I, s:s*}", API_F_ID, id, API_F_SECRET_HASH, hash_hex,
		      API_F_TTL_SECONDS, (json_int_t)ttl, API_F_USES, (json_int_t)uses,
		      API_F_DESCRIPTION, description);
	char *text = j ? json_dumps(j, 0) : NULL;
	_cleanup_(secret_freep) struct secret *body = text ? secret_dup(text, strlen(text)) : NULL;
	secret_json_free(text);
	if (!body)
		return EXIT_FAIL;
	_cleanup_(http_response_done) struct http_response resp = {0};
	int r = net_unix_request(sock, "POST", API_ROUTE_TOKENS, body, &resp);
	if (r < 0)
		return admin_unreachable(sock, r);
	return resp.status == 201 ? EXIT_OK : report("token creation", &resp);
}

struct join_opts {
	const char *server;
	char *key_arg;
	int64_t ttl;
	uint64_t uses;
	bool uses_set; /* --uses given; else a printed join command's token is single-use */
	const char *description; /* --description (kubeadm's); NULL: none */
	bool curl;
	enum { OUT_TEXT, OUT_JSON, OUT_YAML } output; /* -o json|yaml */
	bool output_set;
	bool key_given; /* a certificate key was given (not the placeholder) */
	const char *sock;
};

static bool is_loopback(const char *name)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, name, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return !strcmp(name, "localhost");
}

/* pkishared listens on every address: the name to print is one its serving certificate
 * carries (the joiner's TLS check needs it there), an IP address before a DNS name
 * (servingNames lists them so), never a loopback one; the host name if it has none. */
static void wildcard_server(json_t *names, uint16_t port, char *server, size_t len)
{
	const char *pick = NULL;
	size_t i, n_other = 0;
	json_t *v;
	char others[256] = "";

	json_array_foreach (names, i, v) {
		const char *name = json_string_value(v);
		if (!name || is_loopback(name) || strlen(name) >= ADDR_HOST_MAX)
			continue;
		if (!pick) {
			pick = name;
		} else if (n_other++ < 4) {
			size_t k = strlen(others);
			snprintf(others + k, sizeof(others) - k, "%s%s", k ? ", " : "", name);
		}
	}
	if (pick) {
		struct in6_addr ip;
		bool is_ip =
		    inet_pton(AF_INET, pick, &ip) == 1 || inet_pton(AF_INET6, pick, &ip) == 1;
		addr_join(pick, port, server, len);
		fprintf(stderr,
			"pkishare: pkishared listens on every address; using %s from its serving "
			"certificate%s%s%s (pass --server HOST[:PORT] to choose)%s\n",
			server, n_other ? " (it also names " : "", others, n_other ? ")" : "",
			is_ip ? ""
			      : "; it is a name, which must resolve on the joining nodes: if it "
				"does not, pass --server with an address the certificate names "
				"('pkishare pki serving-cert --address IP' adds one)");
		return;
	}
	char name[256] = "localhost";
	gethostname(name, sizeof(name) - 1);
	addr_join(name, port, server, len);
	fprintf(stderr,
		"pkishare: pkishared listens on every address and its serving certificate names "
		"no address but loopback; using the host name %s, which the certificate must "
		"carry (pass --server HOST[:PORT] to choose; 'pkishare pki serving-cert "
		"--address IP' makes a certificate with the address joiners use)\n",
		server);
}

/* The server a joining node is told to use: --server, else where pkishared listens (for a
 * wildcard, a name of its serving certificate), else a placeholder; into server
 * (ADDR_TEXT_MAX + ADDR_HOST_MAX). An exit status. */
/* --server as given, against what pkishared says it serves: its listen port and the names
 * its serving certificate carries. A command with another port (6443 is the API server's)
 * or a name the certificate lacks cannot work on the joining node: warned, with what
 * pkishared serves, before the token is made. Returns nothing: it only warns. */
static void join_server_warn(json_t *st, const char *host, uint16_t port)
{
	const char *listen = json_string_value(json_object_get(st, API_F_LISTEN));
	json_t *names = json_object_get(st, API_F_SERVING_NAMES);
	char lhost[ADDR_HOST_MAX], detail[DETAIL_MAX], list[512] = "";
	uint16_t lport = 0;
	if (listen && addr_parse(listen, ADDR_DEFAULT_PORT, lhost, &lport, detail) == 0 &&
	    lport != port)
		fprintf(stderr,
			"pkishare: WARNING: --server port %u is not pkishared's (it listens on "
			"%s, port %u%s): the joining node would reach another service; use "
			"port %u\n",
			port, listen, lport,
			port == 6443 ? "; 6443 is the Kubernetes API server's" : "", lport);
	size_t i, n = json_array_size(names);
	bool named = n == 0;
	for (i = 0; i < n; i++) {
		const char *name = json_string_value(json_array_get(names, i));
		if (!name)
			continue;
		if (!strcasecmp(name, host))
			named = true;
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", name);
	}
	if (!named)
		fprintf(stderr,
			"pkishare: WARNING: --server %s is not a name pkishared's serving "
			"certificate carries (%s): the joining node would refuse the server; use "
			"one of those, or make the serving certificate with that name too "
			"('pkishare pki serving-cert --address/--node-name')\n",
			host, list);
}

static int join_server(const struct join_opts *o, json_t *st, char *server, size_t len)
{
	const char *listen = json_string_value(json_object_get(st, API_F_LISTEN));
	char host[ADDR_HOST_MAX], detail[DETAIL_MAX];
	uint16_t port = ADDR_DEFAULT_PORT;
	if (o->server) {
		if (addr_parse(o->server, ADDR_DEFAULT_PORT, host, &port, detail) < 0) {
			cli_error("invalid --server: %s", detail);
			return EXIT_USAGE;
		}
		addr_join(host, port, server, len);
		join_server_warn(st, host, port);
	} else if (listen && addr_parse(listen, ADDR_DEFAULT_PORT, host, &port, detail) == 0) {
		if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
			wildcard_server(json_object_get(st, API_F_SERVING_NAMES), port, server,
					len);
		} else {
			addr_join(host, port, server, len);
		}
	} else {
		str_copy(server, len, "HOST:9443");
	}
	return EXIT_OK;
}

/* The certificate key as the command will carry it: --certificate-key's or
 * PKISHARE_CERTIFICATE_KEY's, else a placeholder (said on stderr). An exit status. */
static int join_key(struct join_opts *o, uint8_t *key, char *hex)
{
	bool given = false;
	int r = cli_key_take(o->key_arg, key, &given);
	if (r != EXIT_OK)
		return r;
	if (given) {
		o->key_given = true;
		key_format(key, hex);
		return EXIT_OK;
	}
	str_copy(hex, KEY_HEX_LEN + 1, "'<certificate key from upload-certs>'");
	fprintf(stderr, "pkishare: no certificate key given (" CLI_ENV_KEY
			"=KEY pkishare print-join-command); put the key that "
			"'pkishare upload-certs' printed in its place\n");
	return EXIT_OK;
}

/* A key given for the command must open the held bundle: a command for another key (an
 * older upload's) would spend a token and fail on the joining node. Compared by key id
 * (public), against the held bundle's in the status. An exit status. */
static int join_key_matches(const struct join_opts *o, json_t *st, const uint8_t *key)
{
	char kid[KEY_ID_HEX_LEN + 1];
	const char *held =
	    json_string_value(json_object_get(json_object_get(st, API_F_BUNDLE), API_F_KEY_ID));
	if (!o->key_given || !held)
		return EXIT_OK;
	key_id(key, kid);
	if (strcmp(kid, held) == 0)
		return EXIT_OK;
	cli_error("the certificate key given (key id %s) is not the one the held bundle is "
		  "sealed with (key id %s, see 'pkishare status'): a joining node could not "
		  "open it; pass the key the last 'pkishare upload-certs' printed, or run "
		  "'pkishare upload-certs' again (it prints a new key: key ids are never "
		  "reused) and pass that one; no token was created",
		  kid, held);
	return EXIT_ROTATED;
}

/* A command printed while pkishared holds no bundle (deleted, expired, used up, or never
 * uploaded since a by-hand start) would spend a token for nothing: refused, saying what
 * became of the last one (the status's "previous"). An exit status. */
static int join_bundle_held(json_t *st)
{
	json_t *b = json_object_get(st, API_F_BUNDLE);
	if (json_is_object(b))
		return EXIT_OK;
	json_t *prev = json_object_get(st, API_F_PREVIOUS);
	const char *id = json_string_value(json_object_get(prev, API_F_ID));
	const char *why = json_string_value(json_object_get(prev, API_F_REASON));
	const char *at = json_string_value(json_object_get(prev, API_F_AT));
	char last[BUNDLE_ID_HEX_LEN + 128] = "";
	if (id && why && at)
		str_format(last, sizeof(last), " (the last one, %.*s, is gone: %s at %.32s)",
			   BUNDLE_ID_HEX_LEN, id, why, at);
	else
		str_copy(last, sizeof(last),
			 " (none was uploaded since it started: run by hand, it keeps nothing "
			 "across a restart)");
	cli_error("pkishared holds no bundle%s: a joining node would have nothing to fetch; "
		  "run 'pkishare upload-certs' first, then print-join-command with the key it "
		  "prints; no token was created",
		  last);
	return EXIT_NOT_FOUND;
}

/* The commands a joining node runs. No secret is ever an argument of a program they
 * start: the key and the token go to pkishare in its environment, and the token to curl
 * as a header on its standard input (-H @-), written by printf, a builtin of every
 * shell (no execve carries it). */
static void join_print(const struct join_opts *o, const char *server, const char *others,
		       const char *token, const char *pin, const char *pinned, const char *hex)
{
	if (!o->curl) {
		/* An IPv6 [address]:port is a shell glob unquoted. */
		const char *q = strchr(server, '[') ? "'" : "";
		printf(CLI_ENV_TOKEN "=%s " CLI_ENV_KEY
				     "=%s pkishare join --server %s%s%s%s --ca-cert-hash %s\n",
		       token, hex, q, server, q, others, pin);
		return;
	}
	/* curl -g: an IPv6 address in brackets is not a glob. */
	printf("# On the joining node (needs curl, openssl and pkishare decrypt):\n"
	       "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	       "-subj \"/CN=$(hostname)\" -keyout node.key -out node.csr\n"
	       "printf 'Authorization: Bearer %%s\\n' '%s' | "
	       "curl -g --fail-with-body -sS -k --pinnedpubkey '%s' -H @- "
	       "--data-binary @node.csr -o node.crt https://%s/v1/enroll\n"
	       "curl -g --fail-with-body -sS -k --pinnedpubkey '%s' --cert node.crt --key "
	       "node.key "
	       "https://%s/v1/bundle | " CLI_ENV_KEY "=%s pkishare decrypt\n",
	       token, pinned ? pinned : "sha256//?", server, pinned ? pinned : "sha256//?", server,
	       hex);
}

/* What the printed token allows, on stderr (stdout is the command, to paste). */
static void join_token_say(const struct join_opts *o, uint64_t uses)
{
	char ttl[64];
	duration_format(o->ttl, ttl, sizeof(ttl));
	if (uses == 1)
		fprintf(stderr,
			"pkishare: the token in this command enrolls one node (--uses 1) and "
			"expires in %s; run print-join-command again for the next node\n",
			ttl);
	else if (uses == 0)
		fprintf(stderr,
			"pkishare: the token in this command enrolls any number of nodes "
			"(--uses 0) until it expires in %s; delete it with 'pkishare token "
			"delete' once your nodes have joined\n",
			ttl);
	else
		fprintf(stderr,
			"pkishare: the token in this command enrolls up to %llu nodes and expires "
			"in %s\n",
			(unsigned long long)uses, ttl);
}

/* With coordination and no --server: after this node's server, every other node that
 * holds the bundle, where it serves (its peer address), so that the command still works
 * when one of them is down; the token is the cluster's. Appended to servers as
 * " --server A --server B" (quoted where a shell would glob). */
static void join_other_servers(const struct join_opts *o, json_t *st, const char *first,
			       char *servers, size_t len)
{
	json_t *coord = json_object_get(st, API_F_COORDINATION), *h;
	const char *self = json_string_value(json_object_get(coord, API_F_NODE));
	size_t i;
	servers[0] = 0;
	if (o->server || !json_is_object(coord))
		return;
	json_array_foreach (json_object_get(st, API_F_HOLDERS), i, h) {
		const char *node = json_string_value(json_object_get(h, API_F_NODE));
		const char *addr = json_string_value(json_object_get(h, API_F_PEER_ADDRESS));
		if (!addr || !node || (self && !strcmp(node, self)) || !strcmp(addr, first))
			continue;
		const char *q = strchr(addr, '[') ? "'" : "";
		size_t used = strlen(servers);
		snprintf(servers + used, len - used, " --server %s%s%s", q, addr, q);
	}
}

/* Plan (the server, the pin, the key), act (a new token), print the command. */
static int print_join(struct join_opts *o)
{
	_cleanup_(json_decrefp) json_t *st = NULL;
	int r = admin_status(o->sock, &st);
	if (r < 0)
		return admin_unreachable(o->sock, r);
	const char *pin = json_string_value(json_object_get(st, API_F_CA_CERT_HASH));
	const char *pinned = json_string_value(json_object_get(st, API_F_PINNED_PUBKEY));
	char server[ADDR_TEXT_MAX + ADDR_HOST_MAX];
	int ex = join_server(o, st, server, sizeof(server));
	if (ex != EXIT_OK)
		return ex;
	if (!pin) {
		cli_error("pkishared's serving chain has no CA certificate to pin; make its "
			  "certificate with 'pkishare pki serving-cert'");
		return EXIT_FAIL;
	}
	_cleanup_(secret_mem_freep) char *token = secret_mem(TOKEN_LEN + 1);
	_cleanup_(secret_mem_freep) uint8_t *key = secret_mem(KEY_BYTES);
	_cleanup_(secret_mem_freep) char *hex = secret_mem(KEY_HEX_LEN + 1);
	if (!token || !key || !hex)
		return EXIT_FAIL;
	/* A printed command is pasted on one node: its token enrolls one, unless asked. */
	uint64_t uses = o->uses_set ? o->uses : 1;
	ex = join_bundle_held(st);
	if (ex == EXIT_OK)
		ex = join_key(o, key, hex);
	if (ex == EXIT_OK)
		ex = join_key_matches(o, st, key);
	if (ex == EXIT_OK)
		ex = create_token(o->sock, o->ttl, uses, o->description, token);
	if (ex == EXIT_OK) {
		char others[1024];
		join_other_servers(o, st, server, others, sizeof(others));
		join_print(o, server, others, token, pin, pinned, hex);
		join_token_say(o, uses);
		/* The token outlives the bundle it is for: say when the command stops. */
		const char *until = json_string_value(
		    json_object_get(json_object_get(st, API_F_BUNDLE), API_F_EXPIRES_AT));
		if (until)
			fprintf(stderr,
				"pkishare: the command works only while the bundle it fetches is "
				"held: until %s (its expiry), or sooner if its fetches are used up "
				"or another upload replaces it; then upload-certs and "
				"print-join-command again\n",
				until);
	}
	return ex;
}

/* >0 go on, 0 after --help, <0 a usage error (said). 66 lines: a getopt switch over the
 * options reads best whole. */
static int parse_join_opts(int argc, char **argv, struct join_opts *o, bool *print_cmd,
			   const char *usage)
{
	enum { O_TTL = 256, O_USES, O_PRINT, O_KEY, O_SERVER, O_CURL, O_SOCK, O_DESC };
	static const struct option opts[] = {
	    {"ttl", required_argument, NULL, O_TTL},
	    {"description", required_argument, NULL, O_DESC},
	    {"uses", required_argument, NULL, O_USES},
	    {"print-join-command", no_argument, NULL, O_PRINT},
	    {"certificate-key", required_argument, NULL, O_KEY},
	    {"server", required_argument, NULL, O_SERVER},
	    {"curl", no_argument, NULL, O_CURL},
	    {"admin-socket", required_argument, NULL, O_SOCK},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *sock = NULL;
	int c;
	duration_parse(TOKEN_DEFAULT_TTL, &o->ttl);
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			/* kubectl's -o=json: getopt leaves the '='. */
			if (optarg[0] == '=')
				optarg++;
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "yaml") != 0) {
				cli_error("-o takes json or yaml, not '%s'", optarg);
				return -EINVAL;
			}
			o->output = strcmp(optarg, "json") ? OUT_YAML : OUT_JSON;
			o->output_set = true;
			break;
		case O_TTL:
			if (duration_parse(optarg, &o->ttl) < 0) {
				cli_error("invalid --ttl '%s': %s", optarg,
					  error_message(-PKS_E_DURATION));
				return -EINVAL;
			}
			break;
		case O_USES:
			if (uint_parse(optarg, API_TOKEN_MAX_USES, &o->uses) < 0) {
				cli_error("--uses must be a whole number from 0 (no limit) to %d",
					  API_TOKEN_MAX_USES);
				return -EINVAL;
			}
			o->uses_set = true;
			break;
		case O_DESC:
			if (!token_description_ok(optarg)) {
				cli_error(
				    "--description must be at most %d printable ASCII "
				    "characters (letters, digits, spaces, punctuation; no "
				    "newline, tab or other control character, nothing outside "
				    "ASCII; not only spaces); no token was created",
				    API_TOKEN_DESCRIPTION_MAX);
				return -EINVAL;
			}
			o->description = optarg;
			break;
		case O_PRINT:
			*print_cmd = true;
			break;
		case O_KEY:
			o->key_arg = optarg;
			break;
		case O_SERVER:
			o->server = optarg;
			break;
		case O_CURL:
			o->curl = true;
			break;
		case O_SOCK:
			sock = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return -EINVAL;
		}
	}
	o->sock = admin_socket(sock);
	return 1;
}

#define TOKEN_CREATE_USAGE                                                                         \
	"Usage: pkishare token create [--ttl DURATION] [--uses N] [--description TEXT]\n"          \
	"                             [--print-join-command\n"                                     \
	"                             [--certificate-key -|KEY] [--server HOST[:PORT]] "           \
	"[--curl]]\n"                                                                              \
	"                             [-o json|yaml] [--admin-socket PATH]\n"                      \
	"A token has no use limit unless --uses N; with --print-join-command it enrolls one\n"     \
	"node unless --uses says otherwise, and the key comes from " CLI_ENV_KEY ".\n"             \
	"--description: shown by token list (at most 200 printable ASCII characters).\n"           \
	"-o json|yaml: the token with its id, expiry, uses left (null: no limit) and\n"            \
	"description.\n"
#define TOKEN_LIST_USAGE "       pkishare token list [-o json|yaml] [--admin-socket PATH]\n"
#define TOKEN_DELETE_USAGE                                                                         \
	"       pkishare token delete TOKEN|ID [TOKEN|ID...] [--admin-socket PATH]\n"
#define TOKEN_ABOUT                                                                                \
	"Join tokens let a node without a client certificate enroll (POST /v1/enroll).\n"          \
	"DURATION in Go's form, as kubeadm takes it: 90s, 15m, 24h, 1h30m0s, 1.5h.\n"
static const char token_usage[] =
    TOKEN_CREATE_USAGE TOKEN_LIST_USAGE TOKEN_DELETE_USAGE TOKEN_ABOUT;
static const char token_create_usage[] = TOKEN_CREATE_USAGE TOKEN_ABOUT;
static const char token_list_usage[] =
    "Usage: pkishare token list [-o json|yaml] [--admin-socket PATH]\n"
    "List the join tokens pkishared holds: id, expiry, uses left, used and description.\n";
static const char token_delete_usage[] =
    "Usage: pkishare token delete TOKEN|ID [TOKEN|ID...] [--admin-socket PATH]\n"
    "Delete join tokens now, given whole (abcdef.0123456789abcdef, as kubeadm takes them)\n"
    "or by id (the 6 characters before the dot); only the id is sent.\n";

static void token_output(json_t *j, bool yaml);

static int token_create(struct join_opts *o, bool print_cmd, int rest)
{
	if (rest != 0) {
		cli_error("token create takes no arguments");
		return EXIT_USAGE;
	}
	if (print_cmd && o->output_set) {
		cli_error("-o prints a token, not a join command; drop -o or "
			  "--print-join-command (no token was created)");
		return EXIT_USAGE;
	}
	if (print_cmd)
		return print_join(o);
	_cleanup_(secret_mem_freep) char *token = secret_mem(TOKEN_LEN + 1);
	if (!token)
		return EXIT_FAIL;
	int64_t now = time_now();
	int ex = create_token(o->sock, o->ttl, o->uses, o->description, token);
	if (ex != EXIT_OK)
		return ex;
	if (o->output == OUT_TEXT) {
		puts(token);
		return EXIT_OK;
	}
	char id[TOKEN_ID_LEN + 1] = "", at[RFC3339_LEN];
	memcpy(id, token, TOKEN_ID_LEN);
	time_format(now + o->ttl, at);
	/* The token is printed once, as without -o; jansson's copies are wiped (its
	 * allocator is secret_json's). */
	_cleanup_(json_decrefp) json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:o, s:s}", API_F_TOKEN, token, API_F_ID, id, API_F_EXPIRES_AT, at,
	    API_F_USES_LEFT, o->uses ? json_integer((json_int_t)o->uses) : json_null(),
	    API_F_DESCRIPTION, o->description ? o->description : "");
	if (!j)
		return EXIT_FAIL;
	token_output(j, o->output == OUT_YAML);
	return EXIT_OK;
}

/* The token id of an argument: a whole token (its secret is never kept or shown) or an
 * id. into id (TOKEN_ID_LEN + 1); false if it is neither. */
static bool delete_arg_id(const char *arg, char id[TOKEN_ID_LEN + 1])
{
	const char *dot = strchr(arg, '.');
	if (!dot) {
		if (!token_id_valid(arg))
			return false;
		str_copy(id, TOKEN_ID_LEN + 1, arg);
		return true;
	}
	_cleanup_(secret_mem_freep) char *secret = secret_mem(TOKEN_SECRET_LEN + 1);
	return secret && token_parse(arg, id, secret, NULL) == 0;
}

/* Every argument checked before any is deleted: a typo deletes nothing. */
static int token_delete(const struct join_opts *o, char **args, int rest)
{
	if (o->output_set) {
		cli_error("token delete takes no -o; nothing was deleted");
		return EXIT_USAGE;
	}
	if (rest < 1) {
		cli_error(
		    "token delete needs the tokens to delete, whole (abcdef.0123456789abcdef) "
		    "or by id (the 6 characters before the dot)");
		return EXIT_USAGE;
	}
	_cleanup_(freep) char(*ids)[TOKEN_ID_LEN + 1] = calloc((size_t)rest, sizeof(*ids));
	if (!ids)
		return EXIT_FAIL;
	for (int i = 0; i < rest; i++)
		if (!delete_arg_id(args[i], ids[i])) {
			/* Never echoed: it may be a whole token with a typo. */
			cli_error("argument %d of token delete is neither a token "
				  "(abcdef.0123456789abcdef) nor a token id (6 characters of a-z "
				  "and 0-9); nothing was deleted",
				  i + 1);
			return EXIT_USAGE;
		}
	for (int i = 0; i < rest; i++) {
		char path[64];
		snprintf(path, sizeof(path), API_ROUTE_TOKENS "/%s", ids[i]);
		_cleanup_(http_response_done) struct http_response resp = {0};
		int r = net_unix_request(o->sock, "DELETE", path, NULL, &resp);
		if (r < 0)
			return admin_unreachable(o->sock, r);
		if (resp.status != 200) {
			int ex = report("token delete", &resp);
			fprintf(stderr, "pkishare: token %s was not deleted%s\n", ids[i],
				i + 1 < rest ? ", nor the tokens after it" : "");
			return ex;
		}
		printf("[token] Deleted token %s\n", ids[i]);
	}
	return EXIT_OK;
}

/* A JSON value as YAML, block style (kubeadm's -o yaml): objects and arrays of scalars
 * or objects; strings double-quoted as JSON quotes them (valid YAML). */
static void yaml_print(json_t *v, int indent, bool in_list)
{
	const char *key;
	json_t *e;
	size_t i;
	bool first = true;
	if (json_is_array(v)) {
		if (json_array_size(v) == 0)
			puts("[]");
		json_array_foreach (v, i, e) {
			printf("%*s- ", indent, "");
			yaml_print(e, indent + 2, true);
		}
		return;
	}
	if (json_is_object(v)) {
		json_object_foreach (v, key, e) {
			printf("%*s%s:", (in_list && first) ? 0 : indent, "", key);
			first = false;
			if (json_is_object(e) || json_is_array(e)) {
				putchar('\n');
				yaml_print(e, indent + 2, false);
			} else {
				putchar(' ');
				yaml_print(e, 0, false);
			}
		}
		return;
	}
	char *text = json_dumps(v, JSON_ENCODE_ANY);
	puts(text ? text : "null");
	secret_json_free(text);
}

/* -o json or -o yaml. */
static void token_output(json_t *j, bool yaml)
{
	if (yaml) {
		yaml_print(j, 0, false);
		return;
	}
	char *text = json_dumps(j, JSON_INDENT(2));
	if (text)
		puts(text);
	secret_json_free(text);
}

/* A token's description for the table: kubeadm's <none> for a token without one (or from
 * an older daemon). */
#define LIST_DESCRIPTION_WIDTH 40 /* longer ones are cut in the table (-o json has them whole) */
static const char *list_description(json_t *t, char buf[LIST_DESCRIPTION_WIDTH + 1])
{
	const char *d = json_string_value(json_object_get(t, API_F_DESCRIPTION));
	if (!d || !d[0])
		return "<none>";
	if (strlen(d) <= LIST_DESCRIPTION_WIDTH)
		return d;
	snprintf(buf, LIST_DESCRIPTION_WIDTH + 1, "%.*s...", LIST_DESCRIPTION_WIDTH - 3, d);
	return buf;
}

/* TOKEN EXPIRES DESCRIPTION USES-LEFT USED: the description after the expiry, as kubeadm
 * token list has it after its own, padded to the longest (at most
 * LIST_DESCRIPTION_WIDTH, a longer one cut with "...") so that the counts stay aligned at
 * the end of the line. */
static void token_list_print(const struct secret *body)
{
	_cleanup_(json_decrefp) json_t *l =
	    json_loadb((const char *)body->data, body->len, 0, NULL);
	size_t i;
	json_t *t;
	char cut[LIST_DESCRIPTION_WIDTH + 1];
	int width = (int)strlen("DESCRIPTION");
	json_array_foreach (l, i, t) {
		int w = (int)strlen(list_description(t, cut));
		width = w > width ? w : width;
	}
	/* Three spaces after the description, so that "DESCRIPTION" and "USES LEFT" (a
	 * header of two words) do not read as one run of words. */
	printf("%-8s %-22s %-*s   %-10s %s\n", "TOKEN", "EXPIRES", width, "DESCRIPTION",
	       "USES LEFT", "USED");
	json_array_foreach (l, i, t) {
		json_t *left = json_object_get(t, API_F_USES_LEFT);
		char lb[24] = "unlimited"; /* null; 0 from a daemon older than this client */
		if (json_integer_value(left))
			snprintf(lb, sizeof(lb), "%lld", (long long)json_integer_value(left));
		printf("%-8s %-22s %-*s   %-10s %lld\n",
		       json_string_value(json_object_get(t, API_F_ID)),
		       json_string_value(json_object_get(t, API_F_EXPIRES_AT)), width,
		       list_description(t, cut), lb,
		       (long long)json_integer_value(json_object_get(t, API_F_USED)));
	}
}

static int token_list(const struct join_opts *o, int rest)
{
	if (rest != 0) {
		cli_error("token list takes no arguments (only -o json|yaml)");
		return EXIT_USAGE;
	}
	_cleanup_(http_response_done) struct http_response resp = {0};
	int r = net_unix_request(o->sock, "GET", API_ROUTE_TOKENS, NULL, &resp);
	if (r < 0)
		return admin_unreachable(o->sock, r);
	if (resp.status != 200)
		return report("token list", &resp);
	if (o->output == OUT_JSON) {
		fwrite(resp.body->data, 1, resp.body->len, stdout);
	} else if (o->output == OUT_YAML) {
		_cleanup_(json_decrefp) json_t *l =
		    json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL);
		if (!l) {
			cli_error("pkishared's token list is not JSON");
			return EXIT_FAIL;
		}
		token_output(l, true);
	} else {
		token_list_print(resp.body);
	}
	return EXIT_OK;
}

int verb_token(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(token_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *sub = argv[1];
	struct join_opts o = {0};
	bool print_cmd = false;
	const char *usage = !strcmp(sub, "create")   ? token_create_usage
			    : !strcmp(sub, "list")   ? token_list_usage
			    : !strcmp(sub, "delete") ? token_delete_usage
						     : token_usage;
	int r = parse_join_opts(argc - 1, argv + 1, &o, &print_cmd, usage);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	int rest = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (!strcmp(sub, "create"))
		return token_create(&o, print_cmd, rest);
	if (!strcmp(sub, "delete"))
		return token_delete(&o, args, rest);
	if (!strcmp(sub, "list"))
		return token_list(&o, rest);
	static const char *const subs[] = {"create", "list", "delete"};
	cli_unknown_sub("token", sub, subs, ELEMENTSOF(subs));
	fputs(token_usage, stderr);
	return EXIT_USAGE;
}

int verb_print_join_command(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: " CLI_ENV_KEY "=KEY pkishare print-join-command [--server HOST:PORT]\n"
	    "                                   [--ttl DURATION] [--uses N] [--curl]\n"
	    "                                   [--certificate-key -|KEY]\n"
	    "Create a join token and print the command a joining node runs (with --curl: the\n"
	    "curl and openssl commands for a node that has only curl and pkishare decrypt).\n"
	    "The token enrolls one node (--uses 1) unless --uses says otherwise (0: no limit).\n"
	    "The printed commands carry the key and the token in the environment and on\n"
	    "standard input, never as an argument another local user could read.\n";
	struct join_opts o = {0};
	bool dummy = false;
	int r = parse_join_opts(argc, argv, &o, &dummy, usage);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	return print_join(&o);
}
