/* log.c - journald or stderr logging and audit events.
 *
 * Must never be handed key material, token secrets or PEM: callers pass ids only. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

/* Set once in main() before any thread starts; read-only afterwards. */
static int log_max_level = LOG_INFO;
static int log_to_journal;
/* Where stderr lines go, so that a sink nobody reads (a pipe, a FIFO, a terminal stopped
 * with Ctrl-S) drops lines instead of stopping the thread that logs: the serving thread
 * logs every refused connection. A socket is written with MSG_DONTWAIT, a pipe or a
 * terminal through a descriptor of its own opened non-blocking (O_NONBLOCK on fd 2 itself
 * would change it for every process that shares it), anything else (a file) as it is. */
static int log_fd = STDERR_FILENO;
static bool log_fd_socket;
static atomic_ulong log_dropped; /* lines dropped since the last one written */

static const char *const audit_names[] = {
    [AUDIT_UPLOAD] = "upload", [AUDIT_FETCH] = "fetch", [AUDIT_REFUSE] = "refuse",
    [AUDIT_EXPIRE] = "expire", [AUDIT_WIPE] = "wipe",	[AUDIT_ENROLL] = "enroll",
    [AUDIT_TOKEN] = "token",
};

/* Stable ids, so operators can filter with journalctl MESSAGE_ID=... */
static const char *const audit_ids[] = {
    [AUDIT_UPLOAD] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b70",
    [AUDIT_FETCH] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b71",
    [AUDIT_REFUSE] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b72",
    [AUDIT_EXPIRE] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b73",
    [AUDIT_WIPE] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b74",
    [AUDIT_ENROLL] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b75",
    [AUDIT_TOKEN] = "5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b76",
};

void log_setup(int max_level)
{
	struct stat st;

	log_max_level = max_level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_to_journal = getenv("JOURNAL_STREAM") != NULL;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	log_fd_socket = false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return;
	log_fd_socket = S_ISSOCK(st.st_mode);
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd >= 0)
			log_fd = fd;
	}
}

/* The length of a formatted line, cut to fit and still ending in a newline. */
static size_t line_end(char *out, size_t size, int n)
{
	if (n < 0)
		return 0;
	if ((size_t)n < size)
		return (size_t)n;
	out[size - 2] = '\n';
	return size - 1;
}

/* One whole line to stderr's sink, never waiting for it: a line that does not go at
 * once is dropped and counted, and the count is said before the next line that goes. */
