/* log.h - pkishared's logging: journald when running under it, plain stderr lines
 * otherwise, and structured audit events. Never pass a secret to any of these. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

#include "macro.h"

/* The log target and threshold are chosen once in main(). */
void log_setup(int max_level);
int log_level_parse(const char *name);

void log_msg(int level, const char *fmt, ...) _printf_(2, 3);
void log_msgv(int level, const char *fmt, va_list ap) _printf_(2, 0);

/* The one filter for every string a peer controls (a URL, a certificate's CN, a TLS
 * server name, a header) on its way into a log line: a plain word (letters, digits and
 * . - _ : * /) as it is; anything else in double quotes, with " and \ escaped, control
 * and non-ASCII bytes as \xHH, and cut with "..." to fit len. Returns out. Whatever the
 * callers do, log_msg and log_audit also escape control bytes in the whole line, so no
 * value can start a line of its own. */
#define LOG_QUOTE_MAX 260
const char *log_quote(const char *in, char *out, size_t len);
/* log_quote into a buffer that lives until the end of the enclosing block. */
#define LOG_Q(s) log_quote((s), (char[LOG_QUOTE_MAX]){0}, LOG_QUOTE_MAX)

/* Audit event kinds, each with a stable MESSAGE_ID in the journal. */
enum audit_event {
	AUDIT_UPLOAD,
	AUDIT_FETCH,
	AUDIT_REFUSE,
	AUDIT_EXPIRE,
	AUDIT_WIPE,
	AUDIT_ENROLL,
	AUDIT_TOKEN,
};

struct audit {
	enum audit_event event;
	const char *peer;      /* address of the other side, or "admin" */
	const char *client;    /* client identity (certificate CN), or NULL */
	const char *source;    /* where that identity comes from: "client-ca", "enrolled" */
	const char *bundle_id; /* or NULL */
	const char *result;    /* "ok", or the refusal's reason */
};

/* One audit entry. The message is human-readable; fields are structured. */
void log_audit(const struct audit *a, const char *fmt, ...) _printf_(2, 3);
