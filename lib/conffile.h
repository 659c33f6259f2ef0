/* conffile.h - the "name = value" configuration files of pkishared (pkishared.conf(5)) and
 * pkishare-coordd (coordd.conf): one reader for both, so both refuse the same things.
 *
 * A line is "name = value" (spaces around both are dropped), a comment from '#', or
 * blank. Refused, never guessed: a line longer than CONFFILE_LINE_MAX (the tail of a long
 * comment would otherwise read as a setting), a NUL byte (what follows it would be ignored
 * unseen), a line without '='. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CONFFILE_LINE_MAX 4094

/* Called for each setting; where is "PATH:LINE". Returns <0 to stop (the reader returns
 * it; the callback has said why itself). */
typedef int (*conffile_cb)(const char *name, const char *value, const char *where, void *arg);

/* Read path. 0 when done (also: missing and !must_exist, *ret_found false); <0 with why
 * (why_len bytes) saying what is wrong for a problem of the file itself (-EINVAL), or the
 * callback's value (why ""). */
int conffile_read(const char *path, bool must_exist, conffile_cb cb, void *arg, bool *ret_found,
		  char *why, size_t why_len);
