/* cmd-pki.c - "pkishare pki init | serving-cert | ca-cert-hash | client-ca | client-cert":
 * make a throwaway cluster PKI, pkishared's certificates, and a node-identity CA with its
 * nodes' client certificates.
 *
 * Private keys go from OpenSSL into guarded memory and from there into 0600 files through
 * the atomic installer; they are never printed. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "kubeadm.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "util.h"
#include "x509.h"

#define MAX_ADDRESSES 16
#define MAX_CLIENTS 16
#define CA_DAYS 3650
#define LEAF_DAYS 365

struct pki_opts {
	const char *dir;
	const char *pki_dir;
	const char *ca_dir; /* client-cert: the node-identity CA's directory */
	const char *out;
	const char *node_name;
	const char *addresses[MAX_ADDRESSES];
	size_t n_addresses;
	const char *clients[MAX_CLIENTS];
	size_t n_clients;
	enum key_type key_type;
	enum key_type serving_key_type; /* ECDSA P-256 unless asked: GnuTLS signs it ~6x faster */
	bool force;
	bool node_certs;
	bool node_name_given; /* client-cert takes no default: the name is the identity */
	bool no_cn;	      /* etcd-client-cert: a subject without CN (etcd's own auth on) */
	struct nodecerts_opts nc;
};

/* Add a certificate (public) and optionally its key (0600) to a set. */
static int add_pair(struct pki_set *set, const char *base, X509 *cert, X509 *chain_ca,
		    EVP_PKEY *key)
{
	char name[PKI_NAME_MAX];
	struct secret *pem = NULL;
	int r = x509_cert_pem(cert, &pem);
	if (r < 0)
		return r;
	if (chain_ca) {
		struct secret *ca = NULL;
		r = x509_cert_pem(chain_ca, &ca);
		if (r >= 0)
			r = secret_append(pem, ca->data, ca->len);
		secret_free(ca);
		if (r < 0) {
			secret_free(pem);
			return r;
		}
	}
	snprintf(name, sizeof(name), "%s.crt", base);
	r = pki_set_add(set, name, 0644, pem);
	if (r < 0 || !key)
		return r;
	r = x509_key_pem(key, &pem);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s.key", base);
	return pki_set_add(set, name, 0600, pem);
}

static int make_ca(struct pki_set *set, const char *base, const char *cn, enum key_type kt,
		   X509 **ret_cert, EVP_PKEY **ret_key)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL;
	struct cert_spec spec = {.cn = cn, .is_ca = true, .days = CA_DAYS};
	int r = x509_key_new(kt, &key);
	if (r >= 0)
		r = x509_cert_new(&spec, key, NULL, NULL, &cert);
	if (r >= 0 && set)
		r = add_pair(set, base, cert, NULL, key);
	if (r < 0)
		return r;
	*ret_cert = TAKE_PTR(cert);
	*ret_key = TAKE_PTR(key);
	return 0;
}

/* The same address twice in a certificate's names (127.0.0.1 given and added, or ::1 and
 * 0::1) is noise in every listing of them; compared as addresses, not as text. */
