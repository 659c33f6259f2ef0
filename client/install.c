/* install.c - a sealed bundle opened and installed: checked against the key, its cluster
 * profile kept, this node's certificates made when asked, and the shared PKI installed
 * in one atomic step, then the external etcd files. Shared by join and decrypt; every
 * refusal is said here, once. The key and the plaintext stay in guarded memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "addr.h"
#include "bundle.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "etcdext.h"
#include "install.h"
#include "joined.h"
#include "key.h"
#include "kubeconf.h"
#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"
#include "token.h"
#include "util.h"
#include "x509.h"

/* The bundle's profile (authenticated by bundle_open with every entry), or an empty one.
 * Returns nothing: it cannot fail. */
static void bundle_profile(const struct bundle *b, struct profile *ret)
{
	json_t *o = b->profile ? json_loads(b->profile, 0, NULL) : NULL;
	if (!o || profile_from_json(o, ret, NULL) < 0)
		memset(ret, 0, sizeof(*ret));
	json_decref(o);
}

/* Keep the bundle's profile in the PKI directory with the shared PKI, in the same atomic
 * install, for a later `pki node-certs` (the curl path makes its node certificates that
 * way). Root-only; replaced when the bundle's differs (it describes the last bundle
 * installed there, not a file the operator made). A bundle without a profile keeps none,
 * but empties one an earlier bundle left ("{}"), so that it is never taken for this
 * cluster's. EXIT_OK, or said and EXIT_FAIL (out of memory). */
static int profile_keep(const struct profile *prof, const char *pki_dir, struct pki_set *plain)
{
	char path[PATH_MAX];
	if (!profile_is_set(prof) &&
	    (str_format(path, sizeof(path), "%s/%s", pki_dir, PROFILE_FILE_NAME) ||
	     faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) != 0))
		return EXIT_OK;
	_cleanup_(freep) char *text = profile_canonical(prof);
	struct secret *data = text ? secret_dup(text, strlen(text)) : NULL;
	int r = !data || secret_append(data, "\n", 1) < 0 ? -ENOMEM : 0;
	if (r < 0)
		secret_free(data);
	else
		r = pki_set_add(plain, PROFILE_FILE_NAME, 0600, data); /* frees data on failure */
	if (r < 0) {
		cli_error("cannot keep the cluster profile in the PKI directory: %s; nothing was "
			  "written",
			  error_message(r));
		return EXIT_FAIL;
	}
	plain->e[plain->n - 1].replace = true;
	pki_set_sort(plain);
	return EXIT_OK;
}

/* A bundle expired by this node's clock, said with both times: pkishared serves a bundle
 * only until it expires, so one fetched just now that reads as expired here means this
 * node's clock is ahead (the reviewer's node 3 h ahead was told to upload again). */
static void say_expired(const struct bundle *b)
{
	char created[RFC3339_LEN], until[RFC3339_LEN], now_txt[RFC3339_LEN], life[32];
	int64_t now = time_now();
	time_format(b->created_at, created);
	time_format(b->expires_at, until);
	time_format(now, now_txt);
	duration_format(b->expires_at - b->created_at, life, sizeof(life));
	cli_error("bundle %s was sealed at %s and expired at %s (a lifetime of %s) by this "
		  "node's clock, which reads %s. If it was fetched just now (pkishared serves a "
		  "bundle only until it expires), this node's clock is ahead: check it with "
		  "'timedatectl' and fix it (NTP: timedatectl set-ntp true), then run this again; "
		  "if it really was uploaded more than %s ago, run 'pkishare upload-certs' on the "
		  "first control-plane node and use the new key; nothing was written",
		  b->id, created, until, life, now_txt, life);
}

/* Parse and open the bundle in json (or explain the error body there) into b and plain,
 * which the caller clears: EXIT_OK, or said and the exit status. */
static int bundle_read(const struct secret *json, const uint8_t *key, struct bundle *b,
		       struct pki_set *plain)
{
	char detail[DETAIL_MAX] = "", reason[64], msg[512];

	if (api_error_parse(json, reason, sizeof(reason), msg, sizeof(msg)))
		return cli_refused("the server", reason, msg);
	int r = bundle_parse((const char *)json->data, json->len, b, detail);
	if (r < 0) {
		cli_error("this is not a usable bundle: %s (%s); nothing was written",
			  error_message(r), detail);
		return EXIT_FAIL;
	}
	r = bundle_open(b, key, time_now(), 0, plain, detail);
	if (r < 0) {
		if (r == -PKS_E_EXPIRED)
			say_expired(b);
		else if (r == -PKS_E_KEY_MISMATCH)
			cli_error("%s (%s); nothing was written", error_message(r), detail);
		else if (r == -PKS_E_AUTH)
			cli_error("entry %s: %s", detail, error_message(r));
		else
			cli_error("cannot open the bundle: %s (%s); nothing was written",
				  error_message(r), detail);
		return cli_exit_for(r);
	}
	return EXIT_OK;
}

