/* fetch.c - join against its servers: each one described (GET /v1/bundle/info) and
 * checked against the plan (key id, clock, space, the node certificates' inputs), an
 * enrollment with a join token when asked, then the fetch over pinned mutual TLS and the
 * install; a server that cannot be used passes to the next. What each server answered
 * is said here, once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "addr.h"
#include "bundle.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "fetch.h"
#include "install.h"
#include "join.h"
#include "joined.h"
#include "key.h"
#include "kubeconf.h"
#include "net.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "token.h"
#include "util.h"
#include "x509.h"

/* Enrollment: a key pair made in memory, a CSR, and a short-lived client certificate
 * from POST /v1/enroll. The private key never leaves this process. Returns 0 with
 * *ret_key and *ret_cert, or <0 with detail saying why (-EACCES, -EAGAIN, -EKEYREJECTED,
 * -ESTALE: the token is used up; the server refused). */
static int enroll(const struct net_tls_opts *server, const char *token, const char *node,
		  EVP_PKEY **ret_key, X509 **ret_cert, char *detail)
{
	struct net_tls_opts o = {.server = server->server, .pin = server->pin};
	_cleanup_(secret_freep) struct secret *csr = NULL;
	_cleanup_(secret_freep) struct secret *auth = secret_new(32 + TOKEN_LEN);
	_cleanup_(http_response_done) struct http_response resp = {0};
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL;
	int r = auth ? x509_key_new(KEY_TYPE_P256, &key) : -ENOMEM;
	if (r >= 0)
		r = x509_csr_new(key, node, &csr);
	if (r >= 0)
		r = secret_append(auth, "Authorization: Bearer ", 22);
	if (r >= 0)
		r = secret_append(auth, token, strlen(token));
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "cannot make a key pair and CSR: %s",
			 error_message(r));
		return r;
	}
	r = net_https_request(&o, "POST", API_ROUTE_ENROLL, (const char *)auth->data, csr, &resp,
			      detail);
	if (r < 0)
		return r;
	if (resp.status != 200) {
		char reason[64] = "", msg[400] = "";
		api_error_parse(resp.body, reason, sizeof(reason), msg, sizeof(msg));
		str_format(detail, DETAIL_MAX, "enrollment at %s refused (HTTP %d, %s): %s",
			   server->server, resp.status, reason, msg);
		if (resp.status == 401 && api_reason_parse(reason) == API_R_USED_UP)
			return -ESTALE; /* a spent token: the daemon says whose */
		return resp.status == 429 ? -EAGAIN : resp.status == 401 ? -EKEYREJECTED : -EACCES;
	}
	r = x509_cert_load(resp.body->data, resp.body->len, &cert);
	if (r < 0) {
		snprintf(detail, DETAIL_MAX, "enrollment at %s returned no certificate",
			 server->server);
		return r;
	}
	printf("[join] Enrolled as %s at %s with a short-lived client certificate\n", node,
	       server->server);
	*ret_key = TAKE_PTR(key);
	*ret_cert = TAKE_PTR(cert);
	return 0;
}

/* The held bundle's public description (GET /v1/bundle/info, not a fetch). */
struct bundle_meta {
	char id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	long long fetches, max_fetches;
	int64_t expires_at; /* the sealed expiresAt, or 0 if not said */
	long long bytes;    /* the sealed bundle's size; -1 if the server does not say */
	struct profile prof;
};

/* What the free-space check assumes when the server does not say the bundle's size (a
 * kubeadm PKI with RSA-4096 CAs and external etcd is under 64 KiB sealed), and for the
 * record of the join (pkishare-joined.json: four short strings). */
#define BUNDLE_SIZE_BOUND (1024 * 1024)
#define JOINED_BYTES_BOUND 1024

/* The held bundle's description in resp. Returns >0 with *ret filled, 0 if the server
 * holds no bundle now (404), or -EBADMSG if it does not say (an older pkishared, or a
 * body we cannot read): then the fetch decides. */
static int meta_parse(const struct http_response *resp, struct bundle_meta *ret)
{
	if (resp->status == 404)
		return 0;
	if (resp->status != 200 || !resp->body)
		return -EBADMSG;
	_cleanup_(json_decrefp) json_t *o =
	    json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	const char *id = NULL, *kid = NULL, *exp = NULL;
	json_t *prof = NULL;
	json_int_t f = 0, m = 0, bytes = -1;
	if (!o ||
	    json_unpack(o, "{s:s, s:s, s?I, s?I, s?I, s?o, s?s}", API_F_ID, &id, API_F_KEY_ID, &kid,
			API_F_FETCHES, &f, API_F_MAX_FETCHES, &m, API_F_BYTES, &bytes,
			API_F_PROFILE, &prof, API_F_EXPIRES_AT, &exp) < 0 ||
	    strlen(id) != BUNDLE_ID_HEX_LEN || strlen(kid) != KEY_ID_HEX_LEN)
		return -EBADMSG;
	if (!exp || time_parse(exp, &ret->expires_at) < 0)
		ret->expires_at = 0;
	str_copy(ret->id, sizeof(ret->id), id);
	str_copy(ret->key_id, sizeof(ret->key_id), kid);
	str_printable(ret->id);
	str_printable(ret->key_id);
	ret->fetches = f;
	ret->max_fetches = m;
	ret->bytes = bytes >= 0 && bytes <= 64 * BUNDLE_SIZE_BOUND ? bytes : -1;
	memset(&ret->prof, 0, sizeof(ret->prof));
	if (json_is_object(prof) && profile_from_json(prof, &ret->prof, NULL) < 0)
		memset(&ret->prof, 0, sizeof(ret->prof));
	return 1;
}

