/* conffile.c - "name = value" configuration files (conffile.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conffile.h"

int conffile_read(const char *path, bool must_exist, conffile_cb cb, void *arg, bool *ret_found,
		  char *why, size_t why_len)
{
	FILE *f = fopen(path, "re");
	char line[CONFFILE_LINE_MAX + 2], where[256];
	unsigned lineno = 0;
	int r = 0;

	why[0] = 0;
	if (ret_found)
		*ret_found = f != NULL;
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(why, why_len, "cannot read configuration file %s: %s", path,
			 strerror(errno));
		return -EINVAL;
	}
	long at = ftell(f);
	while (r >= 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		snprintf(where, sizeof(where), "%.200s:%u", path, lineno);
		size_t got = strlen(line);
		long next = ftell(f);
		if (at >= 0 && next >= 0 && (size_t)(next - at) != got) {
			/* fgets read past a NUL byte: what follows it would be ignored unseen. */
			snprintf(why, why_len, "%s: a NUL byte in the line; remove it", where);
			r = -EINVAL;
			break;
		}
		at = next;
		if (got == sizeof(line) - 1 && line[got - 1] != '\n' && fgetc(f) != EOF) {
			snprintf(why, why_len,
				 "%s: line longer than %zu characters; shorten it (comments "
				 "included)",
				 where, sizeof(line) - 2);
			r = -EINVAL;
			break;
		}
		char *p = line + strspn(line, " \t");
		p[strcspn(p, "#\r\n")] = 0;
		size_t len = strlen(p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			p[--len] = 0;
		if (!*p)
			continue;
		char *eq = strchr(p, '=');
		if (!eq) {
			snprintf(why, why_len, "%s: expected 'name = value'", where);
			r = -EINVAL;
			break;
		}
		char *name = p, *value = eq + 1;
		*eq = 0;
		name[strcspn(name, " \t")] = 0;
		value += strspn(value, " \t");
		r = cb(name, value, where, arg);
	}
	fclose(f);
	return r;
}
