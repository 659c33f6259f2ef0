/* log.c - journald or stderr logging and audit events.
 *
 * Must never be handed key material, token secrets or PEM: callers pass ids only. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <systemd/sd-journal.h>

#include "log.h"

/* Set once in main() before any thread starts; read-only afterwards. */
static int log_max_level = LOG_INFO;
static int log_to_journal;

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
	log_max_level = max_level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_to_journal = getenv("JOURNAL_STREAM") != NULL;
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

void log_msgv(int level, const char *fmt, va_list ap)
{
	if (level > log_max_level)
		return;
	if (log_to_journal) {
		sd_journal_printv(level, fmt, ap);
		return;
	}
	static const char *const prefix[] = {"emerg",	"alert",  "crit", "error",
					     "warning", "notice", "info", "debug"};
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "pkishared: %s: %s\n", prefix[level & 7], line);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_msgv(level, fmt, ap);
	va_end(ap);
}

/* "text" with \" and \\ escaped and anything unprintable as '?'; bare when it is a plain
 * word (letters, digits, '.', '-', '_', ':', '*'). */
static void quote(const char *in, char *out, size_t len)
{
	size_t n = 0;
	bool plain = *in != 0;
	for (const char *p = in; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:*",
			    *p))
			plain = false;
	if (plain && strlen(in) < len) {
		strcpy(out, in);
		return;
	}
	out[n++] = '"';
	for (const char *p = in; *p && n + 4 < len; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"' || ch == '\\')
			out[n++] = '\\';
		out[n++] = ch < 0x20 || ch > 0x7e ? '?' : (char)ch;
	}
	out[n++] = '"';
	out[n] = 0;
}

void log_audit(const struct audit *a, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
	char qclient[2 * 256 + 3];
	quote(client, qclient, sizeof(qclient));
	fprintf(stderr,
		"pkishared: audit: event=%s peer=%s client=%s source=%s bundle=%s result=%s: %s\n",
		audit_names[a->event], peer, qclient, source, bundle, result, msg);
}
