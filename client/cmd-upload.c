/* cmd-upload.c - the first node's verbs: certificate-key, upload-certs, delete-certs,
 * status. Sealing happens here, in the client: pkishared never sees the key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "cli.h"
#include "error.h"
#include "key.h"
#include "kubeconf.h"
#include "nodecerts.h"
#include "pkidir.h"
#include "util.h"

int verb_certificate_key(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("Usage: pkishare certificate-key\nPrint a new random certificate key "
		     "(64 hex characters) and nothing else.");
		return EXIT_OK;
	}
	if (argc > 1) {
		cli_error("certificate-key takes no arguments");
		return EXIT_USAGE;
	}
	_cleanup_(secret_mem_freep) uint8_t *key = secret_mem(KEY_BYTES);
	_cleanup_(secret_mem_freep) char *hex = secret_mem(KEY_HEX_LEN + 1);
	if (!key || !hex)
		return EXIT_FAIL;
	key_generate(key);
	key_format(key, hex);
	puts(hex);
	return EXIT_OK;
}

/* Say what the admin API answered, as one line with what to do. */
static int report_admin_error(const char *what, const struct http_response *resp)
{
	char reason[64] = "", msg[512] = "";
	if (api_error_parse(resp->body, reason, sizeof(reason), msg, sizeof(msg)))
		cli_error("%s refused (%s): %s", what, reason, msg);
	else
		cli_error("%s failed: pkishared answered HTTP %d", what, resp->status);
	if (resp->status == 404 && api_reason_parse(reason) == API_R_NOT_FOUND)
		return EXIT_NOT_FOUND;
	if (resp->status == 403)
		return EXIT_FORBIDDEN;
	return EXIT_FAIL;
}

/* The daemon's default and maximum TTL, from its status. */
static int daemon_ttls(const char *sock, int64_t *ret_default, int64_t *ret_max)
{
	struct http_response resp = {0};
	int r = admin_request(sock, "GET", API_ROUTE_STATUS, NULL, &resp);
	if (r < 0)
		return r;
	json_t *j = resp.status == 200
			? json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL)
			: NULL;
	json_t *d = json_object_get(j, "defaultTtlSeconds"),
	       *m = json_object_get(j, "maxTtlSeconds");
	if (json_is_integer(d) && json_is_integer(m)) {
		*ret_default = json_integer_value(d);
		*ret_max = json_integer_value(m);
	}
	json_decref(j);
	http_response_done(&resp);
	return 0;
}

/* kubeadm's own warning for a field it does not know, on stderr. */
static void config_warn(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, "[upload-certs] WARNING: %s\n", msg);
}

static void upload_usage(FILE *f)
{
	fputs("Usage: pkishare upload-certs [--pki-dir DIR] [--ttl DURATION] [--max-fetches N]\n"
	      "                             [--certificate-key KEY|-] "
	      "[--skip-certificate-key-print]\n"
	      "                             [--admin-socket PATH] [--config KUBEADM-CONFIG]\n"
	      "                             [--external-etcd-ca F --external-etcd-cert F\n"
	      "                              --external-etcd-key F] [--drop-external-etcd]\n"
	      "                             [cluster profile flags]\n"
	      "Seal the shared PKI under a fresh certificate key and hand it to pkishared.\n"
	      "The cluster's node-certificate profile (what every joining node puts in its own\n"
	      "certificates) travels sealed with it: --config takes it from kubeadm's\n"
	      "configuration (the YAML of kubeadm init --config, or 'kubectl -n kube-system get\n"
	      "cm kubeadm-config -o json'); these flags set or override its "
	      "fields:\n" NODECERTS_PROFILE_USAGE,
	      f);
}

