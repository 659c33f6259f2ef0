/* kubeconf.c - the node-certificate profile from kubeadm's own configuration: the YAML
 * that `kubeadm init --config` takes (InitConfiguration and ClusterConfiguration
 * documents, kubeadm.k8s.io/v1beta3 and v1beta4), or the JSON of
 * `kubectl -n kube-system get cm kubeadm-config -o json`, whose data.ClusterConfiguration
 * is YAML inside. Parsed with libyaml. Unknown kinds are ignored; unknown fields of the
 * kinds we read are warned about with FILE:LINE and ignored, as kubeadm's decoder does;
 * malformed input, fields of the wrong type, a kind given twice (kubeadm takes one
 * document of each kind) and an InitConfiguration's certificateKey are refused with
 * FILE:LINE. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "kubeconf.h"
#include "secret.h"
#include "util.h"

#define KINDS_MAX 16 /* kinds remembered per file to refuse a repeat */
#define KIND_MAX 64

struct ctx {
	const char *path;
	const char *where; /* "" or " (data.ClusterConfiguration)" */
	char *detail;
	int found; /* ClusterConfiguration documents seen */
	/* The kinds of the documents seen so far in this stream (a ConfigMap's inner
	 * stream has its own), with the line each was first given on. */
	char kinds[KINDS_MAX][KIND_MAX];
	unsigned long kind_line[KINDS_MAX];
	size_t n_kinds;
	kubeconf_warn_fn warn;
	void *warn_data;
};

static const char *scalar(const yaml_node_t *n);

/* The fields kubeadm's v1beta3 and v1beta4 types have where we read (kubeadm's strict
 * decoder warns about any other, and so do we: a misspelt certSANs must not pass
 * silently). */
static const char *const cluster_fields[] = {"apiVersion",
					     "kind",
					     "etcd",
					     "networking",
					     "kubernetesVersion",
					     "controlPlaneEndpoint",
					     "apiServer",
					     "controllerManager",
					     "scheduler",
					     "dns",
					     "proxy",
					     "certificatesDir",
					     "imageRepository",
					     "featureGates",
					     "clusterName",
					     "encryptionAlgorithm",
					     "certificateValidityPeriod",
					     "caCertificateValidityPeriod",
					     "upgrade",
					     NULL};
static const char *const apiserver_fields[] = {
    "certSANs", "timeoutForControlPlane", "extraArgs", "extraVolumes", "extraEnvs", NULL};
static const char *const networking_fields[] = {"serviceSubnet", "podSubnet", "dnsDomain", NULL};
static const char *const etcd_fields[] = {"local", "external", NULL};
static const char *const etcd_local_fields[] = {"imageRepository", "imageTag",	"dataDir",
						"extraArgs",	   "extraEnvs", "serverCertSANs",
						"peerCertSANs",	   NULL};
static const char *const etcd_external_fields[] = {"endpoints", "caFile", "certFile", "keyFile",
						   NULL};
static const char *const init_fields[] = {"apiVersion",
					  "kind",
					  "bootstrapTokens",
					  "dryRun",
					  "nodeRegistration",
					  "localAPIEndpoint",
					  "certificateKey",
					  "skipPhases",
					  "patches",
					  "timeouts",
					  NULL};

/* Say FILE:LINE of every field of map not in known (with the known one it differs from
 * only in case, if any). */
static void check_fields(struct ctx *c, yaml_document_t *d, yaml_node_t *map, const char *in,
			 const char *const *known)
{
	if (!c->warn || !map || map->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		const char *name = scalar(k), *like = NULL;
		bool ok = false;
		if (!name)
			continue;
		for (size_t i = 0; known[i] && !ok; i++) {
			ok = !strcmp(name, known[i]);
			if (!strcasecmp(name, known[i]))
				like = known[i];
		}
		if (ok)
			continue;
		char msg[DETAIL_MAX + 128];
		snprintf(msg, sizeof(msg), "%s:%lu%s: unknown field '%.64s' in %s%s%s%s; ignored",
			 c->path, (unsigned long)k->start_mark.line + 1, c->where, name, in,
			 like ? " (did you mean '" : "", like ? like : "", like ? "'?)" : "");
		c->warn(c->warn_data, msg);
	}
}

