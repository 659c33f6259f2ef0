/* cli.h - pkishare's verbs, exit statuses and the helpers they share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "api.h"
#include "macro.h"
#include "net.h"
#include "pkidir.h"
#include "secret.h"

/* The external etcd files as getopt_long entries, their values base + EXT_ETCD_CA, ...:
 * on upload the files to carry, on join and decrypt where to install them. */
#define EXT_ETCD_LONG_OPTIONS(base)                                                                \
	{"external-etcd-ca", required_argument, NULL, (base) + EXT_ETCD_CA},                       \
	    {"external-etcd-cert", required_argument, NULL, (base) + EXT_ETCD_CERT},               \
	{                                                                                          \
		"external-etcd-key", required_argument, NULL, (base) + EXT_ETCD_KEY                \
	}

/* Exit statuses (documented in pkishare(1)). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_EXPIRED = 3,   /* the bundle expired */
	EXIT_ROTATED = 4,   /* the key is not the bundle's key (rotated?) */
	EXIT_USED_UP = 5,   /* the bundle reached its maximum number of fetches, or was deleted */
	EXIT_NOT_FOUND = 6, /* nothing uploaded */
	EXIT_FORBIDDEN = 7, /* the server refused our identity */
	EXIT_AUTH = 8,	    /* authentication of the bundle failed: wrong key or tampering */
	EXIT_PIN = 9,	    /* the server is not the pinned cluster */
	EXIT_EXISTS = 10,   /* target holds different files or a readable key; no --force */
	EXIT_UNREACHABLE = 11, /* no server could be reached */
};

#define DEFAULT_PKI_DIR "/etc/kubernetes/pki"
#define DEFAULT_ADMIN_SOCKET API_ADMIN_SOCKET

/* Print "pkishare: <msg>" on stderr. */
void cli_error(const char *fmt, ...) _printf_(1, 2);
/* Map a library error to an exit status. */
int cli_exit_for(int err);
/* The admin socket: --admin-socket, else $PKISHARE_ADMIN_SOCKET, else the default. */
const char *cli_admin_socket(const char *opt);
/* The environment variables that carry the secrets a joining node needs: the
 * environment of a process is readable only by its owner with ptrace rights
 * (/proc/PID/environ), its argv by every local user (/proc/PID/cmdline). */
#define CLI_ENV_KEY "PKISHARE_CERTIFICATE_KEY"
#define CLI_ENV_TOKEN "PKISHARE_TOKEN"

/* A secret given as the flag's argument arg (in argv; NULL: not given) or in the
 * environment variable env: copied into guarded memory (*ret, NULL when neither is set),
 * the original overwritten in place (argv: /proc/PID/cmdline; the environment:
 * /proc/PID/environ) and env unset. The flag wins over env, and both say so on stderr, as
 * a flag says that argv is readable by every local user. *ret_from names where the value
 * came from, for messages. "-" is a value like any other here (cli_key_take reads the
 * key from standard input for it). Returns an exit status (an empty env: said,
 * EXIT_USAGE). */
int cli_secret_take(const char *flag, char *arg, const char *env, struct secret **ret,
		    const char **ret_from);
/* The certificate key, from --certificate-key's argument arg (NULL: not given; "-": one
 * line of standard input) or PKISHARE_CERTIFICATE_KEY, parsed into key (guarded
 * memory), every copy outside guarded memory overwritten (cli_secret_take). *ret_given:
 * whether a key was given at all (key untouched if not). Returns an exit status. */
int cli_key_take(char *arg, uint8_t *key, bool *ret_given);

/* From a JSON error body {"error": "...", "reason": "..."}: both, or false. */
bool api_error_parse(const struct secret *body, char *reason, size_t rlen, char *msg, size_t mlen);
/* Say that the admin socket could not be used (r: -errno from net_unix_request), and what to
 * check; returns EXIT_UNREACHABLE. */
int cli_admin_unreachable(const char *sock, int r);
/* "unknown 'VERB' verb 'GIVEN'", with "did you mean" the closest of names when it is a
 * likely typo (given made printable). Returns nothing: the caller exits EXIT_USAGE. */
void cli_unknown_sub(const char *verb, const char *given, const char *const *names, size_t n);

int verb_certificate_key(int argc, char **argv);
int verb_pki(int argc, char **argv);
int verb_upload_certs(int argc, char **argv);
int verb_delete_certs(int argc, char **argv);
int verb_reload(int argc, char **argv);
int verb_status(int argc, char **argv);
int verb_join(int argc, char **argv);
int verb_decrypt(int argc, char **argv);
int verb_token(int argc, char **argv);
int verb_export(int argc, char **argv);
/* External etcd entries of a bundle: move them out of set into ext[EXT_ETCD_COUNT] (NULL if
 * absent), and install them at paths (--external-etcd-ca/-cert/-key); PKIDIR_DRY_RUN only checks.
 */
void external_split(struct pki_set *set, struct secret *ext[EXT_ETCD_COUNT]);
/* Before anything is fetched or written: the external etcd destinations are three
 * different files, none inside pki_dir (which the install replaces). from_profile[i]
 * (NULL: none) says that paths[i] comes from the cluster profile, not a flag, for the
 * message. Without PKIDIR_FORCE in flags, an existing key file (paths[EXT_ETCD_KEY])
 * readable by group or others is refused too. An exit status. */
int external_paths_check(const char *const paths[EXT_ETCD_COUNT],
			 const bool from_profile[EXT_ETCD_COUNT], const char *pki_dir,
			 unsigned flags);
int external_install(struct secret *const ext[EXT_ETCD_COUNT],
		     const char *const paths[EXT_ETCD_COUNT], unsigned flags, const char *tag);
int kubeadm_open_and_install(const struct secret *json, const uint8_t *key, const char *pki_dir,
			     unsigned flags, const char *const ext_paths[EXT_ETCD_COUNT]);
int verb_print_join_command(int argc, char **argv);

/* Fetch the daemon's status JSON over the admin socket (NULL on failure, with r set). */
struct json_t;
struct json_t *admin_status(const char *sock, int *ret_err);