int verb_upload_certs(int argc, char **argv)
{
	enum {
		O_PKI = 256,
		O_TTL,
		O_MAXF,
		O_KEY,
		O_SKIP,
		O_SOCK,
		O_DROP,
		O_EXT0,
		O_EXT1,
		O_EXT2,
		O_CONFIG
	};
	static const struct option opts[] = {
	    {"pki-dir", required_argument, NULL, O_PKI},
	    {"ttl", required_argument, NULL, O_TTL},
	    {"max-fetches", required_argument, NULL, O_MAXF},
	    {"certificate-key", required_argument, NULL, O_KEY},
	    {"skip-certificate-key-print", no_argument, NULL, O_SKIP},
	    {"admin-socket", required_argument, NULL, O_SOCK},
	    {"upload-certs", no_argument, NULL, 'u'}, /* kubeadm habit; always true here */
	    EXT_ETCD_LONG_OPTIONS(O_EXT0),
	    {"drop-external-etcd", no_argument, NULL, O_DROP},
	    {"config", required_argument, NULL, O_CONFIG},
	    NODECERTS_PROFILE_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *pki_dir = DEFAULT_PKI_DIR, *sock_opt = NULL, *config = NULL;
	struct profile flags = {0}, prof = {0};
	unsigned given = 0;
	char detail[DETAIL_MAX] = "";
	char *key_arg = NULL;
	int64_t ttl = 0, def_ttl = 2 * 3600, max_ttl = 24 * 3600;
	uint64_t max_fetches = 0;
	bool skip_print = false, drop_external = false;
	const char *ext_paths[3] = {0};
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_PKI:
			pki_dir = optarg;
			break;
		case O_TTL:
			if (duration_parse(optarg, &ttl) < 0) {
				cli_error("invalid --ttl '%s': %s", optarg,
					  error_message(-PKS_E_DURATION));
				return EXIT_USAGE;
			}
			break;
		case O_MAXF:
			if (uint_parse(optarg, API_MAX_FETCHES, &max_fetches) < 0) {
				cli_error(
				    "--max-fetches must be a whole number from 0 (no limit) to "
				    "%d",
				    API_MAX_FETCHES);
				return EXIT_USAGE;
			}
			break;
		case O_KEY:
			key_arg = optarg;
			break;
		case O_SKIP:
			skip_print = true;
			break;
		case O_SOCK:
			sock_opt = optarg;
			break;
		case 'u':
			break;
		case O_EXT0:
		case O_EXT1:
		case O_EXT2:
			ext_paths[c - O_EXT0] = optarg;
			break;
		case O_DROP:
			drop_external = true;
			break;
		case O_CONFIG:
			config = optarg;
			break;
		case 'h':
			upload_usage(stdout);
			return EXIT_OK;
		default: {
			int t = nodecerts_profile_option(&flags, c, optarg, &given);
			if (t > 0)
				break;
			if (t == 0)
				upload_usage(stderr);
			return EXIT_USAGE;
		}
		}
	}
	/* The cluster's node-certificate profile: kubeadm's configuration, then flags. */
	if (config && (r = kubeconf_read_warn(config, &prof, detail, config_warn, NULL)) < 0) {
		cli_error("cannot use --config: %s; nothing was uploaded", detail);
		return r == -ENOENT || r == -EACCES ? EXIT_FAIL : EXIT_USAGE;
	}
	struct nodecerts_opts merge = {.prof = prof};
	nodecerts_take_profile(&merge, &flags, "upload-certs");
	prof = merge.prof;
	/* Every joiner makes its node certificates from this profile: a value none of them
	 * could use is refused here, before it is sealed, not on each node after its fetch. */
	if (nodecerts_profile_check(&prof, detail, DETAIL_MAX) < 0) {
		cli_error("the cluster profile cannot make node certificates: %s; fix it in the "
			  "configuration or the flag and upload again; nothing was uploaded",
			  detail);
		return EXIT_USAGE;
	}
	for (int i = 0; i < 3; i++) { /* external etcd files: flags, else the configuration */
		const char *from_config[3] = {prof.external_ca, prof.external_cert,
					      prof.external_key};
		if (!ext_paths[i] && from_config[i][0])
			ext_paths[i] = from_config[i];
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	const char *sock = cli_admin_socket(sock_opt);
	_cleanup_(secret_mem_freep) uint8_t *key = secret_mem(KEY_BYTES);
	_cleanup_(secret_mem_freep) char *hex = secret_mem(KEY_HEX_LEN + 1);
	if (!key || !hex)
		return EXIT_FAIL;
	if (key_arg) {
		r = cli_take_key(key_arg, key);
		if (r != EXIT_OK)
			return r;
	} else {
		key_generate(key);
	}

	struct pki_set plain = {0};
	char missing[DETAIL_MAX] = "";
	r = pkidir_read(pki_dir, &plain, missing, detail);
	if (r < 0) {
		cli_error("cannot read the PKI in %s: %s (%s); nothing was uploaded", pki_dir,
			  error_message(r), detail);
		return EXIT_FAIL;
	}
	int n_ext = (ext_paths[0] != NULL) + (ext_paths[1] != NULL) + (ext_paths[2] != NULL);
	if (n_ext != 0 && n_ext != 3) {
		pki_set_clear(&plain);
		cli_error(
		    "external etcd needs all three of --external-etcd-ca, --external-etcd-cert "
		    "and --external-etcd-key");
		return EXIT_USAGE;
	}
	for (int i = 0; i < n_ext; i++) {
		const char *const *names = ext_etcd_names;
		struct secret *data = NULL;
		r = secret_read_file(ext_paths[i], PKI_FILE_MAX_BYTES, &data);
		if (r >= 0)
			r = pki_set_add(&plain, names[i], pki_known_lookup(names[i])->mode, data);
		if (r < 0) {
			cli_error("cannot read %s: %s; nothing was uploaded", ext_paths[i],
				  error_message(r));
			pki_set_clear(&plain);
			return EXIT_FAIL;
		}
	}
	if (missing[0] && !n_ext)
		fprintf(stderr,
			"[upload-certs] Note: %s not found in %s: not shared (external etcd?)\n",
			missing, pki_dir);

	r = daemon_ttls(sock, &def_ttl, &max_ttl);
	if (r < 0) {
		pki_set_clear(&plain);
		return cli_admin_unreachable(sock, r);
	}
	if (ttl == 0)
		ttl = def_ttl;
	if (ttl > max_ttl) {
		char a[32], b[32];
		duration_format(ttl, a, sizeof(a));
		duration_format(max_ttl, b, sizeof(b));
		cli_error(
		    "--ttl %s is longer than pkishared's --max-ttl %s; choose a shorter --ttl "
		    "(nothing was uploaded)",
		    a, b);
		pki_set_clear(&plain);
		return EXIT_USAGE;
	}
	int64_t now = time_now();
	_cleanup_(secret_freep) struct secret *json = NULL;
	char id[BUNDLE_ID_HEX_LEN + 1];
	r = bundle_seal(&plain, key, NULL, now, now + ttl, &prof, &json, id);
	pki_set_clear(&plain);
	if (r < 0) {
		cli_error("cannot seal the PKI: %s", error_message(r));
		return EXIT_FAIL;
	}
	char path[64];
	snprintf(path, sizeof(path), "/v1/bundle?maxFetches=%llu%s",
		 (unsigned long long)max_fetches, drop_external ? "&dropExternalEtcd=true" : "");
	struct http_response resp = {0};
	r = admin_request(sock, "PUT", path, json, &resp);
	if (r < 0)
		return cli_admin_unreachable(sock, r);
	if (resp.status != 201) {
		int ex = report_admin_error("upload", &resp);
		http_response_done(&resp);
		return ex;
	}
	http_response_done(&resp);

	char until[RFC3339_LEN], kid[KEY_ID_HEX_LEN + 1], ttl_txt[32];
	time_format(now + ttl, until);
	key_id(key, kid);
	duration_format(ttl, ttl_txt, sizeof(ttl_txt));
	printf("[upload-certs] Storing the certificates in pkishared (bundle %s, key id %s)\n", id,
	       kid);
	printf("[upload-certs] The bundle is wiped after %s (at %s)%s\n", ttl_txt, until,
	       max_fetches ? " or after the allowed number of fetches" : "");
	if (profile_is_set(&prof)) {
		char desc[2048];
		profile_describe(&prof, desc, sizeof(desc));
		printf("[upload-certs] Cluster profile for joining nodes' certificates: %s\n",
		       desc);
	}
	if (!skip_print) {
		key_format(key, hex);
		printf("[upload-certs] Using certificate key:\n%s\n", hex);
	}
	return EXIT_OK;
}

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
	*ret_sock = cli_admin_socket(sock_opt);
	return 1;
}

