/* kubeconf.h - the node-certificate profile from a kubeadm configuration file. */
#pragma once

#include "profile.h"

/* Read FILE: kubeadm's configuration YAML (v1beta3 or v1beta4 ClusterConfiguration among
 * other documents) or the kubeadm-config ConfigMap as JSON or YAML. 0, or a negative
 * errno with detail (DETAIL_MAX) saying FILE:LINE and what is wrong. */
int kubeconf_read(const char *path, struct profile *ret, char *detail);