static bool same_ip(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
	if (fa != fb || inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
		return !strcmp(a, b);
	return !memcmp(x, y, fa == AF_INET ? 4 : 16);
}

static void add_ip(const char **ips, size_t *n, const char *ip)
{
	for (size_t i = 0; i < *n; i++)
		if (same_ip(ips[i], ip))
			return;
	ips[(*n)++] = ip;
}

static int issue_serving(struct pki_set *set, const struct pki_opts *o, X509 *ca, EVP_PKEY *ca_key)
{
	const char *dns[2] = {o->node_name, "localhost"};
	size_t n_dns = strcasecmp(o->node_name, "localhost") ? 2 : 1;
	const char *ips[MAX_ADDRESSES + 2];
	size_t n_ips = 0;
	for (size_t i = 0; i < o->n_addresses; i++)
		add_ip(ips, &n_ips, o->addresses[i]);
	add_ip(ips, &n_ips, "127.0.0.1");
	add_ip(ips, &n_ips, "::1");
	struct cert_spec spec = {.cn = o->node_name,
				 .dns = dns,
				 .n_dns = n_dns,
				 .ips = ips,
				 .n_ips = n_ips,
				 .server_auth = true,
				 /* With coordination, the node's identity to its peers too. */
				 .client_auth = true,
				 .days = LEAF_DAYS};
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL;
	int r = x509_key_new(o->serving_key_type, &key);
	if (r >= 0)
		r = x509_cert_new(&spec, key, ca, ca_key, &cert);
	if (r >= 0)
		r = add_pair(set, "tls", cert, ca, key);
	return r;
}

static int install(const char *dir, struct pki_set *set, bool force, const char *what)
{
	char detail[DETAIL_MAX] = "";
	struct pkidir_report rep;
	int r = pkidir_install(dir, set, force ? PKIDIR_FORCE : 0, &rep, detail);
	if (r < 0) {
		cli_error("cannot write %s into %s: %s (%s)%s", what, dir, error_message(r), detail,
			  r == -PKS_E_EXISTS ? "" : "; nothing was changed");
		return cli_exit_for(r);
	}
	return EXIT_OK;
}

static int print_pin(X509 *ca, const char *label)
{
	uint8_t pin[PIN_BYTES];
	char text[PIN_TEXT_LEN + 1];
	if (pin_of_cert(ca, pin) < 0)
		return EXIT_FAIL;
	pin_format(pin, text);
	printf("%s%s\n", label, text);
	return EXIT_OK;
}

/* A line before each step that takes seconds (RSA keys), so a long run shows progress. */
static void progress(const char *what)
{
	printf("[pki] Generating %s\n", what);
	fflush(stdout);
}

static int create_failed(int r)
{
	cli_error("cannot create the PKI: %s", error_message(r));
	return EXIT_FAIL;
}

/* The service-account key pair, sa.key and sa.pub. */
static int make_sa(struct pki_set *set, enum key_type type)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *sa = NULL;
	struct secret *pem = NULL;
	progress("the service-account key pair (sa.key, sa.pub)");
	int r = x509_key_new(type, &sa);
	if (r >= 0)
		r = x509_key_pem(sa, &pem);
	if (r >= 0)
		r = pki_set_add(set, "sa.key", 0600, pem);
	if (r >= 0)
		r = x509_pubkey_pem(sa, &pem);
	if (r >= 0)
		r = pki_set_add(set, "sa.pub", 0644, pem);
	return r;
}

/* kubeadm's shared files: the three CAs and the service-account key pair, into set; the
 * cluster CA also in ret_ca and ret_key. */
static int make_cluster(const struct pki_opts *o, struct pki_set *set, X509 **ret_ca,
			EVP_PKEY **ret_key)
{
	_cleanup_(x509_freep) X509 *ca = NULL, *fp = NULL, *etcd = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL, *fp_key = NULL, *etcd_key = NULL;
	/* --encryption-algorithm (kubeadm's encryptionAlgorithm) sets the CAs', the
	 * service-account key's and the node certificates' keys, as kubeadm v1beta4 does;
	 * --key-type only the CAs', with an RSA service-account key (kubeadm v1beta3's
	 * PublicKeysECDSA). */
	const char *alg = o->nc.prof.algorithm;
	enum key_type ca_type = alg[0] ? nodecerts_key_type(alg) : o->key_type;
	enum key_type sa_type = alg[0] ? nodecerts_key_type(alg) : KEY_TYPE_RSA2048;
	/* kubeadm's subjects: CN=kubernetes, CN=front-proxy-ca, CN=etcd-ca. */
	progress("the cluster CA (ca.crt, ca.key)");
	int r = make_ca(set, "ca", "kubernetes", ca_type, &ca, &ca_key);
	if (r >= 0) {
		progress("the front-proxy CA");
		r = make_ca(set, "front-proxy-ca", "front-proxy-ca", ca_type, &fp, &fp_key);
	}
	if (r >= 0) {
		progress("the etcd CA");
		r = make_ca(set, "etcd/ca", "etcd-ca", ca_type, &etcd, &etcd_key);
	}
	if (r >= 0)
		r = make_sa(set, sa_type);
	if (r < 0)
		return r;
	*ret_ca = TAKE_PTR(ca);
	*ret_key = TAKE_PTR(ca_key);
	return 0;
}

/* Is name usable as a client certificate's CN and file name? Says why not. */
static bool client_name_ok(const char *name)
{
	if (name_is_safe(name) && !strchr(name, '/'))
		return true;
	cli_error("client name '%s' must be letters, digits, '.', '_' or '-'", name);
	return false;
}