/* Room for the install at the target, checked before the fetch (a full disk found after
 * it spent the fetch), as an upper bound that is not much above what the install takes:
 * the bundle's files (each sealed entry is its bytes and 40 more, in base64, so the files
 * hold at most three quarters of the sealed size, else BUNDLE_SIZE_BOUND, in at most
 * pki_shared_files_count files), the record of the join, the profile the bundle carries,
 * and this node's certificates to be made (space, NULL if none), each file rounded to the
 * file system's block by pkidir_space_check. EXIT_OK, or said and EXIT_FAIL; a target the
 * install refuses for another reason is said by its checks. */
static int space_check(const struct join_args *a, const struct bundle_meta *m,
		       const struct nodecerts_space *space)
{
	struct pkidir_space_group g[3 + 2 * CERTLIST_MAX]; /* nodecerts_space's and 3 */
	size_t n = 0;
	char where[PATH_MAX];
	uint64_t need = 0, avail = 0;
	uint64_t sealed = m->bytes >= 0 ? (uint64_t)m->bytes : BUNDLE_SIZE_BOUND;

	g[n++] = (struct pkidir_space_group){.bytes = sealed / 4 * 3 + 3,
					     .files = pki_shared_files_count};
	g[n++] = (struct pkidir_space_group){.bytes = JOINED_BYTES_BOUND, .files = 1};
	if (profile_is_set(&m->prof)) {
		_cleanup_(freep) char *text = profile_canonical(&m->prof);
		g[n++] = (struct pkidir_space_group){
		    .bytes = text ? strlen(text) + 1 : PROFILE_FILE_MAX_BYTES, .files = 1};
	}
	for (size_t i = 0; space && i < space->n; i++)
		g[n++] = space->g[i];
	int r = pkidir_space_check(a->pki_dir, g, n, &need, &avail, where);
	if (r != -ENOSPC)
		return EXIT_OK;
	cli_error(
	    "not enough free space to install into %s: the file system of %s has %llu KiB "
	    "free (or too few inodes), and the install needs at most %llu KiB (the bundle %s%s, "
	    "each file rounded up to a block); free some space there or choose another "
	    "--pki-dir; nothing was fetched or written",
	    a->pki_dir, where, (unsigned long long)(avail / 1024),
	    (unsigned long long)((need + 1023) / 1024),
	    m->bytes >= 0 ? "as the server describes it"
			  : "at its largest (the server does not say its size)",
	    space && space->n ? ", this node's certificates" : "");
	return EXIT_FAIL;
}

/* The plan's checks that need the bundle's description: the key is the one it was sealed
 * with, and this node's certificates can be made with its profile and what is in the
 * target. EXIT_OK, or said and the exit status. Nothing has been fetched. */
static int meta_check(const struct join_args *a, const struct join_plan *p,
		      const struct bundle_meta *m, const char *server)
{
	_cleanup_(freep) struct nodecerts_opts *nc = NULL; /* large (the profile): on the heap */
	char mine[KEY_ID_HEX_LEN + 1];
	const char *ext_paths[EXT_ETCD_COUNT];
	bool ext_from_profile[EXT_ETCD_COUNT];
	key_id(p->key, mine);
	if (strcmp(mine, m->key_id) != 0) {
		cli_error("the certificate key (key id %s) is not the one bundle %s at %s was "
			  "sealed with (key id %s): the key was rotated by a newer upload-certs, "
			  "or mistyped; use the key printed by the latest 'pkishare upload-certs'; "
			  "nothing was fetched or written",
			  mine, m->id, server, m->key_id);
		return EXIT_ROTATED;
	}
	/* Where the external etcd files will go, as the install will pick them: the
	 * profile's paths are checked like the flags' before anything is fetched. */
	etcdext_paths_pick(a->ext_paths, &m->prof, ext_paths, ext_from_profile);
	int ex = etcdext_paths_check(ext_paths, ext_from_profile, a->pki_dir, a->flags);
	if (ex != EXIT_OK)
		return ex;
	if (!a->nc.advertise_address)
		return space_check(a, m, NULL);
	nc = malloc(sizeof(*nc));
	if (!nc) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	*nc = a->nc;
	nc->external_etcd = a->ext_paths[0] != NULL || m->prof.external_ca[0];
	nodecerts_take_profile(nc, &m->prof, "join");
	/* Which profile this node's certificates get, as pki node-certs says it. */
	if (profile_is_set(&m->prof)) {
		char desc[1024];
		profile_describe(&m->prof, desc, sizeof(desc));
		printf("[join] Cluster profile: sealed with bundle %s: %s\n", m->id, desc);
	} else
		printf("[join] Cluster profile: none in bundle %s (upload-certs --config "
		       "kubeadm.yaml seals one); using the flags and kubeadm's defaults\n",
		       m->id);
	size_t made = 0, kept = 0;
	struct nodecerts_space space;
	ex = nodecerts_plan(nc, &made, &kept, &space);
	if (ex == EXIT_OK)
		ex = space_check(a, m, &space);
	if (ex != EXIT_OK)
		return ex;
	if (a->flags & PKIDIR_DRY_RUN)
		printf("[join] Dry run: would generate %zu node certificate(s) for %s (%s), %zu "
		       "already present and checked\n",
		       made, nc->node_name, nc->advertise_address, kept);
	return EXIT_OK;
}

