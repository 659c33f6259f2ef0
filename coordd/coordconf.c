/* coordconf.c - pkishare-coordd's settings (coordconf.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "config.h"
#include "coordconf.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pkishare-coordd [--config FILE] [--check]\n"
		"\n"
		"The coordination helper of pkishared (issue 32): the only holder of the etcd\n"
		"credential, offering pkishared a few fixed operations on a unix socket.\n"
		"\n"
		"  --config FILE  settings (default %s; see pkishare-coordd(8)):\n"
		"                 etcd-endpoints, etcd-ca, etcd-cert, etcd-key, etcd-user,\n"
		"                 etcd-password-file, etcd-prefix, socket, client-uid, lease-ttl\n"
		"  --check        connect to etcd with these settings, say what was found, exit\n"
		"  --help, --version\n",
		PKISHARE_COORDD_CONFIG_FILE);
}

static bool endpoint_ok(const char *e)
{
	return !strncmp(e, "https://", 8) && strlen(e) > 8 && strlen(e) < 256 &&
	       !strpbrk(e + 8, "/?# \t");
}

static int set_text(char **field, const char *value, const char *where, const char *name)
{
	if (!value[0]) {
		fprintf(stderr, "pkishare-coordd: %s: %s is empty\n", where, name);
		return -EINVAL;
	}
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static int setting(const char *name, const char *value, const char *where, void *arg)
{
	struct coordd_conf *c = arg;
	if (!strcmp(name, "etcd-endpoints")) {
		char *copy = strdup(value), *save = NULL;
		for (size_t i = 0; i < c->n_endpoints; i++)
			free(c->endpoints[i]);
		c->n_endpoints = 0;
		for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t;
		     t = strtok_r(NULL, ", ", &save)) {
			if (!endpoint_ok(t) || c->n_endpoints >= ETCD_ENDPOINTS_MAX) {
				fprintf(stderr,
					"pkishare-coordd: %s: etcd-endpoints: '%.64s' is not "
					"https://HOST:PORT (at most %d, comma-separated)\n",
					where, t, ETCD_ENDPOINTS_MAX);
				free(copy);
				return -EINVAL;
			}
			c->endpoints[c->n_endpoints++] = strdup(t);
		}
		free(copy);
		return c->n_endpoints ? 0 : -EINVAL;
	}
	if (!strcmp(name, "etcd-ca"))
		return set_text(&c->etcd_ca, value, where, name);
	if (!strcmp(name, "etcd-cert"))
		return set_text(&c->etcd_cert, value, where, name);
	if (!strcmp(name, "etcd-key"))
		return set_text(&c->etcd_key, value, where, name);
	if (!strcmp(name, "etcd-user"))
		return set_text(&c->etcd_user, value, where, name);
	if (!strcmp(name, "etcd-password-file"))
		return set_text(&c->etcd_password_file, value, where, name);
	if (!strcmp(name, "socket"))
		return set_text(&c->socket, value, where, name);
	if (!strcmp(name, "etcd-prefix")) {
		size_t n = strlen(value);
		if (n < 2 || n > 100 || value[0] != '/' || value[n - 1] != '/') {
			fprintf(stderr,
				"pkishare-coordd: %s: etcd-prefix must start and end with '/' "
				"(2-100 characters), e.g. /pkishare/\n",
				where);
			return -EINVAL;
		}
		return set_text(&c->prefix, value, where, name);
	}
	if (!strcmp(name, "client-uid")) {
		uint64_t u;
		if (uint_parse(value, 0x7fffffff, &u) < 0) {
			fprintf(stderr, "pkishare-coordd: %s: client-uid is a uid number\n", where);
			return -EINVAL;
		}
		c->client_uid = (long)u;
		return 0;
	}
	if (!strcmp(name, "lease-ttl")) {
		int64_t s;
		if (duration_parse(value, &s) < 0 || s < 3 || s > 300) {
			fprintf(stderr,
				"pkishare-coordd: %s: lease-ttl is a duration from 3s to 5m\n",
				where);
			return -EINVAL;
		}
		c->lease_ttl_s = s;
		return 0;
	}
	fprintf(stderr, "pkishare-coordd: %s: unknown setting '%.64s' (see pkishare-coordd(8))\n",
		where, name);
	return -EINVAL;
}

int coordd_conf_load(struct coordd_conf *c, int argc, char **argv)
{
	enum { O_CONFIG = 256, O_CHECK, O_VERSION };
	static const struct option opts[] = {{"config", required_argument, NULL, O_CONFIG},
					     {"check", no_argument, NULL, O_CHECK},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, O_VERSION},
					     {0}};
	const char *config = NULL;
	int o;
	*c = (struct coordd_conf){.client_uid = -1, .lease_ttl_s = COORDD_DEFAULT_LEASE_TTL_S};
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return 0;
		}
		if (o == O_VERSION) {
			printf("pkishare-coordd %s\n", PKISHARE_VERSION);
			return 0;
		}
		if (o == O_CONFIG)
			config = optarg;
		else if (o == O_CHECK)
			c->check = true;
		else {
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pkishare-coordd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	c->config_path = config ? config : PKISHARE_COORDD_CONFIG_FILE;
	char why[512];
	int r = conffile_read(c->config_path, true, setting, c, NULL, why, sizeof(why));
	if (r < 0) {
		if (why[0])
			fprintf(stderr, "pkishare-coordd: %s\n", why);
		return r;
	}
	if (!c->n_endpoints || !c->etcd_ca || !c->etcd_cert || !c->etcd_key) {
		fprintf(stderr,
			"pkishare-coordd: %s: etcd-endpoints, etcd-ca, etcd-cert and etcd-key are "
			"required (the certificate: a clientAuth certificate signed by the "
			"cluster's etcd CA)\n",
			c->config_path);
		return -EINVAL;
	}
	if (!c->etcd_user != !c->etcd_password_file) {
		fprintf(stderr,
			"pkishare-coordd: %s: etcd-user and etcd-password-file go together\n",
			c->config_path);
		return -EINVAL;
	}
	if ((!c->prefix && !(c->prefix = strdup(COORDD_DEFAULT_PREFIX))) ||
	    (!c->socket && !(c->socket = strdup(COORDD_DEFAULT_SOCKET))))
		return -ENOMEM;
	return 1;
}

void coordd_conf_free(struct coordd_conf *c)
{
	for (size_t i = 0; i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->etcd_ca);
	free(c->etcd_cert);
	free(c->etcd_key);
	free(c->etcd_user);
	free(c->etcd_password_file);
	free(c->prefix);
	free(c->socket);
	*c = (struct coordd_conf){0};
}

char *coordd_conf_path(const char *name)
{
	if (name[0] == '/')
		return strdup(name);
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char *p = NULL;
	if (dir && dir[0] && asprintf(&p, "%s/%s", dir, name) < 0)
		p = NULL;
	return p;
}
