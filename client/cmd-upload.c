/* cmd-upload.c - the first node's verbs that make and hand over a bundle: certificate-key
 * and upload-certs. Sealing happens here, in the client: pkishared never sees the key. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "bundle.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "key.h"
#include "kubeconf.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "profile.h"
#include "util.h"
#include "x509.h"

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

/* kubeadm's own warning for a field it does not know, on stderr. */
static void config_warn(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, "[upload-certs] WARNING: %s\n", msg);
}

static void upload_usage(FILE *f)
{
	fputs("Usage: pkishare upload-certs [--pki-dir DIR] [--ttl DURATION] [--max-fetches N]\n"
	      "                             [--certificate-key -|KEY] "
	      "[--skip-certificate-key-print]\n"
	      "                             [--admin-socket PATH] [--config KUBEADM-CONFIG]\n"
	      "                             [--external-etcd-ca F --external-etcd-cert F\n"
	      "                              --external-etcd-key F] [--drop-external-etcd]\n"
	      "                             [--no-etcd-ca] [--no-profile]\n"
	      "                             [--replicas N [--replicas-timeout DURATION]]\n"
	      "                             [cluster profile flags]\n"
	      "Seal the shared PKI under a fresh certificate key and hand it to pkishared\n"
	      "(a key of your own: in " CLI_ENV_KEY " or on standard input with\n"
	      "--certificate-key -, which keep it out of the process list).\n"
	      "The cluster's node-certificate profile (what every joining node puts in its own\n"
	      "certificates) travels sealed with it: --config takes it from kubeadm's\n"
	      "configuration (the YAML of kubeadm init --config, or 'kubectl -n kube-system get\n"
	      "cm kubeadm-config -o json'); these flags set or override its "
	      "fields:\n" NODECERTS_PROFILE_USAGE
	      "--no-profile drops the profile the held bundle carries (without --config, and\n"
	      "without one kept in --pki-dir, upload-certs refuses to drop it silently).\n"
	      "--no-etcd-ca uploads a PKI without etcd/ca.crt and ca.key (external etcd not\n"
	      "described by --config): joiners then make no stacked-etcd certificates.\n"
	      "--replicas N (coordination on: pkishared coord-socket) waits until N\n"
	      "control-plane nodes hold the bundle (each copies it from a holder) and names\n"
	      "them; after --replicas-timeout (default 60s) it says which hold it and fails.\n",
	      f);
}

enum {
	UO_PKI = 256,
	UO_TTL,
	UO_MAXF,
	UO_KEY,
	UO_SKIP,
	UO_SOCK,
	UO_DROP,
	UO_EXT0,
	UO_EXT1,
	UO_EXT2,
	UO_CONFIG,
	UO_NO_PROFILE,
	UO_NO_ETCD_CA,
	UO_REPLICAS,
	UO_REPLICAS_TIMEOUT,
};

/* upload-certs as its command line says. */
struct upload_opts {
	const char *pki_dir, *sock_opt, *config;
	const char *extra; /* the first argument that is not an option */
	char *key_arg;
	int64_t ttl; /* 0: the daemon's default */
	uint64_t max_fetches;
	bool skip_print, drop_external, no_profile, no_etcd_ca;
	bool kept;		  /* the profile is the one a join kept in --pki-dir */
	uint64_t replicas;	  /* --replicas: wait until that many nodes hold it (0: no) */
	int64_t replicas_timeout; /* seconds */
	const char *ext_paths[EXT_ETCD_COUNT];
	struct profile flags; /* the profile fields the flags set */
	unsigned given;
	struct profile prof; /* what is sealed: the configuration's, then the flags' */
};

/* One option: >0 taken, 0 after --help, <0 a usage error (said). A switch over the
 * options reads best whole. */