/* Past this much apart, the node certificates a joiner makes are not yet valid for the
 * other nodes (they are backdated as much: nodecerts.c). */
#define CLOCK_SKEW_MAX_S 300

/* The plan's clock check, against server's clock (date: its Date header, 0 if it sent
 * none): a bundle the server still holds that this node would take as expired (its clock
 * ahead) is refused now, before the fetch, and so is a clock ahead by more than
 * CLOCK_SKEW_MAX_S when this node's certificates are to be made; a clock behind is only
 * said. EXIT_OK, or said and EXIT_FAIL. Nothing has been fetched. */
static int clock_check(const struct join_args *a, const char *server, int64_t date,
		       const struct bundle_meta *m)
{
	int64_t now = time_now(), skew = date ? now - date : 0;
	char mine[RFC3339_LEN], theirs[RFC3339_LEN], until[RFC3339_LEN], by[64];

	time_format(now, mine);
	time_format(date, theirs);
	time_format(m->expires_at, until);
	duration_format(skew < 0 ? -skew : skew, by, sizeof(by));
	if (m->expires_at && now >= m->expires_at) {
		if (date && date < m->expires_at)
			cli_error("this node's clock reads %s, %s ahead of %s's (%s): bundle %s, "
				  "which %s holds until %s, would be taken as expired here; %s",
				  mine, by, server, theirs, m->id, server, until,
				  error_message(-PKS_E_CLOCK));
		else
			cli_error("bundle %s expires at %s, and this node's clock reads %s: it "
				  "would be taken as expired here though %s still holds it; %s",
				  m->id, until, mine, server, error_message(-PKS_E_CLOCK));
		return EXIT_FAIL;
	}
	if (skew > CLOCK_SKEW_MAX_S && a->nc.advertise_address) {
		cli_error("this node's clock reads %s, %s ahead of %s's (%s): the node "
			  "certificates made here would not be valid yet for the other nodes; %s",
			  mine, by, server, theirs, error_message(-PKS_E_CLOCK));
		return EXIT_FAIL;
	}
	if (skew > CLOCK_SKEW_MAX_S || skew < -CLOCK_SKEW_MAX_S)
		cli_error("warning: this node's clock reads %s, %s %s %s's (%s); fix it (NTP: "
			  "timedatectl set-ntp true) before the node serves",
			  mine, by, skew > 0 ? "ahead of" : "behind", server, theirs);
	return EXIT_OK;
}

/* The exit status of a request that did not get an answer. */
static int transport_exit(int r)
{
	return r == -PKS_E_PIN_MISMATCH || r == -PKS_E_SERVER_NAME || r == -PKS_E_API_SERVER ||
		       r == -PKS_E_SERVER_NO_CA
		   ? EXIT_PIN
	       : r == -ECONNRESET ? EXIT_FORBIDDEN
				  : EXIT_UNREACHABLE;
}

/* A refusal after the fetch: say that the fetch was spent, and which one it was (the
 * server's count now; a bundle gone since was fetched for the last time). Returns
 * nothing: it only says. */
static void say_fetch_spent(const struct net_tls_opts *o, const char *server,
			    const struct bundle_meta *before)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	struct bundle_meta now;
	char detail[DETAIL_MAX] = "", which[128] = "";
	int r = net_https_get(o, API_ROUTE_BUNDLE_INFO, &resp, detail);
	int m = r < 0 ? r : meta_parse(&resp, &now);
	if (m > 0 && now.max_fetches)
		snprintf(which, sizeof(which), " (fetch %lld of %lld)", now.fetches,
			 now.max_fetches);
	else if (m > 0)
		snprintf(which, sizeof(which), " (fetch %lld, no limit)", now.fetches);
	else if (m == 0 && before && before->max_fetches)
		snprintf(which, sizeof(which),
			 " (fetch %lld of %lld: the server no longer holds it)",
			 before->max_fetches, before->max_fetches);
	else if (m == 0)
		snprintf(which, sizeof(which), " (the server no longer holds it)");
	cli_error("the bundle was fetched from %s%s but the join was refused after the fetch "
		  "(see above); fix that and join again, or, if the bundle has no fetch left, "
		  "run 'pkishare upload-certs' again on the first control-plane node",
		  server, which);
}

/* The steps of one server's try (join_server and what it calls) return <0 when this
 * server cannot be used and the next one may do better, 0 when the join is decided
 * here, >0 to go on to the next step; *ret_exit is the exit status whenever they return
 * <=0 (why this server failed, or how the join went). */