/* A node's client certificate (CN=name, clientAuth, digitalSignature, CA:FALSE) and its
 * key, issued by ca, into set as NAME.crt and NAME.key (0600). */
static int issue_client(struct pki_set *set, const char *name, enum key_type kt, X509 *ca,
			EVP_PKEY *ca_key)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL;
	_cleanup_(x509_freep) X509 *c = NULL;
	struct cert_spec spec = {
	    .cn = name, .org = "pkishare:joiners", .client_auth = true, .days = LEAF_DAYS};
	int r = x509_key_new(kt, &k);
	if (r >= 0)
		r = x509_cert_new(&spec, k, ca, ca_key, &c);
	if (r >= 0)
		r = add_pair(set, name, c, NULL, k);
	return r;
}

/* The client CA and one client certificate per --client, into set. An exit status. */
static int make_clients(const struct pki_opts *o, struct pki_set *set)
{
	_cleanup_(x509_freep) X509 *cca = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *cca_key = NULL;
	progress("the client CA and the client certificates");
	int r = make_ca(set, "ca", "pkishare-client-ca", o->key_type, &cca, &cca_key);
	for (size_t i = 0; r >= 0 && i < o->n_clients; i++) {
		if (!client_name_ok(o->clients[i]))
			return EXIT_USAGE;
		r = issue_client(set, o->clients[i], o->key_type, cca, cca_key);
	}
	return r < 0 ? create_failed(r) : EXIT_OK;
}

/* What pki init makes: DIR/pki, DIR/pkishared and DIR/clients. */
struct pki_tree {
	struct pki_set cluster, serving, clients;
};

static void pki_tree_done(struct pki_tree *t)
{
	pki_set_clear(&t->cluster);
	pki_set_clear(&t->serving);
	pki_set_clear(&t->clients);
}

/* Install the three directories, each atomically, and say where they are. An exit
 * status. */
static int pki_init_install(const struct pki_opts *o, struct pki_tree *t)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/pki", o->dir);
	int ex = install(path, &t->cluster, o->force, "the cluster PKI");
	if (ex != EXIT_OK)
		return ex;
	snprintf(path, sizeof(path), "%s/pkishared", o->dir);
	ex = install(path, &t->serving, o->force, "pkishared's serving certificate");
	if (ex != EXIT_OK)
		return ex;
	snprintf(path, sizeof(path), "%s/clients", o->dir);
	ex = install(path, &t->clients, o->force, "the client certificates");
	if (ex != EXIT_OK)
		return ex;
	printf("[pki] Cluster PKI in %s/pki (ca, front-proxy-ca, etcd/ca, sa)\n", o->dir);
	printf("[pki] pkishared serving certificate in %s/pkishared (signed by the cluster CA)\n",
	       o->dir);
	printf("[pki] Client CA and %zu client certificate(s) in %s/clients\n", o->n_clients,
	       o->dir);
	return EXIT_OK;
}

/* --node-certs: the first node's own certificates, from DIR/pki. An exit status. */
static int pki_init_node_certs(const struct pki_opts *o)
{
	char path[4096];
	struct nodecerts_opts nc = o->nc;
	snprintf(path, sizeof(path), "%s/pki", o->dir);
	nc.pki_dir = path;
	nc.node_name = o->node_name;
	nc.advertise_address = o->n_addresses ? o->addresses[0] : "127.0.0.1";
	nc.force = o->force;
	if (!nc.prof.algorithm[0] && o->key_type == KEY_TYPE_P256)
		str_copy(nc.prof.algorithm, sizeof(nc.prof.algorithm), "ECDSA-P256");
	return nodecerts_make(&nc, "pki");
}

/* Make everything in memory, then install it, then say the pin. */
static int pki_init(const struct pki_opts *o)
{
	_cleanup_(pki_tree_done) struct pki_tree t = {0};
	_cleanup_(x509_freep) X509 *ca = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;

	int r = make_cluster(o, &t.cluster, &ca, &ca_key);
	if (r >= 0) {
		progress("pkishared's serving certificate");
		r = issue_serving(&t.serving, o, ca, ca_key);
	}
	if (r < 0)
		return create_failed(r);
	int ex = make_clients(o, &t.clients);
	if (ex == EXIT_OK)
		ex = pki_init_install(o, &t);
	if (ex == EXIT_OK)
		ex = print_pin(ca, "[pki] CA pin (--ca-cert-hash): ");
	if (ex == EXIT_OK && o->node_certs)
		ex = pki_init_node_certs(o);
	return ex;
}