static int upload_option(struct upload_opts *o, int c, char *arg)
{
	switch (c) {
	case UO_PKI:
		o->pki_dir = arg;
		return 1;
	case UO_TTL:
		if (duration_parse(arg, &o->ttl) < 0) {
			cli_error("invalid --ttl '%s': %s", arg, error_message(-PKS_E_DURATION));
			return -EINVAL;
		}
		return 1;
	case UO_MAXF:
		if (uint_parse(arg, API_MAX_FETCHES, &o->max_fetches) < 0) {
			cli_error("--max-fetches must be a whole number from 0 (no limit) to %d",
				  API_MAX_FETCHES);
			return -EINVAL;
		}
		return 1;
	case UO_KEY:
		o->key_arg = arg;
		return 1;
	case UO_SKIP:
		o->skip_print = true;
		return 1;
	case UO_SOCK:
		o->sock_opt = arg;
		return 1;
	case 'u':
		return 1;
	case UO_EXT0:
	case UO_EXT1:
	case UO_EXT2:
		o->ext_paths[c - UO_EXT0] = arg;
		return 1;
	case UO_DROP:
		o->drop_external = true;
		return 1;
	case UO_CONFIG:
		o->config = arg;
		return 1;
	case UO_NO_PROFILE:
		o->no_profile = true;
		return 1;
	case UO_NO_ETCD_CA:
		o->no_etcd_ca = true;
		return 1;
	case UO_REPLICAS:
		if (uint_parse(arg, API_REPLICAS_MAX, &o->replicas) < 0 || o->replicas == 0) {
			cli_error("--replicas must be a whole number from 1 to %d",
				  API_REPLICAS_MAX);
			return -EINVAL;
		}
		return 1;
	case UO_REPLICAS_TIMEOUT:
		if (duration_parse(arg, &o->replicas_timeout) < 0 || o->replicas_timeout <= 0) {
			cli_error("invalid --replicas-timeout '%s': %s", arg,
				  error_message(-PKS_E_DURATION));
			return -EINVAL;
		}
		return 1;
	case 'h':
		upload_usage(stdout);
		return 0;
	default: {
		int t = nodecerts_profile_option(&o->flags, c, arg, &o->given);
		if (t > 0)
			return 1;
		if (t == 0)
			upload_usage(stderr);
		return -EINVAL;
	}
	}
}