/* A request to server that got no answer (r < 0, detail says why), said. Returns r: try
 * the next server (*ret_exit why). */
static int say_unanswered(const char *server, int r, const char *detail, bool more, int *ret_exit)
{
	size_t n = strlen(server);
	bool api_port = n > 5 && !strcmp(server + n - 5, ":6443");
	/* Not a name that does not resolve (-EADDRNOTAVAIL): that is the name, not the node. */
	bool down =
	    r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -ENETUNREACH;
	cli_error("%s: %s%s", server, detail, more ? "; trying the next --server" : "");
	if (api_port)
		cli_error("hint: 6443 is the Kubernetes API server's port; pkishared listens on "
			  "9443 (--server HOST, or HOST:9443)");
	else if (!more && down)
		/* Until every control-plane node serves (one daemon today), say what works. */
		cli_error("hint: if pkishared's node is down, a control-plane node that has "
			  "already joined can serve in its place: there, 'pkishare pki "
			  "serving-cert', start pkishared, 'pkishare upload-certs' (a new key) and "
			  "'pkishare print-join-command' (README: \"If the first node is down\")");
	*ret_exit = transport_exit(r);
	return r;
}

/* Enrollment or the description got no answer (r < 0): our own files are wrong, and no
 * other server will do better (0, *ret_exit EXIT_FAIL), or as say_unanswered (r). */
static int say_failed(const char *server, int r, const char *detail, bool more, int *ret_exit)
{
	if (r == -PKS_E_X509 || r == -ENOENT || r == -EACCES) {
		cli_error("%s", detail);
		*ret_exit = EXIT_FAIL; /* our own files: no other server will do better */
		return 0;
	}
	if (r == -PKS_E_CLOCK) {
		cli_error("%s: %s; %s", server, detail, error_message(r));
		*ret_exit = EXIT_FAIL; /* most likely our clock: no other server will do better */
		return 0;
	}
	return say_unanswered(server, r, detail, more, ret_exit);
}

/* A server that refused enrollment (r: -EACCES, -EAGAIN, -EKEYREJECTED or -ESTALE), said
 * (detail: the server's answer, or NULL when said already). Returns nothing: join stops
 * with EXIT_FORBIDDEN. */
static void say_enroll_refused(int r, const char *detail, const char *server, size_t i)
{
	if (detail)
		cli_error("%s", detail);
	/* The first --server was not reached, or had no bundle: this one may be another
	 * pkishared (one that took over), whose tokens and key are its own. */
	if (r == -EKEYREJECTED && i > 0)
		cli_error("hint: %s is not the first --server: it may be another pkishared (one "
			  "that took over from the first node), with join tokens and a certificate "
			  "key of its own; use the join command 'pkishare print-join-command' "
			  "prints on that node",
			  server);
	/* kubeadm's bootstrap tokens have our tokens' form: the likeliest mix-up of an
	 * operator coming from `kubeadm join --token`. */
	if (r == -EKEYREJECTED)
		cli_error("hint: a kubeadm bootstrap token (from 'kubeadm token create' or the "
			  "join command kubeadm printed) has the same form but is not known to "
			  "pkishared; nor is a pkishare token made before pkishared restarted "
			  "without systemd's store (run by hand, it keeps no tokens or bundle "
			  "across a restart; 'pkishare status' says which). Make a join token with "
			  "'pkishare print-join-command' (or 'pkishare token create') on the first "
			  "control-plane node");
}

/* A refusal in a non-200 answer: its reason and message, or "HTTP N without an
 * explanation". Returns nothing: it cannot fail. */
struct refusal {
	char reason[64], msg[512];
};
static void refusal_parse(const struct http_response *resp, struct refusal *ret)
{
	ret->reason[0] = ret->msg[0] = 0;
	if (!api_error_parse(resp->body, ret->reason, sizeof(ret->reason), ret->msg,
			     sizeof(ret->msg)))
		snprintf(ret->msg, sizeof(ret->msg), "HTTP %d without an explanation",
			 resp->status);
}

/* The join token refused (HTTP status, reason, msg) when the plan presented it, before
 * anything was spent: said, with the likeliest cause. Returns nothing: join stops with
 * EXIT_FORBIDDEN. */
static void say_token_refused(const char *server, size_t i, int status, const char *reason,
			      const char *msg)
{
	if (status == 429) {
		/* Refused before the token was looked at: failures from this address. */
		cli_error("%s turned this join away (HTTP 429, %s): %s; the token was not looked "
			  "at, nor spent, and nothing was fetched or written: pkishared counts "
			  "failures per address per minute, so wait a minute and run the join "
			  "again",
			  server, reason, msg);
		return;
	}
	cli_error("%s refused the join token (HTTP %d, %s): %s; the token was checked, not "
		  "spent, and nothing was fetched or written",
		  server, status, reason, msg);
	if (api_reason_parse(reason) == API_R_BAD_TOKEN)
		say_enroll_refused(-EKEYREJECTED, NULL, server, i);
}

