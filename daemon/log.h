/* log.h - pkishared's logging: journald when running under it, plain stderr lines
 * otherwise, and structured audit events. Never pass a secret to any of these. */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* The log target and threshold are chosen once in main(). */
void log_setup(int max_level);
int log_level_parse(const char *name);

void log_msg(int level, const char *fmt, ...) _printf_(2, 3);
void log_msgv(int level, const char *fmt, va_list ap) _printf_(2, 0);

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