/* >0 go on, 0 after --help, <0 a usage error (said). */
static int upload_parse(int argc, char **argv, struct upload_opts *o)
{
	static const struct option opts[] = {
	    {"pki-dir", required_argument, NULL, UO_PKI},
	    {"ttl", required_argument, NULL, UO_TTL},
	    {"max-fetches", required_argument, NULL, UO_MAXF},
	    {"certificate-key", required_argument, NULL, UO_KEY},
	    {"skip-certificate-key-print", no_argument, NULL, UO_SKIP},
	    {"admin-socket", required_argument, NULL, UO_SOCK},
	    {"upload-certs", no_argument, NULL, 'u'}, /* kubeadm habit; always true here */
	    EXT_ETCD_LONG_OPTIONS(UO_EXT0),
	    {"drop-external-etcd", no_argument, NULL, UO_DROP},
	    {"config", required_argument, NULL, UO_CONFIG},
	    {"no-profile", no_argument, NULL, UO_NO_PROFILE},
	    {"no-etcd-ca", no_argument, NULL, UO_NO_ETCD_CA},
	    {"replicas", required_argument, NULL, UO_REPLICAS},
	    {"replicas-timeout", required_argument, NULL, UO_REPLICAS_TIMEOUT},
	    NODECERTS_PROFILE_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		if ((r = upload_option(o, c, optarg)) <= 0)
			return r;
	o->extra = optind < argc ? argv[optind] : NULL;
	return 1;
}

/* Without --config, the profile a join or decrypt kept in --pki-dir (PROFILE_FILE_NAME):
 * on a joined node taking over from the first one (README: "If the first node is down"),
 * the next joiners must get the cluster's endpoint and certSANs as the first upload gave
 * them. Said either way; with --config, the configuration wins (said when a kept one is
 * there too). An exit status. */
static int upload_kept_profile(struct upload_opts *o)
{
	char detail[DETAIL_MAX] = "";
	struct profile kept = {0};
	int r = profile_load(o->pki_dir, &kept, detail);
	bool have = r == 0 && profile_is_set(&kept);
	if (o->config) {
		if (have || (r < 0 && r != -ENOENT))
			printf("[upload-certs] Cluster profile: from --config %s (it wins over "
			       "%s/%s, kept by a join)\n",
			       o->config, o->pki_dir, PROFILE_FILE_NAME);
		return EXIT_OK;
	}
	if (r == -ENOENT || (r == 0 && !have))
		return EXIT_OK;
	if (r < 0) {
		cli_error("cannot use the cluster profile %s/%s (kept by a join): %s%s%s; nothing "
			  "was uploaded: fix or remove it, or give the profile with --config "
			  "kubeadm.yaml",
			  o->pki_dir, PROFILE_FILE_NAME,
			  r == -PKS_E_FOREIGN ? "owned by another user or writable by group or "
						"others, so someone else could choose the joiners' "
						"SANs"
			  : r == -PKS_E_BUNDLE_FORMAT ? "it is not a cluster profile"
						      : error_message(r),
			  detail[0] ? ": " : "", detail);
		return EXIT_FAIL;
	}
	printf("[upload-certs] Cluster profile: from %s/%s (kept by the join)\n", o->pki_dir,
	       PROFILE_FILE_NAME);
	o->prof = kept;
	o->kept = true;
	return EXIT_OK;
}

/* The cluster's node-certificate profile: kubeadm's configuration (else the one a join
 * kept in --pki-dir), then flags; and the external etcd files: flags, else the
 * configuration. An exit status. */
static int upload_profile(struct upload_opts *o)
{
	char detail[DETAIL_MAX] = "";
	int r;
	if (o->config &&
	    (r = kubeconf_read_warn(o->config, &o->prof, detail, config_warn, NULL)) < 0) {
		cli_error("cannot use --config: %s; nothing was uploaded", detail);
		return r == -ENOENT || r == -EACCES ? EXIT_FAIL : EXIT_USAGE;
	}
	int ex = upload_kept_profile(o);
	if (ex != EXIT_OK)
		return ex;
	struct nodecerts_opts merge = {.prof = o->prof};
	nodecerts_take_profile(&merge, &o->flags, "upload-certs");
	o->prof = merge.prof;
	/* Every joiner makes its node certificates from this profile: a value none of them
	 * could use is refused here, before it is sealed, not on each node after its fetch. */
	if (nodecerts_profile_check(&o->prof, detail, DETAIL_MAX) < 0) {
		cli_error("the cluster profile cannot make node certificates: %s; fix it in the "
			  "configuration or the flag and upload again; nothing was uploaded",
			  detail);
		return EXIT_USAGE;
	}
	const char *from_config[EXT_ETCD_COUNT] = {o->prof.external_ca, o->prof.external_cert,
						   o->prof.external_key};
	static const char *const fields[EXT_ETCD_COUNT] = {"caFile", "certFile", "keyFile"};
	/* Every joiner installs the files at these paths: two that are one file (kubeadm
	 * takes a combined certificate and key PEM) would be written one over the other, the
	 * key with a certificate's mode. */
	for (int i = 0; i < EXT_ETCD_COUNT; i++)
		for (int j = 0; j < i; j++)
			if (from_config[i][0] && from_config[j][0] &&
			    pkidir_path_same(from_config[i], from_config[j])) {
				cli_error("etcd.external %s %s and %s %s name the same file (a "
					  "combined PEM?): each joining node installs them as "
					  "separate files, and the private key must not get a "
					  "certificate's mode; give etcd a certificate file and a "
					  "key file of their own; nothing was uploaded",
					  fields[j], from_config[j], fields[i], from_config[i]);
				return EXIT_USAGE;
			}
	for (int i = 0; i < EXT_ETCD_COUNT; i++)
		if (!o->ext_paths[i] && from_config[i][0])
			o->ext_paths[i] = from_config[i];
	return EXIT_OK;
}

/* The certificate key: --certificate-key's or PKISHARE_CERTIFICATE_KEY's (said, since a
 * variable left over from a join would otherwise pass unnoticed), else a new one, unless
 * its print is skipped: a fresh key nobody is shown would seal a bundle nobody can open,
 * and the upload would replace the bundle the joiners' key opens. An exit status. */
static int upload_key(char *key_arg, bool skip_print, uint8_t *key)
{
	bool given = false;
	int ex = cli_key_take(key_arg, key, &given);
	if (ex != EXIT_OK)
		return ex;
	if (!given && skip_print) {
		cli_error(
		    "--skip-certificate-key-print without a key of your own would seal the "
		    "bundle under a fresh key nobody is shown, and replace the held bundle "
		    "with one nobody can open; pass the key you will give joiners (a fresh one: "
		    "'pkishare certificate-key' makes it; in " CLI_ENV_KEY
		    " or with --certificate-key -), or drop --skip-certificate-key-print; "
		    "nothing was uploaded");
		return EXIT_USAGE;
	}
	if (!given)
		key_generate(key);
	else if (!key_arg)
		fprintf(stderr, "pkishare: using the certificate key in " CLI_ENV_KEY
				" (unset it for a fresh key)\n");
	return EXIT_OK;
}

/* The shared PKI, and the external etcd files if given, into plain. An exit status. */
static int upload_read(const struct upload_opts *o, struct pki_set *plain)
{
	char missing[DETAIL_MAX] = "", detail[DETAIL_MAX] = "";
	int r = pkidir_read(o->pki_dir, plain, missing, detail);
	if (r < 0) {
		/* kubeadm's /etc/kubernetes for its /etc/kubernetes/pki: say the one that is. */
		char below[PATH_MAX];
		bool parent = r == -PKS_E_MISSING &&
			      !str_format(below, sizeof(below), "%s/pki/ca.crt", o->pki_dir) &&
			      access(below, F_OK) == 0;
		cli_error("cannot read the PKI in %s: %s (%s)%s%s%s; nothing was uploaded",
			  o->pki_dir, error_message(r), detail,
			  parent ? "; did you mean --pki-dir " : "", parent ? o->pki_dir : "",
			  parent ? "/pki? (its ca.crt is there)" : "");
		return EXIT_FAIL;
	}
	int n_ext = 0;
	for (int i = 0; i < EXT_ETCD_COUNT; i++)
		n_ext += o->ext_paths[i] != NULL;
	if (n_ext != 0 && n_ext != EXT_ETCD_COUNT) {
		cli_error(
		    "external etcd needs all three of --external-etcd-ca, --external-etcd-cert "
		    "and --external-etcd-key");
		return EXIT_USAGE;
	}
	for (int i = 0; i < n_ext; i++) {
		const char *name = ext_etcd_names[i];
		struct secret *data = NULL;
		unsigned mode = pki_known_lookup(name)->mode;
		r = secret_read_file(o->ext_paths[i], PKI_FILE_MAX_BYTES, &data);
		if (r >= 0 && (mode & 044) && pkidir_holds_private_key(data)) {
			secret_free(data);
			cli_error(
			    "%s holds a private key, but it is the external etcd %s, which "
			    "joining nodes install readable by every user; give etcd a "
			    "certificate file and a key file of their own; nothing was uploaded",
			    o->ext_paths[i], i == EXT_ETCD_CA ? "CA certificate" : "certificate");
			return EXIT_USAGE;
		}
		if (r >= 0)
			r = pki_set_add(plain, name, mode, data);
		if (r < 0) {
			cli_error("cannot read %s: %s; nothing was uploaded", o->ext_paths[i],
				  error_message(r));
			return EXIT_FAIL;
		}
	}
	if (missing[0] && !n_ext)
		fprintf(stderr,
			"[upload-certs] Note: %s not found in %s: not shared (external etcd?)\n",
			missing, o->pki_dir);
	return EXIT_OK;
}

/* The PKI's ca.crt is the CA of pkishared's serving chain (status: caCertHash), which every
 * join pins: another cluster's PKI uploaded to it would be installed by joiners who pinned
 * this one. Said when pkishared's chain has no CA, so cannot be compared. An exit status. */
static int upload_ca_check(const struct upload_opts *o, const json_t *st,
			   const struct pki_set *plain)
{
	const char *served = json_string_value(json_object_get(st, API_F_CA_CERT_HASH));
	const struct pki_entry *ca = pki_set_find(plain, "ca.crt");
	_cleanup_(x509_freep) X509 *cert = NULL;
	uint8_t want[PIN_BYTES], have[PIN_BYTES];
	char text[PIN_TEXT_LEN + 1], detail[DETAIL_MAX] = "";
	if (!served || pin_parse(served, want, detail) < 0) {
		fprintf(stderr,
			"[upload-certs] WARNING: pkishared's serving chain has no CA certificate, "
			"so %s/ca.crt cannot be checked against the CA joiners pin; make its "
			"serving certificate with 'pkishare pki serving-cert --pki-dir %s'\n",
			o->pki_dir, o->pki_dir);
		return EXIT_OK;
	}
	if (!ca || x509_cert_load(ca->data->data, ca->data->len, &cert) < 0 ||
	    pin_of_cert(cert, have) < 0) {
		cli_error("%s/ca.crt is not a certificate; nothing was uploaded", o->pki_dir);
		return EXIT_FAIL;
	}
	if (memcmp(have, want, PIN_BYTES) == 0)
		return EXIT_OK;
	pin_format(have, text);
	cli_error("%s/ca.crt (%s) is not the CA of pkishared's serving chain (%s, the "
		  "--ca-cert-hash joiners pin): joiners would install another cluster's PKI; "
		  "nothing was uploaded. Give --pki-dir the PKI directory of the cluster "
		  "pkishared serves for, or make pkishared's serving certificate from this PKI "
		  "('pkishare pki serving-cert --pki-dir %s', then systemctl reload pkishared)",
		  o->pki_dir, text, served, o->pki_dir);
	return EXIT_USAGE;
}

/* A re-upload without --config and without a profile kept in --pki-dir would drop the
 * profile the held bundle carries: the next joiners' API server certificates would lack
 * the cluster's endpoint and SANs. Refused unless --no-profile. An exit status. */
static int upload_profile_kept_check(const struct upload_opts *o, const json_t *st)
{
	const json_t *held = json_object_get(json_object_get(st, API_F_BUNDLE), API_F_PROFILE);
	if (o->config || o->kept || o->no_profile || o->given || !json_is_object(held) ||
	    json_object_size(held) == 0)
		return EXIT_OK;
	struct profile prof = {0};
	char text[2048] = "?";
	if (profile_from_json(held, &prof, NULL) == 0)
		profile_describe(&prof, text, sizeof(text));
	cli_error("the bundle pkishared holds carries a cluster profile (%s), and this upload "
		  "has none (no --config, no %s/%s): the next joiners' certificates would lack "
		  "it; nothing was uploaded. Pass --config kubeadm.yaml to keep it, or "
		  "--no-profile to drop it",
		  text, o->pki_dir, PROFILE_FILE_NAME);
	return EXIT_USAGE;
}

/* What must hold before anything is uploaded: every CA's key and the service-account key
 * pair (another cluster's key would make node certificates that fail to verify), the
 * cluster CA pkishared serves under, the etcd CA unless etcd is external, and the held
 * profile kept. An exit status. */
static int upload_check(const struct upload_opts *o, const char *sock, const struct pki_set *plain)
{
	char detail[DETAIL_MAX] = "";
	if (x509_set_pairs_check(plain, detail) < 0) {
		cli_error("%s in %s: the PKI cannot sign (another cluster's key, or a file "
			  "replaced); nothing was uploaded: put each CA's own key beside it",
			  detail, o->pki_dir);
		return EXIT_FAIL;
	}
	/* --drop-external-etcd says the cluster's etcd is external too. */
	bool external = o->ext_paths[EXT_ETCD_CA] || o->prof.external_ca[0] || o->drop_external;
	bool etcd_ca = pki_set_find(plain, "etcd/ca.crt") && pki_set_find(plain, "etcd/ca.key");
	if (!etcd_ca && !external && !o->no_etcd_ca) {
		cli_error("%s holds no etcd CA (etcd/ca.crt and etcd/ca.key), and the cluster "
			  "profile names no external etcd: a node joining with its certificates "
			  "(--advertise-address) needs it and would fail after its fetch; nothing "
			  "was uploaded. With external etcd, pass --config kubeadm.yaml "
			  "(etcd.external) or the --external-etcd-* files; with stacked etcd, put "
			  "etcd/ca.crt and etcd/ca.key back; to upload without it anyway, pass "
			  "--no-etcd-ca",
			  o->pki_dir);
		return EXIT_USAGE;
	}
	_cleanup_(json_decrefp) json_t *st = NULL;
	int r = admin_status(sock, &st);
	if (r < 0)
		return admin_unreachable(sock, r);
	int ex = upload_ca_check(o, st, plain);
	if (ex == EXIT_OK)
		ex = upload_profile_kept_check(o, st);
	return ex;
}

/* --ttl, else the daemon's default, within the daemon's --max-ttl. An exit status. */
static int upload_ttl(const struct upload_opts *o, const char *sock, int64_t *ret_ttl)
{
	int64_t ttl = o->ttl, def_ttl = 2 * 3600, max_ttl = 24 * 3600;
	int r = admin_ttls(sock, &def_ttl, &max_ttl);
	if (r < 0)
		return admin_unreachable(sock, r);
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
		return EXIT_USAGE;
	}
	*ret_ttl = ttl;
	return EXIT_OK;
}