/* A completed join run again (the README calls that harmless): the target already holds
 * this cluster's shared PKI, every file what it claims to be (a certificate, a private
 * key, each CA's key its certificate's, sa.key and sa.pub a pair) and its ca.crt the pinned CA (the
 * plan checked that too, target_ca_check). Returns 1 if so (*ret_etcd_ca: the target holds
 * etcd/ca.crt), 0 if not (a shared file missing, or --force, which asks for a replacement and so
 * needs a bundle), or <0 with detail naming the file that is not what it claims. */
static int already_joined(const struct join_args *a, const struct join_plan *p, bool *ret_etcd_ca,
			  char *detail)
{
	_cleanup_(pki_set_clearp) struct pki_set have = {0};
	uint8_t pin[PIN_BYTES];
	if ((a->flags & PKIDIR_FORCE) || pkidir_read(a->pki_dir, &have, NULL, detail) != 0 ||
	    !pki_set_find(&have, "ca.crt"))
		return 0;
	for (size_t i = 0; i < have.n; i++) {
		const struct pki_entry *e = &have.e[i];
		size_t n = strlen(e->name);
		bool crt = n > 4 && !strcmp(e->name + n - 4, ".crt");
		bool key = n > 4 && !strcmp(e->name + n - 4, ".key");
		_cleanup_(x509_freep) X509 *cert = NULL;
		_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
		int r = crt   ? x509_cert_load(e->data->data, e->data->len, &cert)
			: key ? x509_key_load(e->data->data, e->data->len, &pkey)
			      : 0;
		if (r < 0) {
			str_format(detail, DETAIL_MAX, "%s is not a %s", e->name,
				   crt ? "certificate" : "private key");
			return -PKS_E_X509;
		}
		if (!strcmp(e->name, "ca.crt") &&
		    (pin_of_cert(cert, pin) < 0 || memcmp(pin, p->pin, PIN_BYTES) != 0)) {
			str_format(detail, DETAIL_MAX,
				   "ca.crt does not have the --ca-cert-hash given");
			return -PKS_E_PIN_MISMATCH;
		}
	}
	/* Every CA's key its certificate's, and sa.key sa.pub's. */
	int r = x509_set_pairs_check(&have, detail);
	if (r < 0)
		return r;
	*ret_etcd_ca = pki_set_find(&have, "etcd/ca.crt") != NULL;
	return 1;
}

/* The node certificates asked for (--advertise-address) on a node that has already
 * joined: made here, as 'pkishare pki node-certs' makes them, from the CAs in the target
 * and the cluster profile the join kept there (flags override it), with what is there
 * checked; planned only in a dry run. *ret_made says how many were (or would be) made.
 * EXIT_OK, or said with the command that replaces them, and the exit status. */
static int joined_node_certs(const struct join_args *a, bool etcd_ca, size_t *ret_made)
{
	_cleanup_(freep) struct nodecerts_opts *nc = malloc(sizeof(*nc)); /* large */
	size_t made = 0, kept = 0;
	if (!nc) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	*nc = a->nc; /* pki_dir, node_name and force set by join_plan */
	nc->external_etcd = !etcd_ca;
	int ex = nodecerts_kept_profile(nc, "join");
	if (ex == EXIT_OK)
		ex = nodecerts_plan(nc, &made, &kept, NULL);
	if (ex == EXIT_OK && (a->flags & PKIDIR_DRY_RUN))
		printf("[join] Dry run: would generate %zu node certificate(s) for %s (%s) here "
		       "from the CAs in %s, %zu already present and checked\n",
		       made, nc->node_name, nc->advertise_address, a->pki_dir, kept);
	else if (ex == EXIT_OK)
		ex = nodecerts_make(nc, "join");
	if (ex == EXIT_EXISTS)
		cli_error("hint: to make this node's certificates anew for %s (%s) from the CAs "
			  "already in %s: pkishare pki node-certs --pki-dir %s --node-name %s "
			  "--advertise-address %s --force",
			  nc->node_name, nc->advertise_address, a->pki_dir, a->pki_dir,
			  nc->node_name, nc->advertise_address);
	*ret_made = made;
	return ex;
}

/* A join run again on a node that has joined (already_joined): whatever the server said
 * (why: the clause saying it; lead: what follows "Already joined"), nothing is fetched and no token
 * use is spent; node certificates asked for are made here (joined_node_certs). Returns 1 when said
 * (the exit status in *ret_exit), 0 when the target is not a completed join (the caller goes on;
 * one that is not what it claims is said). */
static int say_already_joined(const struct join_args *a, const struct join_plan *p,
			      const char *lead, const char *why, int *ret_exit)
{
	char detail[DETAIL_MAX] = "";
	bool etcd_ca = false;
	size_t made = 0;
	int r = already_joined(a, p, &etcd_ca, detail);
	if (r < 0)
		cli_error("note: %s holds a ca.crt with the --ca-cert-hash given, but %s: not "
			  "taken as a completed join",
			  a->pki_dir, detail);
	if (r <= 0)
		return 0;
	if (a->nc.advertise_address) {
		*ret_exit = joined_node_certs(a, etcd_ca, &made);
		if (*ret_exit != EXIT_OK)
			return 1;
	}
	printf("[join] Already joined%s: %s holds this cluster's shared PKI (its ca.crt has the "
	       "--ca-cert-hash given, and every shared file is there and parses); %s: nothing "
	       "was fetched%s%s\n",
	       lead, a->pki_dir, why, p->token ? " and no token use was spent" : "",
	       a->flags & PKIDIR_DRY_RUN ? " (dry run: nothing was written)"
	       : made ? "; this node's certificates were made here from its CAs (above)"
		      : ", and nothing was changed");
	*ret_exit = EXIT_OK;
	return 1;
}