/* A request without a body on the admin socket: the ok line on 200, else the refusal. */
static int admin_call(const char *sock, const char *method, const char *path, const char *what,
		      const char *ok_line)
{
	struct http_response resp = {0};
	int r = admin_request(sock, method, path, NULL, &resp);
	if (r < 0)
		return cli_admin_unreachable(sock, r);
	int ex = EXIT_OK;
	if (resp.status != 200)
		ex = report_admin_error(what, &resp);
	else
		puts(ok_line);
	http_response_done(&resp);
	return ex;
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
			  "[reload] pkishared took the new configuration and TLS files; the held "
			  "bundle was kept");
}

int verb_status(int argc, char **argv)
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
			if (strcmp(optarg, "json") != 0) {
				cli_error("-o supports only json");
				return EXIT_USAGE;
			}
			as_json = true;
		} else if (c == 'h') {
			puts("Usage: pkishare status [-o json] [--admin-socket PATH]\n"
			     "Show what pkishared holds (ids and times, never a secret).");
			return EXIT_OK;
		} else {
			return EXIT_USAGE;
		}
	}
	const char *sock = cli_admin_socket(sock_opt);
	struct http_response resp = {0};
	int r = admin_request(sock, "GET", API_ROUTE_STATUS, NULL, &resp);
	if (r < 0)
		return cli_admin_unreachable(sock, r);
	if (resp.status != 200) {
		int ex = report_admin_error("status", &resp);
		http_response_done(&resp);
		return ex;
	}
	if (as_json) {
		fwrite(resp.body->data, 1, resp.body->len, stdout);
		http_response_done(&resp);
		return EXIT_OK;
	}
	json_t *j = json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL);
	http_response_done(&resp);
	if (!j) {
		cli_error("pkishared's status is not JSON");
		return EXIT_FAIL;
	}
	json_t *b = json_object_get(j, "bundle"), *prev = json_object_get(j, "previous");
	printf("pkishared %s listening on %s\n", json_string_value(json_object_get(j, "version")),
	       json_string_value(json_object_get(j, "listen")));
	/* What a joining node passes as --ca-cert-hash (kubeadm's discovery pin). */
	const char *pin = json_string_value(json_object_get(j, "caCertHash"));
	printf("CA pin:     %s\n",
	       pin ? pin : "none (the serving chain has no CA; see 'pkishare pki serving-cert')");
	if (json_is_object(b)) {
		json_int_t mf = json_integer_value(json_object_get(b, "maxFetches"));
		char limit[32] = "no limit";
		if (mf)
			snprintf(limit, sizeof(limit), "of %lld", (long long)mf);
		printf("bundle:     %s\nkey id:     %s\ncreated:    %s\nexpires:    %s (in %llds)\n"
		       "fetches:    %lld (%s)\n",
		       json_string_value(json_object_get(b, "id")),
		       json_string_value(json_object_get(b, "keyId")),
		       json_string_value(json_object_get(b, "createdAt")),
		       json_string_value(json_object_get(b, "expiresAt")),
		       (long long)json_integer_value(json_object_get(b, "expiresInSeconds")),
		       (long long)json_integer_value(json_object_get(b, "fetches")), limit);
		json_t *pj = json_object_get(b, "profile");
		struct profile *prof = json_is_object(pj) ? calloc(1, sizeof(*prof)) : NULL;
		if (prof && profile_from_json(pj, prof, NULL) == 0) {
			char desc[2048];
			profile_describe(prof, desc, sizeof(desc));
			printf("profile:    %s\n", desc);
		}
		free(prof);
		json_t *log = json_object_get(b, "fetchLog"), *f;
		size_t i;
		/* The source, always: an enrolled node chose its own name, so "node-2"
		 * alone could be the operator's node-2 or a token holder's. */
		json_array_foreach (log, i, f)
			printf("  fetch %zu:  %s by %s (%s) from %s\n", i + 1,
			       json_string_value(json_object_get(f, "at")),
			       json_string_value(json_object_get(f, "client")),
			       json_string_value(json_object_get(f, "clientSource")),
			       json_string_value(json_object_get(f, "peer")));
	} else {
		printf("bundle:     none\n");
	}
	json_t *tokens = json_object_get(j, "tokens"), *t;
	size_t ti;
	json_array_foreach (tokens, ti, t)
		printf("token:      %s until %s (used %lld)\n",
		       json_string_value(json_object_get(t, "id")),
		       json_string_value(json_object_get(t, "expiresAt")),
		       (long long)json_integer_value(json_object_get(t, "used")));
	if (json_is_object(prev))
		printf("previous:   %s, %s at %s\n", json_string_value(json_object_get(prev, "id")),
		       json_string_value(json_object_get(prev, "reason")),
		       json_string_value(json_object_get(prev, "at")));
	json_t *st = json_object_get(j, "state");
	if (json_is_true(json_object_get(st, "kept")))
		printf("state:      kept in systemd's store (%s) since %s, %lld restart(s) "
		       "survived\n",
		       json_string_value(json_object_get(st, "memory")),
		       json_string_value(json_object_get(st, "heldSince")),
		       (long long)json_integer_value(json_object_get(st, "restores")));
	else if (json_is_object(st))
		printf("state:      not kept across restarts (%s)\n",
		       json_string_value(json_object_get(st, "note")));
	const char *note = json_string_value(json_object_get(st, "note"));
	const char *refused = json_string_value(json_object_get(st, "refused"));
	bool restored = json_integer_value(json_object_get(st, "restores")) > 0;
	/* Kept, but with something to say (a limit that could not be learnt, ...). */
	if (json_is_true(json_object_get(st, "kept")) && note && note[0] &&
	    !(refused && refused[0]))
		printf("note:       %s\n", note);
	if (refused && refused[0])
		printf(restored ? "refused:    part of the previous state: %s\n"
				: "refused:    the previous state (%s); started empty\n",
		       refused);
	json_t *keys = json_object_get(j, "keyIds");
	if (json_is_object(keys))
		printf("key ids:    %lld used (of %lld remembered; a full history refuses "
		       "uploads)\n",
		       (long long)json_integer_value(json_object_get(keys, "used")),
		       (long long)json_integer_value(json_object_get(keys, "max")));
	json_decref(j);
	return EXIT_OK;
}
