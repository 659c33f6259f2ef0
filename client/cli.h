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

/* The exit status for a refusal's reason (api.h's reasons: expired, used up, ...). */
int cli_reason_exit(const char *reason);
/* Say "WHO refused: MSG" (a refusal's message, made printable) and return the exit status
 * for its reason. */
int cli_refused(const char *who, const char *reason, const char *msg);
/* From a JSON error body {"error": "...", "reason": "..."}: both, or false. */
bool api_error_parse(const struct secret *body, char *reason, size_t rlen, char *msg, size_t mlen);
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
int kubeadm_open_and_install(const struct secret *json, const uint8_t *key, const char *pki_dir,
			     unsigned flags, const char *const ext_paths[EXT_ETCD_COUNT]);
int verb_print_join_command(int argc, char **argv);