/* server answered 404 for the description (resp): it holds no bundle, and the body says
 * what became of the last one. A target that already holds this cluster's shared PKI is
 * a completed join run again: said, 0 with *ret_exit. Else said with the server's reason;
 * returns -ENOENT to try the next server when there is one, else 0, with *ret_exit the
 * reason's exit status. Nothing was enrolled, fetched or written either way. */
static int say_not_held(const struct join_args *a, const struct join_plan *p, const char *server,
			const struct http_response *resp, bool more, int *ret_exit)
{
	struct refusal why;
	char clause[512];

	refusal_parse(resp, &why);
	if (!why.reason[0])
		str_copy(why.reason, sizeof(why.reason), api_reason_name(API_R_NOT_FOUND));
	str_format(clause, sizeof(clause),
		   "%s holds no bundle now (%s), so nothing could be compared", server, why.reason);
	if (say_already_joined(a, p, "", clause, ret_exit))
		return 0;
	cli_error("%s answered 404 (%s) for the bundle's description: %s%s", server, why.reason,
		  why.msg,
		  more ? "; trying the next --server" : "; nothing was fetched or written");
	*ret_exit = cli_reason_exit(why.reason);
	return more ? -ENOENT : 0;
}

/* The end of a dry run: what server holds and a join would do (m: its description, or
 * NULL if it gave none). Returns EXIT_OK, or said and EXIT_FAIL. */
static int say_dry_run(const struct join_args *a, const char *server, const struct bundle_meta *m)
{
	char used[64];

	if (!m) {
		cli_error("%s does not describe its bundle (GET /v1/bundle/info: an older "
			  "pkishared?); a dry run never fetches it, so nothing was checked past "
			  "the connection",
			  server);
		return EXIT_FAIL;
	}
	if (m->max_fetches)
		snprintf(used, sizeof(used), "%lld of %lld fetches used", m->fetches,
			 m->max_fetches);
	else
		snprintf(used, sizeof(used), "%lld fetch(es), no limit", m->fetches);
	printf("[join] Dry run: %s holds bundle %s (key id %s matches the certificate key; %s); "
	       "would fetch it and install it into %s; nothing was fetched or written\n",
	       server, m->id, m->key_id, used, a->pki_dir);
	return EXIT_OK;
}

/* The target records (JOINED_FILE_NAME) that it holds the PKI of bundle m, the one server
 * holds now, with the pinned CA: a completed join run again, said by say_already_joined
 * (true, with *ret_exit). */
static bool joined_same(const struct join_args *a, const struct join_plan *p,
			const struct bundle_meta *m, const char *server, int *ret_exit)
{
	struct joined j;
	char pin[PIN_TEXT_LEN + 1], at[RFC3339_LEN], lead[128], clause[512];
	pin_format(p->pin, pin);
	if ((a->flags & PKIDIR_FORCE) || joined_load(a->pki_dir, &j) < 0 ||
	    strcmp(j.bundle_id, m->id) != 0 || strcmp(j.ca_cert_hash, pin) != 0)
		return false;
	time_format(j.at, at);
	str_format(lead, sizeof(lead), " with bundle %s at %s", m->id, at);
	str_format(clause, sizeof(clause), "%s records it, and %s still holds that bundle",
		   JOINED_FILE_NAME, server);
	return say_already_joined(a, p, lead, clause, ret_exit) > 0;
}

/* Plan with server i's description of its bundle (GET /v1/bundle/info: not a fetch, it
 * spends nothing; a joiner with a token sends it as bearer, which is checked and not
 * spent: bearer, else NULL); a dry run ends here. Returns as the steps above; >0 with
 * *described saying whether *meta was filled. */
