/* kubeconf.h - the node-certificate profile from a kubeadm configuration file. */
#pragma once

#include <jansson.h>

#include "profile.h"

/* Read FILE: kubeadm's configuration YAML (v1beta3 or v1beta4 ClusterConfiguration among
 * other documents) or the kubeadm-config ConfigMap as JSON or YAML. 0, or a negative
 * errno with detail (DETAIL_MAX) saying FILE:LINE and what is wrong. */
int kubeconf_read(const char *path, struct profile *ret, char *detail);
/* The same, calling warn (may be NULL) with "FILE:LINE: unknown field ..." for every field
 * kubeadm's types do not have where we read. */
typedef void (*kubeconf_warn_fn)(void *data, const char *msg);
int kubeconf_read_warn(const char *path, struct profile *ret, char *detail, kubeconf_warn_fn warn,
		       void *warn_data);
/* One YAML document (a Secret as `kubectl get secret -o yaml` prints it) as the JSON it
 * stands for: mappings as objects, sequences as arrays, every scalar as a string. name
 * names the input in messages. 0 with *ret (the caller's, json_decref), or -EINVAL with
 * detail (DETAIL_MAX) saying NAME:LINE and what is wrong (malformed YAML, a key given
 * twice, a key that is not a scalar, nesting past KUBECONF_YAML_DEPTH). */
#define KUBECONF_YAML_DEPTH 16
int kubeconf_yaml_json(const char *text, size_t len, const char *name, json_t **ret, char *detail);
