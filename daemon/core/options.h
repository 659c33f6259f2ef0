/* options.h - pkishared's configuration: built-in defaults, then the configuration file
 * (/etc/pkishare/pkishared.conf or --config), then command-line flags, which win. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "config.h"

#define DEFAULT_CONFIG_FILE PKISHARED_CONFIG_FILE /* config.h: prefix and sysconfdir */
#define OPTIONS_MAX_STRINGS 256

struct options;

enum option_type {
	OPTION_STRING,	 /* a path or a text, as given */
	OPTION_LISTEN,	 /* a listen address (addr_parse_listen), kept as given */
	OPTION_LIST,	 /* repeatable: each value appended (allow) */
	OPTION_DURATION, /* seconds, from "90s", "15m", "2h"; bounded by min and max */
	OPTION_COUNT,	 /* a whole number from min to max */
	OPTION_YESNO,
	OPTION_LOGLEVEL,
};

/* One setting of pkishared: the flag "--name" and the configuration key "name". */
struct option_def {
	const char *name;
	enum option_type type;
	size_t offset, size;   /* of its field in struct options */
	int64_t min, max;      /* DURATION, COUNT; LIST: max is the number of values */
	const char *arg;       /* for --help: FILE, DURATION, N, ... */
	int64_t def_num;       /* the default of a DURATION, COUNT, YESNO or LOGLEVEL */
	const char *def_str;   /* the default of a STRING shown in --help (NULL: none) */
	const char *help;      /* one or more lines for --help */
	bool reload;	       /* a reload (SIGHUP) may change it; else only a restart */
	const char *bound_why; /* why max is what it is (NULL: no reason to give) */
};

/* The table (for reload() and the tests that hold the docs against it). */
const struct option_def *options_table(size_t *ret_n);

/* Take into cfg every setting of next that a reload may change; put the names of those
 * that differ but only a restart changes in ret_ignored ("" if none). */
void options_reload_into(struct daemon_config *cfg, const struct options *next, char *ret_ignored,
			 size_t len);

struct options {
	struct daemon_config cfg;
	int log_level;
	const char *config_path;	    /* the file that was read, or NULL */
	char *strings[OPTIONS_MAX_STRINGS]; /* values read from the file, owned here */
	size_t n_strings;
};

/* Fill o. systemd's convention: 1 to run, 0 when --help or --version was answered (exit
 * 0), a negative errno after saying what is wrong (exit 2). */
int options_load(struct options *o, int argc, char **argv);
void options_free(struct options *o);
