/* joined.h - the record of the bundle a join or decrypt installed into a PKI directory
 * (JOINED_FILE_NAME, next to the kept cluster profile): which bundle, sealed with which
 * key, for which CA pin, and when. join's plan reads it so that a join run again while
 * the same bundle is held spends nothing (no enrollment, no fetch). It is public metadata
 * (0644), never a secret, and never trusted for anything but that shortcut. */
#pragma once

#include <stdint.h>

#include "bundle.h"
#include "key.h"
#include "pin.h"
#include "pkidir.h"
#include "util.h"

#define JOINED_FILE_NAME "pkishare-joined.json"
#define JOINED_FILE_MAX_BYTES 4096

struct joined {
	char bundle_id[BUNDLE_ID_HEX_LEN + 1];
	char key_id[KEY_ID_HEX_LEN + 1];
	char ca_cert_hash[PIN_TEXT_LEN + 1];
	int64_t at;
};

/* The record of pki_dir into ret. -ENOENT if there is none; -PKS_E_SYMLINK, -PKS_E_SPECIAL,
 * -PKS_E_FOREIGN (another user's, or writable by group or others) or -PKS_E_BUNDLE_FORMAT
 * if it cannot be taken. ret untouched on failure. */
int joined_load(const char *pki_dir, struct joined *ret);

/* Add the record of bundle b (id, key id) installed with plain's ca.crt to plain (mode
 * 0644, replaced without --force): the time is now, or the one already recorded in pki_dir
 * for this same bundle, so that an identical install stays identical. *ret_changed says
 * whether it differs from the record there. 0, or -ENOMEM / -PKS_E_X509 (no ca.crt). */
int joined_add(const struct bundle *b, const char *pki_dir, struct pki_set *plain,
	       bool *ret_changed);