/* DIR/ca.crt and DIR/ca.key. 0, or <0 after saying which file and what to pass (hint). */
static int load_ca(const char *dir, const char *what, const char *hint, X509 **ret_ca,
		   EVP_PKEY **ret_key)
{
	char path[4096];
	_cleanup_(x509_freep) X509 *ca = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;
	_cleanup_(secret_freep) struct secret *key_pem = NULL;

	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	int r = x509_cert_load_file(path, &ca);
	if (r >= 0) {
		snprintf(path, sizeof(path), "%s/ca.key", dir);
		r = secret_read_file(path, 64 * 1024, &key_pem);
		if (r >= 0)
			r = x509_key_load(key_pem->data, key_pem->len, &ca_key);
	}
	if (r < 0) {
		cli_error("cannot load the %s from %s: %s; %s", what, path, error_message(r), hint);
		return r;
	}
	/* A key of another CA would sign certificates whose signatures do not verify. */
	if (x509_key_matches(ca, ca_key) < 0) {
		cli_error("%s/ca.key is not the private key of %s/ca.crt (another CA's key): "
			  "certificates signed with it would not verify under ca.crt; nothing was "
			  "written: put the CA's own key beside it",
			  dir, dir);
		return -PKS_E_PAIR;
	}
	*ret_ca = TAKE_PTR(ca);
	*ret_key = TAKE_PTR(ca_key);
	return 0;
}

static int pki_serving_cert(const struct pki_opts *o)
{
	_cleanup_(x509_freep) X509 *ca = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;
	_cleanup_(pki_set_clearp) struct pki_set set = {0};

	if (load_ca(o->pki_dir, "cluster CA", "pass --pki-dir", &ca, &ca_key) < 0)
		return EXIT_FAIL;
	int r = issue_serving(&set, o, ca, ca_key);
	if (r < 0) {
		cli_error("cannot issue the serving certificate: %s", error_message(r));
		return EXIT_FAIL;
	}
	int ex = install(o->out, &set, o->force, "the serving certificate");
	if (ex != EXIT_OK)
		return ex;
	printf("[pki] Serving certificate for %s in %s/tls.crt, key in %s/tls.key\n", o->node_name,
	       o->out, o->out);
	return print_pin(ca, "[pki] CA pin (--ca-cert-hash): ");
}

/* pki client-ca: a node-identity CA of its own (never one of the cluster's CAs, which
 * also issue every kubelet's and component's client certificate), ECDSA P-256. */
static int pki_client_ca(const struct pki_opts *o)
{
	_cleanup_(pki_set_clearp) struct pki_set set = {0};
	_cleanup_(x509_freep) X509 *ca = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;

	/* --force replaces ca.crt and ca.key in --out: never a cluster's own CA, whose loss
	 * is irreversible (every certificate of the cluster is signed by it). */
	char path[4096], cn[64] = "";
	_cleanup_(x509_freep) X509 *have = NULL;
	snprintf(path, sizeof(path), "%s/ca.crt", o->out);
	if (x509_cert_load_file(path, &have) == 0 &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(have), NID_commonName, cn, sizeof(cn)) >
		0 &&
	    kubeadm_ca_role(cn)) {
		cli_error("%s holds %s of a kubeadm cluster (CN=%s): it is the cluster's PKI "
			  "directory, and a node-identity CA there would replace the cluster's "
			  "ca.crt and ca.key, even with --force; nothing was written: pick another "
			  "directory for --out (e.g. /etc/pkishare/node-identity-ca)",
			  path, kubeadm_ca_role(cn), cn);
		return EXIT_USAGE;
	}
	progress("a node-identity CA (ca.crt, ca.key)");
	int r = make_ca(&set, "ca", "pkishare-node-identity-ca", KEY_TYPE_P256, &ca, &ca_key);
	if (r < 0)
		return create_failed(r);
	int ex = install(o->out, &set, o->force, "the node-identity CA");
	if (ex != EXIT_OK)
		return ex;
	printf("[pki] Node-identity CA in %s/ca.crt, its key in %s/ca.key (0600; keep it off "
	       "the nodes)\n",
	       o->out, o->out);
	printf("[pki] Next: on the first control-plane node, install -m 0600 %s/ca.crt "
	       "/etc/pkishare/client-ca.crt\n"
	       "[pki]       (client-ca = /etc/pkishare/client-ca.crt in pkishared.conf), then "
	       "systemctl reload pkishared;\n"
	       "[pki]       for each joining node: pkishare pki client-cert --ca-dir %s "
	       "--node-name NODE --out DIR\n",
	       o->out, o->out);
	return EXIT_OK;
}