static int join_describe(const struct join_args *a, const struct join_plan *p,
			 const struct net_tls_opts *o, size_t i, const struct secret *bearer,
			 struct bundle_meta *meta, bool *described, int *ret_exit)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	char detail[DETAIL_MAX] = "";
	const char *server = a->servers[i];
	bool more = i + 1 < a->n_servers, dry = a->flags & PKIDIR_DRY_RUN;

	int r = net_https_request(o, "GET", API_ROUTE_BUNDLE_INFO,
				  bearer ? (const char *)bearer->data : NULL, NULL, &resp, detail);
	if (r < 0)
		return say_failed(server, r, detail, more, ret_exit);
	if (bearer && (resp.status == 401 || resp.status == 429)) {
		struct refusal why;
		refusal_parse(&resp, &why);
		/* The printed command run again after it worked: its token is used up (or
		 * gone), and the target holds the pinned cluster's PKI. */
		char clause[256];
		str_format(clause, sizeof(clause),
			   "the join token is no longer good (%s), so nothing could be compared",
			   why.reason);
		if (resp.status == 401 && say_already_joined(a, p, "", clause, ret_exit))
			return 0;
		say_token_refused(server, i, resp.status, why.reason, why.msg);
		*ret_exit = EXIT_FORBIDDEN;
		return 0;
	}
	if (resp.status == 403) {
		struct refusal why;
		refusal_parse(&resp, &why);
		*ret_exit = cli_refused(server, why.reason, why.msg);
		return 0;
	}
	if (resp.status == 503) {
		/* Not held here yet, or no coordination: another server may do better. */
		struct refusal why;
		refusal_parse(&resp, &why);
		cli_error("%s answered 503 (%s): %s%s", server, why.reason, why.msg,
			  more ? "; trying the next --server" : "");
		*ret_exit = more ? EXIT_UNREACHABLE : cli_reason_exit(why.reason);
		return more ? -ENOENT : 0;
	}
	int m = meta_parse(&resp, meta);
	if (m == 0)
		return say_not_held(a, p, server, &resp, more, ret_exit);
	/* With a join token, a repeat would spend a use and (an enrolled identity is new each
	 * time) a fetch: the record of the install says whether this very bundle is here. A
	 * client-CA repeat is not counted, and the install's byte compare checks more. */
	if (m > 0 && p->token && joined_same(a, p, meta, server, ret_exit))
		return 0;
	if (m > 0) {
		*ret_exit = clock_check(a, server, resp.date, meta);
		if (*ret_exit == EXIT_OK)
			*ret_exit = meta_check(a, p, meta, server);
		/* Several control-plane nodes: this one may be behind the cluster (cut off from
		 * etcd, holding a bundle a newer upload replaced), and another may hold the
		 * bundle this key opens. Nothing was spent here. */
		if (*ret_exit == EXIT_ROTATED && more) {
			cli_error("%s: trying the next --server (another node may hold the bundle "
				  "this key opens)",
				  server);
			return -ENOENT;
		}
		if (*ret_exit != EXIT_OK)
			return 0;
	}
	if (dry) {
		*ret_exit = say_dry_run(a, server, m > 0 ? meta : NULL);
		return 0;
	}
	*described = m > 0;
	return 1;
}

/* server answered 409 other-bundle-held to the fetch of bundle planned: it holds another
 * one now (uploaded since the plan, so sealed with another key), and counted nothing.
 * Said, with the bundle it holds now (GET /v1/bundle/info, not a fetch). Returns nothing:
 * join stops with EXIT_ROTATED. */
static void say_other_bundle(const struct net_tls_opts *o, const char *server, const char *planned)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	struct bundle_meta now;
	char detail[DETAIL_MAX] = "", held[BUNDLE_ID_HEX_LEN + KEY_ID_HEX_LEN + 32] = "another";
	if (net_https_get(o, API_ROUTE_BUNDLE_INFO, &resp, detail) >= 0 &&
	    meta_parse(&resp, &now) > 0)
		snprintf(held, sizeof(held), "bundle %s (key id %s)", now.id, now.key_id);
	cli_error("%s holds %s now, not bundle %s this join planned on: a newer 'pkishare "
		  "upload-certs' replaced it after the plan, and the certificate key given is not "
		  "its key; nothing was fetched or written and no fetch was counted; run join "
		  "again with the certificate key that the latest upload-certs printed",
		  server, held, planned);
}

/* Act: fetch the bundle from server i and install it with this node's certificates in
 * one step (before: the description the plan had, or NULL). The fetch names the planned
 * bundle (?id=): the server refuses it, counting nothing, if another one is held now.
 * Returns as the steps above (never >0: the join is decided, or the next server is
 * tried). */
static int join_fetch_install(struct join_args *a, const struct join_plan *p,
			      const struct net_tls_opts *o, size_t i,
			      const struct bundle_meta *before, int *ret_exit)
{
	_cleanup_(http_response_done) struct http_response resp = {0};
	char detail[DETAIL_MAX] = "";
	const char *server = a->servers[i];
	bool more = i + 1 < a->n_servers;
	char route[sizeof(API_ROUTE_BUNDLE "?" API_Q_ID "=") + BUNDLE_ID_HEX_LEN];

	/* Without a description (an older pkishared), whatever is held: the key id is then
	 * checked only when it is opened. */
	if (before)
		snprintf(route, sizeof(route), "%s?%s=%.*s", API_ROUTE_BUNDLE, API_Q_ID,
			 BUNDLE_ID_HEX_LEN, before->id);
	else
		str_copy(route, sizeof(route), API_ROUTE_BUNDLE);
	int r = net_https_get(o, route, &resp, detail);
	if (r < 0)
		return say_unanswered(server, r, detail, more, ret_exit);
	if (resp.status != 200) {
		struct refusal why;
		refusal_parse(&resp, &why);
		if (before && api_reason_parse(why.reason) == API_R_OTHER_BUNDLE_HELD) {
			say_other_bundle(o, server, before->id);
			*ret_exit = EXIT_ROTATED;
			if (!more)
				return 0;
			cli_error("%s: trying the next --server", server);
			return -ENOENT;
		}
		/* No bundle (or a gone one) here, or this server cannot reach the cluster's
		 * coordination (503: nothing counted): another server may do better. */
		if ((resp.status == 404 || resp.status == 410 || resp.status == 503) && more) {
			cli_error("%s answered %d (%s): %s; trying the next --server", server,
				  resp.status, why.reason, why.msg);
			*ret_exit = EXIT_NOT_FOUND;
			return -ENOENT;
		}
		*ret_exit = cli_refused(server, why.reason, why.msg);
		return 0;
	}
	printf("[join] Fetched the sealed bundle from %s (server verified against %.15s...)\n",
	       server, a->hash);
	/* a->nc's pki_dir, node_name and force were set by join_plan. */
	*ret_exit = install_bundle(resp.body, p->key, p->pin, a->pki_dir, a->flags, "join",
				   a->ext_paths, a->nc.advertise_address ? &a->nc : NULL);
	if (*ret_exit != EXIT_OK)
		say_fetch_spent(o, server, before);
	return 0;
}