/* A sealed bundle and its times. */
struct upload_bundle {
	struct secret *json;
	char id[BUNDLE_ID_HEX_LEN + 1];
	int64_t now, ttl;
};

static void upload_bundle_done(struct upload_bundle *b)
{
	b->json = secret_free(b->json);
}

/* The bundle: the PKI read, its lifetime agreed with the daemon, sealed under key (the
 * plaintext lives only in here). An exit status. */
static int upload_seal(const struct upload_opts *o, const char *sock, const uint8_t *key,
		       struct upload_bundle *ret)
{
	_cleanup_(pki_set_clearp) struct pki_set plain = {0};
	int64_t ttl = 0;
	int ex = upload_read(o, &plain);
	if (ex == EXIT_OK)
		ex = upload_check(o, sock, &plain);
	if (ex == EXIT_OK)
		ex = upload_ttl(o, sock, &ttl);
	if (ex != EXIT_OK)
		return ex;
	int64_t now = time_now();
	int r = bundle_seal(&plain, key, NULL, now, now + ttl, &o->prof, &ret->json, ret->id);
	if (r < 0) {
		cli_error("cannot seal the PKI: %s", error_message(r));
		return EXIT_FAIL;
	}
	ret->now = now;
	ret->ttl = ttl;
	return EXIT_OK;
}