/* pki client-cert: one node's client certificate from the node-identity CA in --ca-dir. */
static int pki_client_cert(const struct pki_opts *o)
{
	_cleanup_(pki_set_clearp) struct pki_set set = {0};
	_cleanup_(x509_freep) X509 *ca = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;

	if (!client_name_ok(o->node_name))
		return EXIT_USAGE;
	if (load_ca(o->ca_dir, "node-identity CA",
		    "pass the --out of 'pkishare pki client-ca' as --ca-dir", &ca, &ca_key) < 0)
		return EXIT_FAIL;
	char cn[64] = "";
	X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
	const char *role = kubeadm_ca_role(cn);
	if (role) {
		cli_error("%s/ca.crt is %s of a kubeadm cluster (CN=%s), not a node-identity CA: "
			  "pkishared refuses it as client CA, since the client certificates it "
			  "signs (%s) could fetch the bundle; nothing was written. Make a "
			  "node-identity CA with 'pkishare pki client-ca --out DIR' and pass that "
			  "DIR as --ca-dir, or let the node join with a join token",
			  o->ca_dir, role, cn, kubeadm_ca_signs(cn));
		return EXIT_USAGE;
	}
	progress("a client certificate");
	int r = issue_client(&set, o->node_name, KEY_TYPE_P256, ca, ca_key);
	if (r < 0)
		return create_failed(r);
	int ex = install(o->out, &set, o->force, "the client certificate");
	if (ex != EXIT_OK)
		return ex;
	printf("[pki] Client certificate for %s in %s/%s.crt, its key in %s/%s.key (0600)\n",
	       o->node_name, o->out, o->node_name, o->out, o->node_name);
	printf("[pki] Next: copy both to %s, then there: pkishare join --server ... "
	       "--ca-cert-hash ... --cert %s.crt --key %s.key\n",
	       o->node_name, o->node_name, o->node_name);
	return EXIT_OK;
}

/* pki etcd-client-cert: pkishare-coordd's credential, signed by the cluster's etcd CA
 * (PKI_DIR/etcd/ca.crt and ca.key), into --out as ca.crt (etcd's CA), client.crt and
 * client.key (0600). */
static int pki_etcd_client_cert(const struct pki_opts *o)
{
	_cleanup_(pki_set_clearp) struct pki_set set = {0};
	_cleanup_(x509_freep) X509 *ca = NULL, *c = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL, *k = NULL;
	char dir[4096], cn[64] = "";

	snprintf(dir, sizeof(dir), "%s/etcd", o->pki_dir);
	if (load_ca(dir, "etcd CA",
		    "pass the cluster's PKI directory (kubeadm's /etc/kubernetes/pki, whose "
		    "etcd/ca.crt and etcd/ca.key sign etcd's clients) as --pki-dir",
		    &ca, &ca_key) < 0)
		return EXIT_FAIL;
	X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
	if (strcmp(cn, "etcd-ca") != 0)
		fprintf(stderr,
			"[pki] Note: %s/ca.crt is named '%s', not kubeadm's etcd-ca: make sure it "
			"is the CA your etcd members trust (--trusted-ca-file)\n",
			dir, cn);
	progress("an etcd client certificate for pkishare-coordd");
	/* Without CN for etcd's own auth: etcd 3.4's gateway refuses a client certificate
	 * with a CN then, and the password user names the role. */
	struct cert_spec spec = {.cn = o->no_cn ? NULL : "pkishare-coordd",
				 .org = "pkishare-coordd",
				 .client_auth = true,
				 .days = LEAF_DAYS};
	int r = x509_key_new(KEY_TYPE_P256, &k);
	if (r >= 0)
		r = x509_cert_new(&spec, k, ca, ca_key, &c);
	if (r >= 0)
		r = add_pair(&set, "client", c, NULL, k);
	if (r >= 0)
		r = add_pair(&set, "ca", ca, NULL, NULL);
	if (r < 0)
		return create_failed(r);
	int ex = install(o->out, &set, o->force, "the etcd client certificate");
	if (ex != EXIT_OK)
		return ex;
	printf("[pki] etcd client certificate for pkishare-coordd in %s/client.crt, its key in "
	       "%s/client.key (0600), etcd's CA in %s/ca.crt\n",
	       o->out, o->out, o->out);
	printf("[pki] It is %s: keep it for pkishare-coordd alone (its unit passes these files "
	       "with LoadCredential=; see pkishare-coordd(8))\n",
	       o->no_cn ? "a certificate for a password user of etcd's own auth"
			: "etcd root unless etcd's own auth is on");
	return EXIT_OK;
}