static int fail_at(struct ctx *c, const yaml_node_t *n, const char *what, const char *field)
{
	snprintf(c->detail, DETAIL_MAX, "%s:%lu%s: %s %s", c->path,
		 n ? (unsigned long)n->start_mark.line + 1 : 0UL, c->where, field, what);
	return -EINVAL;
}

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    !memcmp(k->data.scalar.value, key, k->data.scalar.length))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A string field into out (absent: left alone). */
static int take_str(struct ctx *c, yaml_node_t *n, const char *field, char *out, size_t max)
{
	if (!n)
		return 0;
	const char *s = scalar(n);
	if (!s)
		return fail_at(c, n, "must be a string", field);
	if (!*s)
		return 0;
	if (!profile_value_ok(s, max))
		return fail_at(c, n, "must be printable ASCII without '\"' or '\\', and short",
			       field);
	str_copy(out, max, s);
	return 0;
}

static int take_list(struct ctx *c, yaml_document_t *d, yaml_node_t *n, const char *field,
		     char (*out)[PROFILE_STR_MAX], size_t *count)
{
	if (!n)
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail_at(c, n, "must be a list", field);
	size_t k = 0;
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		yaml_node_t *e = yaml_document_get_node(d, *i);
		if (k >= PROFILE_SANS_MAX)
			return fail_at(c, n, "has more than 32 names", field);
		/* Cleared first: an empty entry leaves a slot alone, and no slot may keep what
		 * an earlier value put there. */
		out[k][0] = 0;
		int r = take_str(c, e, field, out[k], PROFILE_STR_MAX);
		if (r < 0)
			return r;
		if (out[k][0] && !profile_san_ok(out[k]))
			return fail_at(c, e, "is neither an IP address nor a DNS name", out[k]);
		if (out[k][0])
			k++;
	}
	for (size_t j = k; j < PROFILE_SANS_MAX; j++)
		out[j][0] = 0;
	*count = k;
	return 0;
}

static int cluster_config(struct ctx *c, yaml_document_t *d, yaml_node_t *root, bool v1beta4,
			  struct profile *p)
{
	yaml_node_t *api = get(d, root, "apiServer"), *etcd = get(d, root, "etcd");
	yaml_node_t *net = get(d, root, "networking"), *local = get(d, etcd, "local");
	yaml_node_t *ext = get(d, etcd, "external");
	char validity[64] = "";
	check_fields(c, d, root, "ClusterConfiguration", cluster_fields);
	check_fields(c, d, api, "ClusterConfiguration.apiServer", apiserver_fields);
	check_fields(c, d, net, "ClusterConfiguration.networking", networking_fields);
	check_fields(c, d, etcd, "ClusterConfiguration.etcd", etcd_fields);
	check_fields(c, d, local, "ClusterConfiguration.etcd.local", etcd_local_fields);
	check_fields(c, d, ext, "ClusterConfiguration.etcd.external", etcd_external_fields);
	int r = take_str(c, get(d, root, "controlPlaneEndpoint"), "controlPlaneEndpoint",
			 p->endpoint, sizeof(p->endpoint));
	if (r == 0)
		r = take_list(c, d, get(d, api, "certSANs"), "apiServer.certSANs", p->api_sans,
			      &p->n_api_sans);
	if (r == 0)
		r = take_list(c, d, get(d, local, "serverCertSANs"), "etcd.local.serverCertSANs",
			      p->etcd_server_sans, &p->n_etcd_server_sans);
	if (r == 0)
		r = take_list(c, d, get(d, local, "peerCertSANs"), "etcd.local.peerCertSANs",
			      p->etcd_peer_sans, &p->n_etcd_peer_sans);
	if (r == 0)
		r = take_str(c, get(d, ext, "caFile"), "etcd.external.caFile", p->external_ca,
			     sizeof(p->external_ca));
	if (r == 0)
		r = take_str(c, get(d, ext, "certFile"), "etcd.external.certFile", p->external_cert,
			     sizeof(p->external_cert));
	if (r == 0)
		r = take_str(c, get(d, ext, "keyFile"), "etcd.external.keyFile", p->external_key,
			     sizeof(p->external_key));
	if (r == 0)
		r = take_str(c, get(d, net, "serviceSubnet"), "networking.serviceSubnet",
			     p->service_subnet, sizeof(p->service_subnet));
	if (r == 0)
		r = take_str(c, get(d, net, "dnsDomain"), "networking.dnsDomain", p->dns_domain,
			     sizeof(p->dns_domain));
	yaml_node_t *alg = get(d, root, "encryptionAlgorithm");
	if (r == 0 && alg) {
		r = take_str(c, alg, "encryptionAlgorithm", p->algorithm, sizeof(p->algorithm));
		if (r == 0 && p->algorithm[0] && !profile_algorithm_ok(p->algorithm))
			r = fail_at(
			    c, alg,
			    "must be RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384",
			    "encryptionAlgorithm");
	}
	/* v1beta3 had no encryptionAlgorithm; its feature gate PublicKeysECDSA meant P-256. */
	const char *ecdsa = scalar(get(d, get(d, root, "featureGates"), "PublicKeysECDSA"));
	if (r == 0 && !v1beta4 && !p->algorithm[0] && ecdsa && !strcmp(ecdsa, "true"))
		str_copy(p->algorithm, sizeof(p->algorithm), "ECDSA-P256");
	yaml_node_t *vp = get(d, root, "certificateValidityPeriod");
	if (r == 0 && vp) {
		r = take_str(c, vp, "certificateValidityPeriod", validity, sizeof(validity));
		if (r == 0 && validity[0] &&
		    (p->validity_s = profile_duration_parse(validity)) < 3600)
			r = fail_at(c, vp, "must be a duration of at least an hour, like 8760h",
				    "certificateValidityPeriod");
	}
	return r;
}

