/* target.h - the directory a join or decrypt installs into, checked before anything is
 * fetched or written. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pin.h"

/* Everything about the target dir the install will need, checked before the fetch: the
 * way to it (no other user's links or directories), the parent (writable by this user:
 * pkidir_creatable), the left-overs of an interrupted join (removed; a dry run in flags
 * says it would), the target itself (a directory of ours, not a mount point, nothing but
 * files and directories, readable, writable and searchable) and a present ca.crt (the
 * pinned cluster's, or with PKIDIR_FORCE replaced, with node_certs made anew). Returns
 * EXIT_OK, or said and the exit status. */
int target_check(const char *dir, const uint8_t pin[PIN_BYTES], unsigned flags, bool node_certs);
/* Say where the files go when dir, or a directory above it, is a symlink (a data disk), as
 * "[tag] ...". Returns nothing: it only prints; a refused link is said by the checks. */
void target_say_symlinked(const char *dir, const char *tag);