static int pki_ca_cert_hash(const char *file)
{
	_cleanup_(x509_freep) X509 *ca = NULL;
	int r = x509_cert_load_file(file, &ca);
	if (r < 0) {
		cli_error("cannot read certificate %s: %s", file, error_message(r));
		return EXIT_FAIL;
	}
	return print_pin(ca, "");
}

static const char pki_init_usage[] =
    "  pkishare pki init --dir DIR [--node-name N] [--address IP]... [--client NAME]...\n"
    "                    [--key-type rsa|ecdsa] [--serving-key-type ecdsa|rsa] [--force]\n"
    "                    [--node-certs --advertise-address IP [node certificate options]]\n"
    "  A throwaway cluster PKI for demos and tests: DIR/pki (kubeadm's shared files),\n"
    "  DIR/pkishared (its serving certificate) and DIR/clients (a client CA and one\n"
    "  certificate per --client, node-2 and node-3 by default). --key-type: the cluster\n"
    "  CAs' keys, RSA by default as kubeadm makes them; --serving-key-type: pkishared's\n"
    "  serving key, ECDSA P-256 by default; --node-certs also makes the first node's\n"
    "  own certificates.\n";
static const char pki_serving_usage[] =
    "  pkishare pki serving-cert --pki-dir DIR --out DIR [--node-name N] [--address IP]...\n"
    "                    [--serving-key-type ecdsa|rsa] [--force]\n"
    "  pkishared's serving certificate, issued by the cluster CA in --pki-dir.\n";
static const char pki_hash_usage[] =
    "  pkishare pki ca-cert-hash CA.CRT\n"
    "  The CA pin (sha256:HEX of the CA's public key), as kubeadm's\n"
    "  --discovery-token-ca-cert-hash.\n";
static const char pki_client_ca_usage[] =
    "  pkishare pki client-ca --out DIR [--force]\n"
    "  A node-identity CA of its own (ECDSA P-256) in DIR/ca.crt and DIR/ca.key, for\n"
    "  pkishared's client-ca when joiners use certificates rather than join tokens.\n"
    "  Never use one of the cluster's CAs: they issue every kubelet's certificate.\n";
static const char pki_client_cert_usage[] =
    "  pkishare pki client-cert --ca-dir DIR --node-name N --out DIR [--force]\n"
    "  A node's client certificate (CN=N, clientAuth, ECDSA P-256) from the CA in\n"
    "  --ca-dir, in DIR/N.crt and DIR/N.key.\n";
static const char pki_etcd_usage[] =
    "  pkishare pki etcd-client-cert --pki-dir DIR --out DIR [--no-cn] [--force]\n"
    "  pkishare-coordd's etcd credential: a client certificate (clientAuth, ECDSA P-256)\n"
    "  signed by the etcd CA in DIR/etcd, with etcd's CA, in --out. --no-cn: no CN, for\n"
    "  a password user of etcd's own auth (etcd 3.4's gateway needs that).\n";
static const char pki_nodecerts_usage[] =
    "  pkishare pki node-certs --pki-dir DIR [--node-name N] --advertise-address IP\n"
    "                    [node certificate options below] [--force]\n"
    "  This node's own certificates, signed by the shared CAs in --pki-dir, with the\n"
    "  cluster profile decrypt or join kept in DIR/" PROFILE_FILE_NAME " (flags override\n"
    "  it; it says which it used).\n";

/* Is sub (NULL: all of them) the subcommand name? */
static bool sub_is(const char *sub, const char *name)
{
	return !sub || !strcmp(sub, name);
}