static int load_all(struct ctx *c, yaml_parser_t *parser, struct profile *p);

/* kubeadm refuses a kind given twice ("specified twice in YAML file"); taking both would
 * mix two configurations into one profile. A kind is its API group and name: v1beta3 and
 * v1beta4 ClusterConfigurations are one kind here. */
static int kind_once(struct ctx *c, yaml_node_t *kind_node, const char *api, const char *kind)
{
	char gk[KIND_MAX];
	const char *slash = api ? strchr(api, '/') : NULL;
	int glen = slash ? (int)(slash - api) : api ? (int)strlen(api) : 0;
	int n = snprintf(gk, sizeof(gk), "%.*s/%s", glen, api ? api : "", kind);
	for (size_t i = 0; n > 0 && n < KIND_MAX && i < c->n_kinds; i++)
		if (strcmp(c->kinds[i], gk) == 0) {
			char what[160];
			snprintf(what, sizeof(what),
				 "is given twice (first on line %lu); kubeadm takes one document "
				 "of each kind: merge them into one",
				 c->kind_line[i]);
			return fail_at(c, kind_node, what, kind);
		}
	if (n > 0 && n < KIND_MAX && c->n_kinds < KINDS_MAX) {
		memcpy(c->kinds[c->n_kinds], gk, (size_t)n + 1);
		c->kind_line[c->n_kinds++] = (unsigned long)kind_node->start_mark.line + 1;
	}
	return 0;
}

/* kubectl -n kube-system get cm kubeadm-config -o json (or -o yaml): the documents in its
 * data.ClusterConfiguration. */
static int config_map(struct ctx *c, yaml_document_t *d, yaml_node_t *root, struct profile *p)
{
	yaml_node_t *cc = get(d, get(d, root, "data"), "ClusterConfiguration");
	const char *text = scalar(cc);
	yaml_parser_t inner;
	if (!text)
		return fail_at(c, root, "has no data.ClusterConfiguration", "the ConfigMap");
	if (!yaml_parser_initialize(&inner))
		return -ENOMEM;
	yaml_parser_set_input_string(&inner, (const unsigned char *)text, strlen(text));
	struct ctx ic = *c;
	ic.where = " (in data.ClusterConfiguration)";
	ic.n_kinds = 0;
	int r = load_all(&ic, &inner, p);
	yaml_parser_delete(&inner);
	c->found += ic.found;
	return r;
}

