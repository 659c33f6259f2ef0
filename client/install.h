/* install.h - a sealed bundle opened and installed (join's and decrypt's last step). */
#pragma once

#include <stdint.h>

#include "nodecerts.h"
#include "pkidir.h"
#include "secret.h"

/* Open the bundle json with key and install it into pki_dir in one atomic install, with
 * this node's certificates when nc is not NULL (made in memory from the bundle's CAs and
 * profile): a refusal at any step leaves pki_dir as it was. External etcd files go to
 * ext_given, else to the profile's paths. The bundle's key pairs are checked, and its
 * ca.crt against pin (the --ca-cert-hash join was given; NULL: not checked). tag names the verb in
 * what is printed ("join", "decrypt"). Returns EXIT_OK, or said and the exit status. */
int install_bundle(const struct secret *json, const uint8_t *key, const uint8_t *pin,
		   const char *pki_dir, unsigned flags, const char *tag,
		   const char *ext_given[EXT_ETCD_COUNT], struct nodecerts_opts *nc);
