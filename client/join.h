/* join.h - what join was asked (parsed by cmd-join.c) and what its plan checked, handed
 * to the fetch (fetch.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "nodecerts.h"
#include "pin.h"
#include "pkidir.h"

#define JOIN_SERVERS_MAX 8

/* What join was asked to do. */
struct join_args {
	const char *servers[JOIN_SERVERS_MAX];
	size_t n_servers;
	const char *hash, *cert, *ckey, *pki_dir, *node_name;
	char *key_arg, *token_arg;
	const char *ext_paths[EXT_ETCD_COUNT];
	unsigned flags;
	struct nodecerts_opts nc;
};

/* What join will use: checked, secrets in guarded memory (freed by join_plan_done). */
struct join_plan {
	uint8_t pin[PIN_BYTES];
	uint8_t *key;
	char *token; /* "id.secret", or NULL without --token */
	char host[256];
	const char *node_name;
};