/* An InitConfiguration: only its fields are checked, and a certificateKey is refused. */
static int init_config(struct ctx *c, yaml_document_t *d, yaml_node_t *root)
{
	check_fields(c, d, root, "InitConfiguration", init_fields);
	yaml_node_t *ck = get(d, root, "certificateKey");
	if (!ck || !scalar(ck) || !*scalar(ck))
		return 0;
	/* kubeadm init --upload-certs would seal with this key. We do not: a key kept in a
	 * file outlives its bundle (every upload gets a fresh key, and the daemon refuses a
	 * key id it has seen), and YAML text is not guarded memory. Wiped here, refused with
	 * the way to do it. */
	secret_wipe(ck->data.scalar.value, ck->data.scalar.length);
	return fail_at(c, ck,
		       "is not taken from a configuration file: the key must not outlive its "
		       "bundle; remove it and let upload-certs make a fresh key, or pass one "
		       "with --certificate-key - (standard input)",
		       "InitConfiguration.certificateKey");
}

static int document(struct ctx *c, yaml_document_t *d, yaml_node_t *root, struct profile *p)
{
	if (root->type != YAML_MAPPING_NODE)
		return fail_at(c, root, "must be a mapping (a kubeadm configuration object)",
			       "a document");
	yaml_node_t *kind_node = get(d, root, "kind");
	const char *kind = scalar(kind_node);
	const char *api = scalar(get(d, root, "apiVersion"));
	bool kubeadm = api && !strncmp(api, "kubeadm.k8s.io/", 15);
	if (kind && *kind) {
		int r = kind_once(c, kind_node, api, kind);
		if (r < 0)
			return r;
	}
	if (kind && !strcmp(kind, "ConfigMap"))
		return config_map(c, d, root, p);
	if (kind && !strcmp(kind, "InitConfiguration") && kubeadm)
		return init_config(c, d, root);
	if (!kind || strcmp(kind, "ClusterConfiguration") != 0 || !kubeadm)
		return 0; /* JoinConfiguration, KubeletConfiguration...: not ours */
	bool v1beta4 = !strcmp(api, "kubeadm.k8s.io/v1beta4");
	if (!v1beta4 && strcmp(api, "kubeadm.k8s.io/v1beta3") != 0)
		return fail_at(c, get(d, root, "apiVersion"),
			       "is not kubeadm.k8s.io/v1beta3 or v1beta4; convert it with "
			       "'kubeadm config migrate'",
			       api);
	c->found++;
	return cluster_config(c, d, root, v1beta4, p);
}

/* A key given twice in one mapping: kubeadm's strict decoder refuses it, and which of
 * the two a reader takes is a guess (a stale certSAN must not be sealed). Every mapping
 * of the document, wherever it is. */
static int refuse_duplicate_keys(struct ctx *c, yaml_document_t *d)
{
	for (yaml_node_t *n = d->nodes.start; n < d->nodes.top; n++) {
		if (n->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *a = n->data.mapping.pairs.start;
		     a < n->data.mapping.pairs.top; a++) {
			yaml_node_t *ka = yaml_document_get_node(d, a->key);
			if (!ka || ka->type != YAML_SCALAR_NODE)
				continue;
			for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++) {
				yaml_node_t *kb = yaml_document_get_node(d, b->key);
				if (kb && kb->type == YAML_SCALAR_NODE &&
				    kb->data.scalar.length == ka->data.scalar.length &&
				    !memcmp(kb->data.scalar.value, ka->data.scalar.value,
					    ka->data.scalar.length)) {
					snprintf(c->detail, DETAIL_MAX,
						 "%s:%lu%s: '%.64s' is given twice in one mapping "
						 "(first at line %lu); keep one",
						 c->path, (unsigned long)ka->start_mark.line + 1,
						 c->where, (const char *)ka->data.scalar.value,
						 (unsigned long)kb->start_mark.line + 1);
					return -EINVAL;
				}
			}
		}
	}
	return 0;
}