/* The usage of sub (one subcommand), or of them all (sub NULL). */
static void pki_usage(FILE *f, const char *sub)
{
	fputs("Usage:\n", f);
	if (sub_is(sub, "init"))
		fputs(pki_init_usage, f);
	if (sub_is(sub, "serving-cert"))
		fputs(pki_serving_usage, f);
	if (sub_is(sub, "ca-cert-hash"))
		fputs(pki_hash_usage, f);
	if (sub_is(sub, "node-certs"))
		fputs(pki_nodecerts_usage, f);
	if (sub_is(sub, "client-ca"))
		fputs(pki_client_ca_usage, f);
	if (sub_is(sub, "client-cert"))
		fputs(pki_client_cert_usage, f);
	if (sub_is(sub, "etcd-client-cert"))
		fputs(pki_etcd_usage, f);
	if (sub_is(sub, "init") || sub_is(sub, "node-certs"))
		fputs(NODECERTS_USAGE, f);
}

enum {
	O_DIR = 256,
	O_PKI,
	O_CA_DIR,
	O_OUT,
	O_NODE,
	O_ADDR,
	O_CLIENT,
	O_KT,
	O_FORCE,
	O_NC,
	O_SKT,
	O_NO_CN,
};

/* --key-type and --serving-key-type: 1, or -1 on a bad value (said). */
static int pki_key_type_option(struct pki_opts *o, const char *sub, int c, const char *arg)
{
	enum key_type kt;
	if (!strcmp(arg, "rsa"))
		kt = KEY_TYPE_RSA2048;
	else if (!strcmp(arg, "ecdsa"))
		kt = KEY_TYPE_P256;
	else {
		cli_error("--%s must be rsa or ecdsa", c == O_KT ? "key-type" : "serving-key-type");
		return -1;
	}
	/* serving-cert makes no CA: there --key-type means the serving key, as it always
	 * did. */
	if (c == O_SKT || !strcmp(sub, "serving-cert"))
		o->serving_key_type = kt;
	if (c == O_KT)
		o->key_type = kt;
	return 1;
}

/* One option of pki SUB: >0 taken, 0 after --help, <0 a usage error (said). A switch
 * over the options reads best whole. */
static int pki_option(struct pki_opts *o, const char *sub, int c, char *arg)
{
	switch (c) {
	case O_DIR:
		o->dir = arg;
		return 1;
	case O_PKI:
		o->pki_dir = arg;
		return 1;
	case O_CA_DIR:
		o->ca_dir = arg;
		return 1;
	case O_OUT:
		o->out = arg;
		return 1;
	case O_NODE:
		o->node_name = arg;
		o->node_name_given = true;
		return 1;
	case O_ADDR:
		if (o->n_addresses >= MAX_ADDRESSES) {
			cli_error("at most %d --address", MAX_ADDRESSES);
			return -1;
		}
		o->addresses[o->n_addresses++] = arg;
		return 1;
	case O_CLIENT:
		if (o->n_clients >= MAX_CLIENTS) {
			cli_error("at most %d --client", MAX_CLIENTS);
			return -1;
		}
		o->clients[o->n_clients++] = arg;
		return 1;
	case O_KT:
	case O_SKT:
		return pki_key_type_option(o, sub, c, arg);
	case O_FORCE:
		o->force = true;
		return 1;
	case O_NC:
		o->node_certs = true;
		return 1;
	case O_NO_CN:
		o->no_cn = true;
		return 1;
	case 'h':
		pki_usage(stdout, sub);
		return 0;
	default: {
		int t = nodecerts_option(&o->nc, c, arg);
		if (t == 0)
			pki_usage(stderr, sub);
		return t > 0 ? 1 : -1;
	}
	}
}

/* The options after "pki SUB" (argv[0] is SUB), then the addresses checked: >0 go on
 * with the arguments left from *ret_args, 0 after --help, <0 a usage error (said). */