static void log_write(const char *line, size_t len)
{
	char note[96];
	ssize_t n;

	unsigned long dropped = atomic_exchange(&log_dropped, 0);
	if (dropped) {
		int k = snprintf(note, sizeof(note),
				 "pkishared: warning: %lu log lines dropped (stderr not read)\n",
				 dropped);
		n = log_fd_socket ? send(log_fd, note, (size_t)k, MSG_DONTWAIT | MSG_NOSIGNAL)
				  : write(log_fd, note, (size_t)k);
		if (n < 0) {
			atomic_fetch_add(&log_dropped, dropped + 1);
			return;
		}
	}
	n = log_fd_socket ? send(log_fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL)
			  : write(log_fd, line, len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		atomic_fetch_add(&log_dropped, 1);
}

int log_level_parse(const char *name)
{
	static const struct {
		const char *n;
		int l;
	} levels[] = {{"error", LOG_ERR},
		      {"warning", LOG_WARNING},
		      {"notice", LOG_NOTICE},
		      {"info", LOG_INFO},
		      {"debug", LOG_DEBUG}};
	for (size_t i = 0; i < ELEMENTSOF(levels); i++)
		if (!strcasecmp(name, levels[i].n))
			return levels[i].l;
	return -1;
}

/* Append ch to out (n bytes used, len in all) as itself or, when it could start a line,
 * end a field or mislead a terminal, as an escape; false when it does not fit. */
static bool put_escaped(unsigned char ch, bool in_quotes, char *out, size_t *n, size_t len)
{
	char esc[5];
	size_t k;
	if (ch < 0x20 || ch >= 0x7f)
		k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", ch);
	else if (in_quotes && (ch == '"' || ch == '\\'))
		k = (size_t)snprintf(esc, sizeof(esc), "\\%c", ch);
	else
		esc[0] = (char)ch, esc[1] = 0, k = 1;
	if (*n + k >= len)
		return false;
	memcpy(out + *n, esc, k + 1);
	*n += k;
	return true;
}

/* A whole line's text with every control or non-ASCII byte escaped: whatever a caller
 * formats, a log line stays one line. */
static void line_escape(const char *in, char *out, size_t len)
{
	size_t n = 0;
	out[0] = 0;
	for (const char *p = in; *p; p++)
		if (!put_escaped((unsigned char)*p, false, out, &n, len))
			break;
}

const char *log_quote(const char *in, char *out, size_t len)
{
	static const char plain_set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789.-_:*/";
	size_t n = 0, inlen = strlen(in);
	if (len < 8) {
		if (len)
			out[0] = 0;
		return out;
	}
	if (inlen && strspn(in, plain_set) == inlen && inlen < len) {
		memcpy(out, in, inlen + 1);
		return out;
	}
	out[n++] = '"';
	out[n] = 0;
	const char *p = in;
	/* Room kept for '..."' should the value not fit. */
	for (; *p; p++)
		if (!put_escaped((unsigned char)*p, true, out, &n, len - 4))
			break;
	if (*p) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n++] = '"';
	out[n] = 0;
	return out;
}

void log_msgv(int level, const char *fmt, va_list ap)
{
	if (level > log_max_level)
		return;
	char text[1024], line[1024];
	vsnprintf(text, sizeof(text), fmt, ap);
	line_escape(text, line, sizeof(line));
	if (log_to_journal) {
		sd_journal_print(level, "%s", line);
		return;
	}
	static const char *const prefix[] = {"emerg",	"alert",  "crit", "error",
					     "warning", "notice", "info", "debug"};
	char out[1100];
	int n = snprintf(out, sizeof(out), "pkishared: %s: %s\n", prefix[level & 7], line);
	log_write(out, line_end(out, sizeof(out), n));
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_msgv(level, fmt, ap);
	va_end(ap);
}

void log_audit(const struct audit *a, const char *fmt, ...)
{
	char text[768], msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	line_escape(text, msg, sizeof(msg));
	const char *peer = a->peer ? a->peer : "-";
	const char *client = a->client ? a->client : "-";
	const char *source = a->source ? a->source : "-";
	const char *bundle = a->bundle_id ? a->bundle_id : "-";
	const char *result = a->result ? a->result : "-";
	int level = strcmp(result, "ok") == 0 ? LOG_NOTICE : LOG_WARNING;

	if (log_to_journal) {
		sd_journal_send("MESSAGE=%s", msg, "MESSAGE_ID=%s", audit_ids[a->event],
				"PRIORITY=%d", level, "PKISHARE_EVENT=%s", audit_names[a->event],
				"PKISHARE_PEER=%s", peer, "PKISHARE_CLIENT=%s", client,
				"PKISHARE_CLIENT_SOURCE=%s", source, "PKISHARE_BUNDLE_ID=%s",
				bundle, "PKISHARE_RESULT=%s", result, NULL);
		return;
	}
	/* Values a peer chooses (a certificate's CN) are quoted, so that no value can
	 * forge another key=value field on this line. */
	char qclient[LOG_QUOTE_MAX], out[1400];
	log_quote(client, qclient, sizeof(qclient));
	int n = snprintf(
	    out, sizeof(out),
	    "pkishared: audit: event=%s peer=%s client=%s source=%s bundle=%s result=%s: %s\n",
	    audit_names[a->event], peer, qclient, source, bundle, result, msg);
	log_write(out, line_end(out, sizeof(out), n));
}
