/* coordconf.h - pkishare-coordd's settings: /etc/pkishare/coordd.conf (or --config FILE), read
 * with lib/conffile (the same rules as pkishared.conf). See pkishare-coordd(8). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

#define COORDD_DEFAULT_PREFIX "/pkishare/"
#define COORDD_DEFAULT_SOCKET "/run/pkishare/coord.sock"
#define COORDD_DEFAULT_LEASE_TTL_S 10

struct coordd_conf {
	char *endpoints[ETCD_ENDPOINTS_MAX];
	size_t n_endpoints;
	char *etcd_ca, *etcd_cert, *etcd_key;
	char *etcd_user, *etcd_password_file;
	char *prefix;
	char *socket;
	long client_uid; /* -1: only root may call */
	int64_t lease_ttl_s;
	bool check; /* --check: connect, say what was found, exit */
	const char *config_path;
};

/* Fill c from argv and the file. systemd's convention: 1 to run, 0 after --help or
 * --version, <0 after saying what is wrong on stderr. */
int coordd_conf_load(struct coordd_conf *c, int argc, char **argv);
void coordd_conf_free(struct coordd_conf *c);
/* A credential file's path: relative names are under $CREDENTIALS_DIRECTORY (systemd's
 * LoadCredential=), absolute ones as they are. NULL if relative without that directory. */
char *coordd_conf_path(const char *name);