/* The opened bundle's own key pairs (a CA key of another cluster would sign node
 * certificates that fail to verify, and sa.key tokens the API server rejects), and its
 * ca.crt against the pin join was given (pin NULL: decrypt, none): the server's chain was
 * checked in the handshake, but the bundle came from whoever uploaded it. Before anything
 * is written. EXIT_OK, or said and the exit status. */
static int bundle_trust_check(const struct bundle *b, const struct pki_set *plain,
			      const uint8_t *pin, const char *tag)
{
	char detail[DETAIL_MAX] = "";
	int r = x509_set_pairs_check(plain, detail);
	if (r < 0) {
		cli_error("bundle %s: %s: this PKI cannot sign (another cluster's key, or a file "
			  "replaced); nothing was written: on the first control-plane node, fix "
			  "its PKI directory and run 'pkishare upload-certs' again",
			  b->id, detail);
		return EXIT_FAIL;
	}
	if (!pin)
		return EXIT_OK;
	const struct pki_entry *ca = pki_set_find(plain, "ca.crt");
	_cleanup_(x509_freep) X509 *cert = NULL;
	uint8_t have[PIN_BYTES];
	if (ca && x509_cert_load(ca->data->data, ca->data->len, &cert) == 0 &&
	    pin_of_cert(cert, have) == 0 && memcmp(have, pin, PIN_BYTES) == 0)
		return EXIT_OK;
	char text[PIN_TEXT_LEN + 1] = "none";
	if (cert)
		pin_format(have, text);
	cli_error("bundle %s carries a cluster CA (ca.crt %s) that is not the pinned cluster's "
		  "(--ca-cert-hash): pkishared serves with this cluster's chain, but the PKI "
		  "uploaded to it is another cluster's; nothing was written. On the first "
		  "control-plane node, run 'pkishare upload-certs --pki-dir' with the PKI "
		  "directory of the cluster pkishared serves for (the %s stops here)",
		  b->id, text, tag);
	return EXIT_PIN;
}

/* Install plain into pki_dir in one step, then the external etcd files ext: EXIT_OK, or
 * said and the exit status. The external files are checked (a dry run) before anything is
 * written; with_node says whether plain carries this node's certificates. */
static int install_all(const char *pki_dir, const struct pki_set *plain,
		       struct secret *const ext[EXT_ETCD_COUNT],
		       const char *const ext_paths[EXT_ETCD_COUNT], unsigned flags, const char *tag,
		       bool with_node, struct pkidir_report *rep)
{
	char detail[DETAIL_MAX] = "";

	int ex = etcdext_install(ext, ext_paths, flags | PKIDIR_DRY_RUN, tag);
	if (ex != EXIT_OK)
		return ex;
	int r = pkidir_install(pki_dir, plain, flags, rep, detail);
	if (r < 0) {
		if (r == -PKS_E_EXISTS)
			cli_error("%s already exists in %s with different contents; %s", detail,
				  pki_dir, error_message(r));
		else
			cli_error("cannot install into %s: %s (%s); %s was left as it was", pki_dir,
				  error_message(r), detail, pki_dir);
		return cli_exit_for(r);
	}
	if (flags & PKIDIR_DRY_RUN)
		return EXIT_OK;
	ex = etcdext_install(ext, ext_paths, flags, tag);
	if (ex != EXIT_OK)
		/* Checked above, so rare (the disk filled, a file appeared): say what is done. */
		cli_error("the shared PKI%s was installed into %s; the external etcd files were "
			  "not all installed (see above): fix that and join again (what is in %s "
			  "is kept as identical)",
			  with_node ? " and this node's certificates" : "", pki_dir, pki_dir);
	return ex;
}

/* Say what was opened and installed (or in a dry run would be), and this node's
 * certificates when nc is not NULL. Returns nothing: it only prints. */
static void say_installed(const struct bundle *b, const char *pki_dir, unsigned flags,
			  const char *tag, const struct pkidir_report *rep,
			  const struct nodecerts_opts *nc, size_t made, size_t kept,
			  bool kept_profile, bool record_changed)
{
	char created[RFC3339_LEN];

	time_format(b->created_at, created);
	printf("[%s] Opened bundle %s (sealed %s, key id %s): %zu files authenticated\n", tag,
	       b->id, created, b->key_id, b->files.n);
	if (flags & PKIDIR_DRY_RUN)
		printf("[%s] Dry run: would write %zu file(s) into %s (%zu already identical); "
		       "nothing was written\n",
		       tag, rep->written, pki_dir, rep->unchanged);
	else if (rep->written == 0)
		printf("[%s] Already installed: every file of the bundle is in %s with identical "
		       "contents; nothing was changed\n",
		       tag, pki_dir);
	else if (rep->written == 1 && record_changed)
		printf("[%s] Already installed: every file of the bundle is in %s with identical "
		       "contents; only %s was updated to name this bundle\n",
		       tag, pki_dir, JOINED_FILE_NAME);
	else
		printf("[%s] Installed the shared PKI%s into %s in one step: %zu written, %zu "
		       "already identical, %zu other file(s) kept\n",
		       tag, made ? " and this node's certificates" : "", pki_dir, rep->written,
		       rep->unchanged, rep->kept);
	if (kept_profile && !(flags & PKIDIR_DRY_RUN))
		printf("[%s] Kept the cluster profile in %s/%s for `pkishare pki node-certs`\n",
		       tag, pki_dir, PROFILE_FILE_NAME);
	if (nc)
		printf("[%s] Node certificates for %s (%s): %zu generated, %zu already present, "
		       "checked and kept%s\n",
		       tag, nc->node_name, nc->advertise_address, made, kept,
		       kept && !nc->force ? " (--force to replace)" : "");
}

