/* options.h - pkishared's configuration: built-in defaults, then the configuration file
 * (/etc/pkishare/pkishared.conf or --config), then command-line flags, which win. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"

#define DEFAULT_CONFIG_FILE "/etc/pkishare/pkishared.conf"
#define OPTIONS_MAX_STRINGS 256

struct options {
	struct daemon_config cfg;
	int log_level;
	const char *config_path;	    /* the file that was read, or NULL */
	char *strings[OPTIONS_MAX_STRINGS]; /* values read from the file, owned here */
	size_t n_strings;
};

/* Fill o. Returns 0 to run, 1 when --help or --version was answered (exit 0), or 2 after
 * printing a usage error to stderr. */
int options_load(struct options *o, int argc, char **argv);
void options_free(struct options *o);