/* "Authorization: Bearer TOKEN" in guarded memory into *ret. Returns 0 or -ENOMEM. */
static int bearer_header(const char *token, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *h = secret_new(32 + TOKEN_LEN);
	if (!h || secret_append(h, "Authorization: Bearer ", 22) < 0 ||
	    secret_append(h, token, strlen(token)) < 0 || secret_append(h, "", 1) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(h);
	return 0;
}

/* Try server i: plan with its description (a token is checked, not spent), enroll (with a
 * token: this spends one use), then fetch and install. Returns as the steps above (never
 * >0). */
static int join_server(struct join_args *a, const struct join_plan *p, size_t i, int *ret_exit)
{
	struct net_tls_opts o = {
	    .server = a->servers[i], .pin = p->pin, .cert_file = a->cert, .key_file = a->ckey};
	_cleanup_(evp_pkey_freep) EVP_PKEY *ekey = NULL;
	_cleanup_(x509_freep) X509 *ecert = NULL;
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	struct bundle_meta meta;
	bool described = false, more = i + 1 < a->n_servers;
	char detail[DETAIL_MAX] = "";

	if (p->token && bearer_header(p->token, &bearer) < 0) {
		cli_error("out of memory");
		*ret_exit = EXIT_FAIL;
		return 0;
	}
	int r = join_describe(a, p, &o, i, bearer, &meta, &described, ret_exit);
	if (r <= 0)
		return r;
	if (p->token) {
		r = enroll(&o, p->token, p->node_name, &ekey, &ecert, detail);
		if (r == -EACCES || r == -EAGAIN || r == -EKEYREJECTED || r == -ESTALE) {
			say_enroll_refused(r, detail, a->servers[i], i);
			*ret_exit = EXIT_FORBIDDEN;
			return 0;
		}
		if (r < 0)
			return say_failed(a->servers[i], r, detail, more, ret_exit);
		o.cert = ecert;
		o.key = ekey;
	}
	r = join_fetch_install(a, p, &o, i, described ? &meta : NULL, ret_exit);
	if (p->token && *ret_exit != EXIT_OK)
		cli_error("one use of the join token was spent by this node's enrollment at %s "
			  "(see 'pkishare token list' on the first node); if it has none left, "
			  "make a new one with 'pkishare print-join-command' there",
			  a->servers[i]);
	return r;
}

int fetch_join(struct join_args *a, const struct join_plan *p)
{
	int last_exit = EXIT_UNREACHABLE, last_r = -PKS_E_PIN_MISMATCH;
	for (size_t i = 0; i < a->n_servers; i++) {
		int ex = EXIT_FAIL;
		int r = join_server(a, p, i, &ex);
		if (r >= 0)
			return ex;
		last_exit = ex == EXIT_NOT_FOUND ? last_exit : ex;
		if (ex == EXIT_PIN)
			last_r = r; /* which of the server mismatches, for its advice */
	}
	if (last_exit == EXIT_PIN)
		cli_error("%s", error_message(last_r));
	else if (last_exit == EXIT_FORBIDDEN && a->cert)
		/* The likeliest case for an operator who only has kubeadm: a kubelet's or
		 * another certificate against a token-only pkishared (no client CA). */
		cli_error("pkishared refused this node's client certificate %s: that pkishared "
			  "may be token-only (no client CA; 'pkishare status' there says so), "
			  "where a node joins with a join token: run 'pkishare print-join-command' "
			  "on the first control-plane node and run the command it prints here; "
			  "else use a certificate signed by pkishared's client-ca ('pkishare pki "
			  "client-cert' makes one; for a throwaway test PKI, 'pkishare pki init' "
			  "writes them to DIR/clients)",
			  a->cert);
	else if (last_exit == EXIT_FORBIDDEN)
		cli_error("pkishared refused this node's identity; make a new join command with "
			  "'pkishare print-join-command' on the first control-plane node");
	else
		cli_error("no server could be reached; check --server, the network and that "
			  "pkishared runs on the first control-plane node");
	return last_exit;
}