/* With --force the shared PKI is replaced, and node certificates in pki_dir that the
 * bundle's CAs did not sign (another cluster's) would be left signed by a CA that is gone,
 * which kubeadm refuses: made anew when regenerate (--advertise-address: said here), else
 * refused before anything is written. EXIT_OK, or said and EXIT_EXISTS. */
static int stale_node_certs_check(const char *pki_dir, const struct pki_set *plain, unsigned flags,
				  const char *tag, bool regenerate)
{
	char list[512];
	if (!(flags & PKIDIR_FORCE) || nodecerts_foreign(pki_dir, plain, list, sizeof(list)) == 0)
		return EXIT_OK;
	if (regenerate) {
		printf(
		    "[%s] Replacing this node's certificates %s: signed by another CA (--force)\n",
		    tag, list);
		return EXIT_OK;
	}
	if (!strcmp(tag, "join"))
		cli_error("%s holds node certificates the bundle's CAs did not sign (%s): --force "
			  "would replace the shared PKI and leave them signed by a CA that is gone "
			  "(kubeadm refuses them); join again with --node-name N "
			  "--advertise-address IP to make new ones in the same step; nothing was "
			  "written",
			  pki_dir, list);
	else
		cli_error(
		    "%s holds node certificates the bundle's CAs did not sign (%s): --force "
		    "would replace the shared PKI and leave them signed by a CA that is gone "
		    "(kubeadm refuses them); remove them (or kubeadm reset), run decrypt "
		    "--force again, then pkishare pki node-certs --advertise-address IP to make "
		    "new ones; nothing was written",
		    pki_dir, list);
	return EXIT_EXISTS;
}

int install_bundle(const struct secret *json, const uint8_t *key, const uint8_t *pin,
		   const char *pki_dir, unsigned flags, const char *tag,
		   const char *ext_given[EXT_ETCD_COUNT], struct nodecerts_opts *nc)
{
	_cleanup_(bundle_done) struct bundle b = {0};
	_cleanup_(pki_set_clear) struct pki_set plain = {0};
	_cleanup_(ext_etcd_freep) struct secret *ext[EXT_ETCD_COUNT] = {0};
	struct pkidir_report rep = {0};
	struct profile prof;
	const char *ext_paths[EXT_ETCD_COUNT];
	bool ext_from_profile[EXT_ETCD_COUNT];
	size_t made = 0, kept = 0;

	int ex = bundle_read(json, key, &b, &plain);
	if (ex == EXIT_OK)
		ex = bundle_trust_check(&b, &plain, pin, tag);
	if (ex != EXIT_OK)
		return ex;
	bundle_profile(&b, &prof);
	ex = profile_keep(&prof, pki_dir, &plain);
	if (ex != EXIT_OK)
		return ex;
	/* Which bundle this install came from, so that join run again while it is held
	 * spends nothing (fetch.c). */
	bool record_changed = false;
	int r = joined_add(&b, pki_dir, &plain, &record_changed);
	if (r < 0) {
		cli_error("cannot record the bundle installed: %s; nothing was written",
			  error_message(r));
		return EXIT_FAIL;
	}
	etcdext_paths_pick(ext_given, &prof, ext_paths, ext_from_profile);
	/* The profile's paths as the flags' were checked by the plan (join's with the
	 * description; decrypt's only now, before anything is written). */
	ex = etcdext_paths_check(ext_paths, ext_from_profile, pki_dir, flags);
	if (ex != EXIT_OK)
		return ex;
	ex = stale_node_certs_check(pki_dir, &plain, flags, tag, nc != NULL);
	if (ex != EXIT_OK)
		return ex;
	if (nc) {
		nc->external_etcd = ext_paths[0] != NULL || prof.external_ca[0];
		nodecerts_take_profile(nc, &prof, NULL); /* said by the plan */
		ex = nodecerts_build(nc, &plain, &plain, &made, &kept, tag);
		if (ex != EXIT_OK)
			return ex;
	}
	etcdext_split(&plain, ext);
	ex = install_all(pki_dir, &plain, ext, ext_paths, flags, tag, made != 0, &rep);
	if (ex != EXIT_OK)
		return ex;
	say_installed(&b, pki_dir, flags, tag, &rep, nc, made, kept, profile_is_set(&prof),
		      record_changed);
	return EXIT_OK;
}