static int load_all(struct ctx *c, yaml_parser_t *parser, struct profile *p)
{
	for (;;) {
		yaml_document_t d;
		if (!yaml_parser_load(parser, &d)) {
			snprintf(c->detail, DETAIL_MAX, "%s:%lu%s: %s%s%s", c->path,
				 (unsigned long)parser->problem_mark.line + 1, c->where,
				 parser->problem ? parser->problem : "malformed YAML",
				 parser->context ? " " : "",
				 parser->context ? parser->context : "");
			return -EINVAL;
		}
		yaml_node_t *root = yaml_document_get_root_node(&d);
		if (!root) {
			yaml_document_delete(&d);
			return 0;
		}
		int r = refuse_duplicate_keys(c, &d);
		if (r >= 0)
			r = document(c, &d, root, p);
		yaml_document_delete(&d);
		if (r < 0)
			return r;
	}
}

int kubeconf_read(const char *path, struct profile *ret, char *detail)
{
	return kubeconf_read_warn(path, ret, detail, NULL, NULL);
}

int kubeconf_read_warn(const char *path, struct profile *ret, char *detail, kubeconf_warn_fn warn,
		       void *warn_data)
{
	struct profile p = {0};
	struct ctx c = {
	    .path = path, .where = "", .detail = detail, .warn = warn, .warn_data = warn_data};
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(detail, DETAIL_MAX, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	int r = load_all(&c, &parser, &p);
	yaml_parser_delete(&parser);
	fclose(f);
	if (r == 0 && c.found > 1) {
		snprintf(detail, DETAIL_MAX,
			 "%s holds %d ClusterConfigurations (a document and a kubeadm-config "
			 "ConfigMap's); kubeadm takes one: keep one of them",
			 path, c.found);
		r = -EINVAL;
	}
	if (r == 0 && !c.found) {
		snprintf(
		    detail, DETAIL_MAX,
		    "%s has no ClusterConfiguration (kubeadm.k8s.io/v1beta3 or v1beta4), nor a "
		    "kubeadm-config ConfigMap",
		    path);
		r = -ENOENT;
	}
	if (r == 0)
		*ret = p;
	return r;
}

/* A node of d as JSON, or NULL with c->detail said. */
static json_t *node_json(struct ctx *c, yaml_document_t *d, yaml_node_t *n, int depth)
{
	if (!n)
		return NULL;
	if (depth > KUBECONF_YAML_DEPTH) {
		snprintf(c->detail, DETAIL_MAX, "%s:%lu: nested deeper than %d levels", c->path,
			 (unsigned long)n->start_mark.line + 1, KUBECONF_YAML_DEPTH);
		return NULL;
	}
	if (n->type == YAML_SCALAR_NODE)
		return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
	json_t *out = n->type == YAML_MAPPING_NODE ? json_object() : json_array();
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     out && i < n->data.sequence.items.top; i++) {
			json_t *v = node_json(c, d, yaml_document_get_node(d, *i), depth + 1);
			if (!v || json_array_append_new(out, v) < 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     out && p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		char key[256];
		if (!k || k->type != YAML_SCALAR_NODE || k->data.scalar.length >= sizeof(key)) {
			snprintf(c->detail, DETAIL_MAX,
				 "%s:%lu: a mapping key that is not a short "
				 "string",
				 c->path, k ? (unsigned long)k->start_mark.line + 1 : 0UL);
			json_decref(out);
			return NULL;
		}
		memcpy(key, k->data.scalar.value, k->data.scalar.length);
		key[k->data.scalar.length] = 0;
		json_t *v = node_json(c, d, yaml_document_get_node(d, p->value), depth + 1);
		if (!v || json_object_set_new(out, key, v) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

int kubeconf_yaml_json(const char *text, size_t len, const char *name, json_t **ret, char *detail)
{
	struct ctx c = {.path = name, .where = "", .detail = detail};
	yaml_parser_t parser;
	yaml_document_t d;

	snprintf(detail, DETAIL_MAX, "%s: not YAML", name);
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &d)) {
		snprintf(detail, DETAIL_MAX, "%s:%lu: %s", name,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "malformed YAML");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	json_t *out = NULL;
	yaml_node_t *root = yaml_document_get_root_node(&d);
	if (root && refuse_duplicate_keys(&c, &d) >= 0)
		out = node_json(&c, &d, root, 0);
	yaml_document_delete(&d);
	yaml_parser_delete(&parser);
	if (!out)
		return -EINVAL;
	*ret = out;
	return 0;
}