static int pki_parse(int argc, char **argv, const char *sub, struct pki_opts *o, int *ret_args)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, O_DIR},
	    {"pki-dir", required_argument, NULL, O_PKI},
	    {"ca-dir", required_argument, NULL, O_CA_DIR},
	    {"out", required_argument, NULL, O_OUT},
	    {"node-name", required_argument, NULL, O_NODE},
	    {"address", required_argument, NULL, O_ADDR},
	    {"client", required_argument, NULL, O_CLIENT},
	    {"key-type", required_argument, NULL, O_KT},
	    {"serving-key-type", required_argument, NULL, O_SKT},
	    {"force", no_argument, NULL, O_FORCE},
	    {"node-certs", no_argument, NULL, O_NC},
	    {"no-cn", no_argument, NULL, O_NO_CN},
	    NODECERTS_LONG_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		if ((r = pki_option(o, sub, c, optarg)) <= 0)
			return r;
	for (size_t i = 0; i < o->n_addresses; i++) {
		unsigned char buf[16];
		if (inet_pton(AF_INET, o->addresses[i], buf) != 1 &&
		    inet_pton(AF_INET6, o->addresses[i], buf) != 1) {
			cli_error("--address '%s' is not an IPv4 or IPv6 address", o->addresses[i]);
			return -1;
		}
	}
	*ret_args = optind;
	return 1;
}

/* pki SUB with its options and n arguments left (args). An exit status. */
static int pki_run(const char *sub, struct pki_opts *o, char **args, int n)
{
	if (!strcmp(sub, "ca-cert-hash")) {
		if (n != 1) {
			cli_error("pki ca-cert-hash takes one certificate file");
			return EXIT_USAGE;
		}
		return pki_ca_cert_hash(args[0]);
	}
	if (n != 0) {
		cli_error("unexpected argument '%s'", args[0]);
		return EXIT_USAGE;
	}
	if (!strcmp(sub, "init")) {
		if (!o->dir) {
			cli_error("pki init needs --dir DIR");
			return EXIT_USAGE;
		}
		if (o->n_clients == 0) {
			o->clients[o->n_clients++] = "node-2";
			o->clients[o->n_clients++] = "node-3";
		}
		return pki_init(o);
	}
	if (!strcmp(sub, "node-certs")) {
		if (!o->pki_dir || !o->nc.advertise_address) {
			cli_error(
			    "pki node-certs needs --pki-dir DIR and --advertise-address IP (and "
			    "--node-name, default the host name)");
			return EXIT_USAGE;
		}
		o->nc.pki_dir = o->pki_dir;
		o->nc.node_name = o->node_name;
		o->nc.force = o->force;
		int ex = nodecerts_kept_profile(&o->nc, "pki");
		if (ex != EXIT_OK)
			return ex;
		return nodecerts_make(&o->nc, "pki");
	}
	if (!strcmp(sub, "client-ca")) {
		if (!o->out) {
			cli_error("pki client-ca needs --out DIR");
			return EXIT_USAGE;
		}
		return pki_client_ca(o);
	}
	if (!strcmp(sub, "client-cert")) {
		if (!o->ca_dir || !o->node_name_given || !o->out) {
			cli_error(
			    "pki client-cert needs --ca-dir DIR, --node-name N and --out DIR");
			return EXIT_USAGE;
		}
		return pki_client_cert(o);
	}
	if (!o->pki_dir || !o->out) {
		cli_error("pki %s needs --pki-dir DIR and --out DIR", sub);
		return EXIT_USAGE;
	}
	if (!strcmp(sub, "etcd-client-cert"))
		return pki_etcd_client_cert(o);
	return pki_serving_cert(o);
}

int verb_pki(int argc, char **argv)
{
	char host[256] = "node-1";
	struct pki_opts o = {.key_type = KEY_TYPE_RSA2048, .serving_key_type = KEY_TYPE_P256};
	int first;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		pki_usage(argc < 2 ? stderr : stdout, NULL);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *sub = argv[1];
	static const char *const subs[] = {
	    "init",	 "serving-cert", "ca-cert-hash",    "node-certs",
	    "client-ca", "client-cert",	 "etcd-client-cert"};
	bool known = false;
	for (size_t i = 0; i < ELEMENTSOF(subs); i++)
		known = known || !strcmp(sub, subs[i]);
	if (!known) {
		cli_unknown_sub("pki", sub, subs, ELEMENTSOF(subs));
		pki_usage(stderr, NULL);
		return EXIT_USAGE;
	}
	nodecerts_default_name(host, sizeof(host));
	o.node_name = host;
	int r = pki_parse(argc - 1, argv + 1, sub, &o, &first);
	if (r <= 0)
		return r == 0 ? EXIT_OK : EXIT_USAGE;
	return pki_run(sub, &o, argv + 1 + first, argc - 1 - first);
}
