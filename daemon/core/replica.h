/* replica.h - coordination: this node's copy of the cluster's current bundle, pulled from a
 * node that holds it over the peer route and checked against the digest in etcd
 * (replica.c). Off with the one-node ledger: never started. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pin.h"
#include "store.h"

struct replica {
	struct store *store;
	const char *cert_file, *key_file; /* this node's serving certificate: its peer identity */
	uint8_t ca_pin[PIN_BYTES];	  /* the cluster CA's: a holder's chain must carry it */
	int64_t max_ttl_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC */
	bool kicked, stop, running;
};

/* Start the copier for store s (coordination on), woken by every change the ledger hears
 * of. cert_file and key_file must outlive it. 0, or <0. */
int replica_start(struct replica *r, struct store *s, const char *cert_file, const char *key_file,
		  const uint8_t ca_pin[PIN_BYTES], int64_t max_ttl_ms);
void replica_stop(struct replica *r);