/* Hand the bundle to pkishared. An exit status. */
static int upload_send(const struct upload_opts *o, const char *sock, const struct secret *json)
{
	char path[64];
	snprintf(path, sizeof(path), API_ROUTE_BUNDLE "?" API_Q_MAX_FETCHES "=%llu%s",
		 (unsigned long long)o->max_fetches,
		 o->drop_external ? "&" API_Q_DROP_EXTERNAL_ETCD "=true" : "");
	_cleanup_(http_response_done) struct http_response resp = {0};
	int r = net_unix_request(sock, "PUT", path, json, &resp);
	if (r < 0)
		return admin_unreachable(sock, r);
	return resp.status == 201 ? EXIT_OK : admin_refused("upload", &resp);
}

/* What was stored, until when, with which profile (the key: upload_key_print). */
static void upload_report(const struct upload_opts *o, const struct upload_bundle *b,
			  const uint8_t *key)
{
	char until[RFC3339_LEN], kid[KEY_ID_HEX_LEN + 1], ttl_txt[32];
	time_format(b->now + b->ttl, until);
	key_id(key, kid);
	duration_format(b->ttl, ttl_txt, sizeof(ttl_txt));
	printf("[upload-certs] Storing the certificates in pkishared (bundle %s, key id %s)\n",
	       b->id, kid);
	printf("[upload-certs] The bundle is wiped after %s (at %s)%s\n", ttl_txt, until,
	       o->max_fetches ? " or after the allowed number of fetches" : "");
	if (profile_is_set(&o->prof)) {
		char desc[2048];
		profile_describe(&o->prof, desc, sizeof(desc));
		printf("[upload-certs] Cluster profile for joining nodes' certificates: %s\n",
		       desc);
	}
}

