/* main.c - pkishare: verb dispatch and the helpers every verb shares.
 *
 * Must never print a secret except the one line upload-certs and certificate-key exist
 * to print. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "key.h"
#include "util.h"

/* The longest verb name compared for "did you mean" (longer input: no suggestion). */
#define VERB_NAME_MAX 32

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("pkishare: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_exit_for(int err)
{
	switch (-err) {
	case PKS_E_EXPIRED:
		return EXIT_EXPIRED;
	case PKS_E_KEY_MISMATCH:
		return EXIT_ROTATED;
	case PKS_E_AUTH:
		return EXIT_AUTH;
	case PKS_E_PIN_MISMATCH:
	case PKS_E_SERVER_NAME:
	case PKS_E_API_SERVER:
	case PKS_E_SERVER_NO_CA:
		return EXIT_PIN;
	case PKS_E_EXISTS:
	case PKS_E_KEY_MODE:
		return EXIT_EXISTS;
	default:
		return EXIT_FAIL;
	}
}

/* The value of the environment variable name, moved into guarded memory (*ret, NULL if
 * it is not set): the string in the environment block is overwritten in place, so that
 * /proc/PID/environ no longer shows it, and the variable is unset. 0 or -ENOMEM (the
 * value is wiped and unset all the same). */
static int env_take(const char *name, struct secret **ret)
{
	char *v = getenv(name);
	if (!v) {
		*ret = NULL;
		return 0;
	}
	size_t n = strlen(v);
	struct secret *s = secret_dup(v, n);
	secret_wipe(v, n);
	unsetenv(name);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int cli_secret_take(const char *flag, char *arg, const char *env, struct secret **ret,
		    const char **ret_from)
{
	_cleanup_(secret_freep) struct secret *from_env = NULL;
	if (env_take(env, &from_env) < 0)
		return EXIT_FAIL;
	if (arg) {
		if (from_env)
			fprintf(stderr,
				"pkishare: both %s and %s are given; using %s's value (the command "
				"line wins), %s is ignored\n",
				flag, env, flag, env);
		fprintf(stderr,
			"pkishare: warning: %s on the command line can be read by every local "
			"user (ps, /proc/PID/cmdline) until pkishare blanks it; put it in the "
			"environment instead: %s=VALUE pkishare ...\n",
			flag, env);
		struct secret *s = secret_dup(arg, strlen(arg));
		/* Hide it from ps and /proc/PID/cmdline from now on. */
		secret_wipe(arg, strlen(arg));
		if (!s)
			return EXIT_FAIL;
		*ret = s;
		*ret_from = flag;
		return EXIT_OK;
	}
	if (from_env && from_env->len == 0) {
		cli_error("%s is set but empty: give it the value (%s=VALUE pkishare ...) or unset "
			  "it; nothing was done",
			  env, env);
		return EXIT_USAGE;
	}
	*ret = TAKE_PTR(from_env);
	*ret_from = env;
	return EXIT_OK;
}

/* One line of standard input into *ret (guarded memory). An exit status. */
static int key_line_read(struct secret **ret)
{
	/* One byte at a time from the descriptor, straight into guarded memory: stdio would
	 * keep a copy of the key in its buffer for the life of the process (and swallow
	 * whatever follows the key line on stdin, such as a bundle). */
	_cleanup_(secret_freep) struct secret *line = secret_new(128);
	char cc = 0;
	ssize_t n;
	while (line && (n = read(STDIN_FILENO, &cc, 1)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Blank lines and blanks before the key are skipped, as the command line's
		 * form trims them: a paste often starts with a line ending. */
		if (line->len == 0 && (cc == '\n' || cc == '\r' || cc == ' ' || cc == '\t'))
			continue;
		if (cc == '\n' || line->len > 100 || secret_append(line, &cc, 1) < 0)
			break;
	}
	secret_wipe(&cc, sizeof(cc));
	if (!line)
		return EXIT_FAIL;
	*ret = TAKE_PTR(line);
	return EXIT_OK;
}

int cli_key_take(char *arg, uint8_t *key, bool *ret_given)
{
	char detail[DETAIL_MAX] = "";
	_cleanup_(secret_freep) struct secret *text = NULL;
	const char *from = NULL;

	int ex;
	if (arg && strcmp(arg, "-") == 0) {
		/* Standard input, asked for on the command line: it wins over the variable,
		 * which is wiped all the same. */
		_cleanup_(secret_freep) struct secret *env = NULL;
		if (env_take(CLI_ENV_KEY, &env) < 0)
			return EXIT_FAIL;
		if (env)
			fprintf(stderr,
				"pkishare: both --certificate-key - and " CLI_ENV_KEY
				" are given; using standard input, " CLI_ENV_KEY " is ignored\n");
		ex = key_line_read(&text);
		from = "standard input";
	} else {
		ex = cli_secret_take("--certificate-key", arg, CLI_ENV_KEY, &text, &from);
	}
	if (ex != EXIT_OK)
		return ex;
	if (!text) {
		*ret_given = false;
		return EXIT_OK;
	}
	int r = key_parse((const char *)text->data, key, detail);
	if (r < 0) {
		cli_error("invalid certificate key (from %s): %s; %s", from, detail,
			  error_message(r));
		return EXIT_USAGE;
	}
	*ret_given = true;
	return EXIT_OK;
}

int cli_reason_exit(const char *reason)
{
	switch (api_reason_parse(reason)) {
	case API_R_EXPIRED:
		return EXIT_EXPIRED;
	case API_R_USED_UP:
	case API_R_DELETED:
	case API_R_LOST:
		return EXIT_USED_UP;
	case API_R_NOT_FOUND:
		return EXIT_NOT_FOUND;
	case API_R_FORBIDDEN:
		return EXIT_FORBIDDEN;
	default:
		return EXIT_FAIL;
	}
}

int cli_refused(const char *who, const char *reason, const char *msg)
{
	cli_error("%s refused: %s", who, msg);
	return cli_reason_exit(reason);
}

bool api_error_parse(const struct secret *body, char *reason, size_t rlen, char *msg, size_t mlen)
{
	if (!body || body->len == 0)
		return false;
	json_t *j = json_loadb((const char *)body->data, body->len, 0, NULL);
	const char *e = j ? json_string_value(json_object_get(j, API_F_ERROR)) : NULL;
	const char *rs = j ? json_string_value(json_object_get(j, API_F_REASON)) : NULL;
	bool ok = e && rs;
	if (ok) {
		str_copy(reason, rlen, rs);
		str_copy(msg, mlen, e);
		/* Text from the other side reaches a terminal: no escape sequences. */
		str_printable(reason);
		str_printable(msg);
	}
	json_decref(j);
	return ok;
}

static int verb_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("pkishare %s\n", PKISHARE_VERSION);
	return EXIT_OK;
}

/* Levenshtein distance of a and b (short: verb names), for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > VERB_NAME_MAX || lb > VERB_NAME_MAX)
		return SIZE_MAX;
	size_t row[VERB_NAME_MAX + 1];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The shortest prefix of a name taken as that name ("del" for delete-certs). */
#define VERB_PREFIX_MIN 3

/* The closest of names to given if it is a likely typo (at most 2 edits, a swap is 2,
 * and fewer than the word) or the start of exactly one name ("delete" for delete-certs,
 * VERB_PREFIX_MIN characters at least), else NULL. */
static const char *closest(const char *given, const char *const *names, size_t n)
{
	const char *best = NULL, *prefix_of = NULL;
	size_t best_d = SIZE_MAX, prefixes = 0, len = strlen(given);
	for (size_t i = 0; i < n; i++) {
		if (names[i][0] != '-' && len >= VERB_PREFIX_MIN &&
		    !strncmp(given, names[i], len)) {
			prefixes++;
			prefix_of = names[i];
		}
	}
	if (prefixes == 1)
		return prefix_of;
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(given, names[i]);
		if (names[i][0] != '-' && d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	return best && best_d <= 2 && best_d < strlen(given) ? best : NULL;
}

void cli_unknown_sub(const char *verb, const char *given, const char *const *names, size_t n)
{
	char shown[VERB_NAME_MAX + 1];
	str_copy(shown, sizeof(shown), given);
	str_printable(shown);
	const char *best = closest(given, names, n);
	if (best)
		cli_error("unknown '%s' verb '%s'; did you mean '%s'?", verb, shown, best);
	else
		cli_error("unknown '%s' verb '%s'", verb, shown);
}

static void usage(FILE *f)
{
	fputs("Usage: pkishare VERB [OPTIONS]\n"
	      "Share a Kubernetes control plane's PKI with the control-plane nodes that join it.\n"
	      "\n"
	      "On the first control-plane node:\n"
	      "  pki init            make a throwaway cluster PKI (demos and tests)\n"
	      "  pki serving-cert    make pkishared's serving certificate from the cluster CA\n"
	      "  pki ca-cert-hash    print a CA's sha256:<hex> pin\n"
	      "  pki node-certs      make this node's own certificates from the shared CAs\n"
	      "  upload-certs        seal the PKI under a fresh key and hand it to pkishared\n"
	      "  delete-certs        wipe the held bundle now\n"
	      "  reload              make pkishared re-read its configuration, and say if it took "
	      "it\n"
	      "  status              what pkishared holds\n"
	      "  certificate-key     print a new certificate key\n"
	      "  token create|list|delete   join tokens for nodes without a certificate\n"
	      "  print-join-command  a token and the command a joining node runs\n"
	      "\n"
	      "On a joining control-plane node:\n"
	      "  join                fetch, open and install the shared PKI\n"
	      "  decrypt             open a bundle fetched with curl (or a kubeadm-certs\n"
	      "                      Secret) and install it\n"
	      "\n"
	      "Interoperating with kubeadm:\n"
	      "  export              write a kubeadm-certs Secret from a PKI directory\n"
	      "\n"
	      "Run 'pkishare help VERB' (or 'pkishare VERB --help') for a verb's options; see\n"
	      "pkishare(1).\n",
	      f);
}

struct verb {
	const char *name;
	int (*fn)(int, char **);
};

/* An unknown verb, said with the closest known one (kubectl's "did you mean"). Never
 * echoed raw: it reaches a terminal. */
static int unknown_verb(const struct verb *verbs, size_t n, const char *given)
{
	char shown[VERB_NAME_MAX + 1];
	const char *names[64];
	size_t k = 0;
	str_copy(shown, sizeof(shown), given);
	str_printable(shown);
	for (size_t i = 0; i < n && k < ELEMENTSOF(names); i++)
		names[k++] = verbs[i].name;
	const char *best = closest(given, names, k);
	if (best)
		cli_error("unknown verb '%s'; did you mean '%s'? run 'pkishare --help' for the "
			  "list",
			  shown, best);
	else
		cli_error("unknown verb '%s'; run 'pkishare --help' for the list", shown);
	return EXIT_USAGE;
}

/* pkishare help VERB [SUB]: VERB's own help, as 'pkishare VERB [SUB] --help'. */
static int verb_help(const struct verb *verbs, size_t n, int argc, char **argv)
{
	if (argc < 3) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 4) {
		cli_error("help takes a verb and, for pki and token, a subcommand");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[2], verbs[i].name) == 0) {
			char help[] = "--help";
			char *args[] = {argv[2], argc == 4 ? argv[3] : help,
					argc == 4 ? help : NULL, NULL};
			return verbs[i].fn(argc == 4 ? 3 : 2, args);
		}
	return unknown_verb(verbs, n, argv[2]);
}

int main(int argc, char **argv)
{
	static const struct verb verbs[] = {
	    {"certificate-key", verb_certificate_key},
	    {"pki", verb_pki},
	    {"upload-certs", verb_upload_certs},
	    {"delete-certs", verb_delete_certs},
	    {"reload", verb_reload},
	    {"status", verb_status},
	    {"join", verb_join},
	    {"decrypt", verb_decrypt},
	    {"token", verb_token},
	    {"export", verb_export},
	    {"print-join-command", verb_print_join_command},
	    {"version", verb_version},
	    {"--version", verb_version},
	};

	/* A server that refuses us may close the connection while we write: that must be an
	 * error we report, not a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* The system openssl.cnf adds nothing pkishare uses, and parsing it costs start-up time. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if (secret_init() < 0) {
		cli_error("cannot initialise libsodium");
		return EXIT_FAIL;
	}
	int r = secret_harden_process();
	if (r < 0)
		cli_error("warning: cannot make the process non-dumpable: %s", strerror(-r));
	/* CA keys (ca.key, etcd/ca.key, front-proxy-ca.key) sign node certificates here, and
	 * node keys are generated here: OpenSSL keeps them in its locked secure heap. */
	r = secret_openssl_heap_init(SECRET_OPENSSL_HEAP_BYTES);
	if (r != 0)
		cli_error("warning: OpenSSL secure heap %s; private keys stay in %s",
			  r > 0 ? "not locked (RLIMIT_MEMLOCK)" : "unavailable",
			  r > 0 ? "memory that can be swapped" : "ordinary memory");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "help"))
		return verb_help(verbs, ELEMENTSOF(verbs), argc, argv);
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	return unknown_verb(verbs, ELEMENTSOF(verbs), argv[1]);
}
