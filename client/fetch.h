/* fetch.h - join against its servers: described, checked, fetched and installed. */
#pragma once

#include "join.h"

/* Act on the plan p for a: fetch from the first server (in a's order) that has the
 * bundle, after its description is checked against the plan, and install it with this
 * node's certificates in one step (install_bundle); a server that cannot be used passes
 * to the next. Every outcome is said. Returns the exit status. */
int fetch_join(struct join_args *a, const struct join_plan *p);