/* The key, last (a script takes the last line), unless told not to. */
static void upload_key_print(const struct upload_opts *o, const uint8_t *key, char *hex)
{
	if (!o->skip_print) {
		key_format(key, hex);
		printf("[upload-certs] Using certificate key:\n%s\n", hex);
	}
}

/* pkishared's status as JSON into *ret (json_decref it). An exit status (said). */
static int status_get(const char *sock, json_t **ret)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	int r = net_unix_request(sock, "GET", API_ROUTE_STATUS, NULL, &resp);
	if (r < 0)
		return admin_unreachable(sock, r);
	if (resp.status != 200)
		return admin_refused("status", &resp);
	*ret = json_loadb((const char *)resp.body->data, resp.body->len, 0, NULL);
	if (!*ret) {
		cli_error("pkishared's status is not JSON");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* --replicas needs coordination: said before anything is sealed. An exit status. */
static int replicas_check(const struct upload_opts *o, const char *sock)
{
	json_t *st = NULL;
	if (!o->replicas)
		return EXIT_OK;
	int ex = status_get(sock, &st);
	if (ex == EXIT_OK && !json_is_object(json_object_get(st, API_F_COORDINATION))) {
		cli_error("--replicas waits for other control-plane nodes to copy the bundle, and "
			  "this pkishared does not coordinate with any (coord-socket is not set; "
			  "pkishared(8)); upload without --replicas");
		ex = EXIT_USAGE;
	}
	json_decref(st);
	return ex;
}

/* The holders of bundle id in status st, named into names; their count. */
static size_t holders_of(json_t *st, const char *id, char *names, size_t len)
{
	json_t *cur = json_object_get(json_object_get(st, API_F_COORDINATION), API_F_CURRENT);
	const char *cid = json_string_value(json_object_get(cur, API_F_ID));
	json_t *h;
	size_t i, n = 0;
	names[0] = 0;
	if (!cid || strcmp(cid, id) != 0)
		return 0;
	json_array_foreach (json_object_get(st, API_F_HOLDERS), i, h) {
		const char *node = json_string_value(json_object_get(h, API_F_NODE));
		const char *addr = json_string_value(json_object_get(h, API_F_PEER_ADDRESS));
		size_t used = strlen(names);
		snprintf(names + used, len - used, "%s%s (%s)", n ? ", " : "", node ? node : "?",
			 addr ? addr : "?");
		n++;
	}
	return n;
}

/* Whether node is named in holders_of's list ("NAME (ADDRESS), ..."). */
static bool holder_named(const char *names, const char *node)
{
	size_t len = strlen(node);
	for (const char *p = strstr(names, node); p; p = strstr(p + 1, node))
		if ((p == names || (p >= names + 2 && p[-2] == ',')) && !strncmp(p + len, " (", 2))
			return true;
	return false;
}

/* Wait until o->replicas nodes hold bundle id, or the timeout. An exit status (said). */
static int replicas_wait(const struct upload_opts *o, const char *sock, const char *id)
{
	char names[2048] = "";
	size_t n = 0;
	int64_t timeout = o->replicas_timeout ? o->replicas_timeout : 60;
	int64_t until = time_mono_ms() + timeout * 1000;
	for (;;) {
		json_t *st = NULL;
		int ex = status_get(sock, &st);
		if (ex != EXIT_OK)
			return ex;
		n = holders_of(st, id, names, sizeof(names));
		json_decref(st);
		if (n >= o->replicas) {
			printf("[upload-certs] Held by %zu control-plane node(s): %s\n", n, names);
			return EXIT_OK;
		}
		if (time_mono_ms() >= until)
			break;
		struct timespec ts = {.tv_nsec = 20 * 1000000L}; /* a status read is cheap */
		nanosleep(&ts, NULL);
	}
	/* Who did not copy, of the nodes registered in etcd, and why they might not have. */
	char missing[2048] = "";
	size_t registered = 0, n_missing = 0;
	json_t *st = NULL;
	if (status_get(sock, &st) == EXIT_OK) {
		json_t *nodes =
		    json_object_get(json_object_get(st, API_F_COORDINATION), API_F_NODES);
		json_t *node;
		size_t i;
		registered = json_array_size(nodes);
		json_array_foreach (nodes, i, node) {
			const char *name = json_string_value(node);
			if (!name || holder_named(names, name))
				continue;
			size_t used = strlen(missing);
			snprintf(missing + used, sizeof(missing) - used, "%s%s",
				 n_missing ? ", " : "", name);
			n_missing++;
		}
		json_decref(st);
	}
	cli_error("only %zu of the %llu control-plane nodes asked for hold bundle %s after "
		  "%llds%s%s. The bundle is uploaded and served by the nodes that hold it",
		  n, (unsigned long long)o->replicas, id, (long long)timeout, n ? ": " : "", names);
	if (n_missing)
		fprintf(stderr,
			"  registered in etcd but holding no copy: %s. Each one's pkishared log "
			"says why (journalctl -u pkishared there): most often its clock is ahead "
			"of this node's past the bundle's expiry, or it cannot reach a holder's "
			"peer-address\n",
			missing);
	if (registered < o->replicas)
		fprintf(stderr,
			"  only %zu node(s) are registered in etcd under this node's prefix: is "
			"pkishared running with coordination on the others, with their "
			"pkishare-coordd, can those reach etcd (a node cut off from etcd drops out "
			"of the list when its coordd's lease lapses), and do all name the same "
			"etcd-prefix? ('pkishare status' there says)\n",
			registered);
	return EXIT_FAIL;
}

/* Parse (options, profile), plan (key, PKI read, lifetime agreed, sealed), act (upload,
 * report). */
int verb_upload_certs(int argc, char **argv)
{
	struct upload_opts o = {.pki_dir = DEFAULT_PKI_DIR};
	int r = upload_parse(argc, argv, &o);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	int ex = upload_profile(&o);
	if (ex != EXIT_OK)
		return ex;
	if (o.extra) {
		cli_error("unexpected argument '%s'", o.extra);
		return EXIT_USAGE;
	}
	const char *sock = admin_socket(o.sock_opt);
	_cleanup_(secret_mem_freep) uint8_t *key = secret_mem(KEY_BYTES);
	_cleanup_(secret_mem_freep) char *hex = secret_mem(KEY_HEX_LEN + 1);
	if (!key || !hex)
		return EXIT_FAIL;
	ex = upload_key(o.key_arg, o.skip_print, key);
	if (ex != EXIT_OK)
		return ex;
	ex = replicas_check(&o, sock);
	if (ex != EXIT_OK)
		return ex;
	_cleanup_(upload_bundle_done) struct upload_bundle b = {0};
	ex = upload_seal(&o, sock, key, &b);
	if (ex == EXIT_OK)
		ex = upload_send(&o, sock, b.json);
	if (ex == EXIT_OK)
		upload_report(&o, &b, key);
	/* The bundle is uploaded either way: its key is printed even when the replicas
	 * did not all come (those that hold it serve it). */
	int uploaded = ex;
	if (ex == EXIT_OK && o.replicas)
		ex = replicas_wait(&o, sock, b.id);
	if (uploaded == EXIT_OK) {
		fflush(stdout);
		upload_key_print(&o, key, hex);
	}
	return ex;
}
