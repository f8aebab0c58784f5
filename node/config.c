/* config.c - the node's configuration, read with the same bounded YAML
 * tree as the protocol and checked key by key. */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>

#include "accord/config.h"
#include "accord/fs.h"
#include "yamltree.h"

struct cctx {
	protocol_diags *d;
	const char *dir;      /* the config file's directory */
};

#define DIAG(c, n, ...) protocol_diag_add((c)->d, (n)->line, (n)->column, __VA_ARGS__)

static const char *scalar(struct cctx *c, const yt_node *n, const char *key)
{
	if (n->kind != YT_SCALAR || n->len == 0) {
		DIAG(c, n, "'%s' must be a single, non-empty value", key);
		return NULL;
	}
	return n->str;
}

/* A path, made absolute against the config file's directory. */
static void path_value(struct cctx *c, const yt_node *n, const char *key, char *out,
		       size_t size)
{
	const char *s = scalar(c, n, key);
	int w;

	if (!s)
		return;
	if (s[0] == '/')
		w = snprintf(out, size, "%s", s);
	else
		w = snprintf(out, size, "%s/%s", c->dir, s);
	if (w < 0 || (size_t)w >= size)
		DIAG(c, n, "'%s' is a path longer than %zu bytes", key, size - 1);
}

static bool long_value(struct cctx *c, const yt_node *n, const char *key, long lo,
		       long hi, long *out)
{
	const char *s = scalar(c, n, key);
	char *end;
	long v;

	if (!s)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end || errno || v < lo || v > hi) {
		DIAG(c, n, "'%s' must be a whole number from %ld to %ld, not '%s'", key,
		     lo, hi, s);
		return false;
	}
	*out = v;
	return true;
}

/* "host:port", "[v6]:port". */
static void listen_value(struct cctx *c, const yt_node *n, config *cf)
{
	const char *s = scalar(c, n, "listen");
	const char *colon, *host = s;
	size_t hl;
	char *end;
	long port;

	if (!s)
		return;
	colon = strrchr(s, ':');
	if (!colon || colon == s)
		goto bad;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (colon[-1] != ']')
			goto bad;
		host = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof cf->listen_host)
		goto bad;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end || errno || port < 1 || port > 65535)
		goto bad;
	memcpy(cf->listen_host, host, hl);
	cf->listen_host[hl] = '\0';
	cf->listen_port = (int)port;
	return;
bad:
	DIAG(c, n, "'listen' must be host:port, e.g. 127.0.0.1:7443 or [::1]:7443, "
	     "not '%s'", s);
}

static void limits_value(struct cctx *c, const yt_node *m, config *cf)
{
	static const char *const keys[] = {
		"max_body_bytes", "max_connections", "audit_max_mib",
		"delivery_timeout_ms", "retry_initial_ms", "retry_max_ms",
	};
	static const long lo[] = { 1024, 1, 16, 100, 10, 100 };
	static const long hi[] = { 16L << 20, 65536, 1L << 20, 600000, 600000, 86400000 };

	if (m->kind != YT_MAPPING) {
		DIAG(c, m, "'limits' must be a mapping");
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		const yt_node *k = m->items[2 * i], *v = m->items[2 * i + 1];
		size_t j;
		long x;

		for (j = 0; j < sizeof keys / sizeof keys[0]; j++)
			if (k->kind == YT_SCALAR && strcmp(k->str, keys[j]) == 0)
				break;
		if (j == sizeof keys / sizeof keys[0]) {
			DIAG(c, k, "unknown key '%s' in limits (known: max_body_bytes, "
			     "max_connections, audit_max_mib, delivery_timeout_ms, "
			     "retry_initial_ms, retry_max_ms)", k->kind == YT_SCALAR ? k->str : "?");
			continue;
		}
		if (!long_value(c, v, keys[j], lo[j], hi[j], &x))
			continue;
		switch (j) {
		case 0: cf->max_body_bytes = (size_t)x; break;
		case 1: cf->max_connections = (int)x; break;
		case 2: cf->audit_max_mib = (size_t)x; break;
		case 3: cf->delivery_timeout_ms = x; break;
		case 4: cf->retry_initial_ms = x; break;
		default: cf->retry_max_ms = x; break;
		}
	}
}

static void parse(struct cctx *c, const yt_node *root, config *cf)
{
	static const char *const keys[] = {
		"partner", "protocol", "signing_key", "tls_key", "tls_cert",
		"data_dir", "listen", "local_socket", "limits",
	};
	enum { NK = sizeof keys / sizeof keys[0] };
	const yt_node *v[NK] = { 0 };

	if (root->kind != YT_MAPPING) {
		DIAG(c, root, "the configuration must be a mapping of keys to values");
		return;
	}
	for (size_t i = 0; i < root->n; i++) {
		const yt_node *k = root->items[2 * i];
		size_t j;

		for (j = 0; j < NK; j++)
			if (k->kind == YT_SCALAR && strcmp(k->str, keys[j]) == 0)
				break;
		if (j == NK)
			DIAG(c, k, "unknown key '%s' (known: partner, protocol, signing_key, "
			     "tls_key, tls_cert, data_dir, listen, local_socket, limits)",
			     k->kind == YT_SCALAR ? k->str : "?");
		else if (v[j])
			DIAG(c, k, "key '%s' appears twice (first at line %d)", keys[j], v[j]->line);
		else
			v[j] = root->items[2 * i + 1];
	}
	for (size_t j = 0; j < NK - 1; j++)
		if (!v[j])
			DIAG(c, root, "the configuration is missing the required key '%s'", keys[j]);
	if (v[0]) {
		const char *s = scalar(c, v[0], "partner");

		if (s && !protocol_id_ok(s))
			DIAG(c, v[0], "partner '%s' is not a well-formed partner id", s);
		else if (s)
			snprintf(cf->partner, sizeof cf->partner, "%s", s);
	}
	if (v[1]) path_value(c, v[1], "protocol", cf->protocol, sizeof cf->protocol);
	if (v[2]) path_value(c, v[2], "signing_key", cf->signing_key, sizeof cf->signing_key);
	if (v[3]) path_value(c, v[3], "tls_key", cf->tls_key, sizeof cf->tls_key);
	if (v[4]) path_value(c, v[4], "tls_cert", cf->tls_cert, sizeof cf->tls_cert);
	if (v[5]) path_value(c, v[5], "data_dir", cf->data_dir, sizeof cf->data_dir);
	if (v[6]) listen_value(c, v[6], cf);
	if (v[7]) path_value(c, v[7], "local_socket", cf->local_socket, sizeof cf->local_socket);
	if (v[8]) limits_value(c, v[8], cf);
}

/* d empty, naming the file name; cf holding the defaults. */
static void start(const char *name, config *cf, protocol_diags *d)
{
	memset(d, 0, sizeof *d);
	snprintf(d->file, sizeof d->file, "%.*s", (int)sizeof d->file - 1, name);
	*cf = (config){
		.max_body_bytes = (size_t)256 * 1024, .max_connections = 512, .audit_max_mib = 4096,
		.delivery_timeout_ms = 10000, .retry_initial_ms = 500, .retry_max_ms = 300000,
	};
}

int config_parse(const char *name, const char *dir, const void *buf, size_t len,
		 config *cf, protocol_diags *d)
{
	static const yt_limits lim = { .max_depth = 4, .max_nodes = 1000, .max_scalar = 1024 };
	struct cctx c = { .d = d, .dir = dir };
	char msg[256];
	yt_node *root;
	arena *a;
	int rc, line, column;

	start(name, cf, d);
	if (len > CONFIG_MAX_BYTES) {
		protocol_diag_add(d, 0, 0, "the configuration is larger than %zu bytes",
				  CONFIG_MAX_BYTES);
		return ACCORD_ETOOBIG;
	}
	a = arena_new();
	if (!a) {
		protocol_diag_add(d, 0, 0, "out of memory");
		return ACCORD_ENOMEM;
	}
	rc = yt_parse(a, buf, len, &lim, &root, &line, &column, msg, sizeof msg);
	if (rc != 0) {
		protocol_diag_add(d, line, column, "%s", msg);
	} else {
		parse(&c, root, cf);
		if (d->count)
			rc = ACCORD_EINVALID;
	}
	arena_free(a);
	return rc;
}

int config_load(const char *path, config *cf, protocol_diags *d)
{
	char dirbuf[CONFIG_PATH_MAX];
	accord_error e = { 0 };
	char *buf = NULL;
	size_t len;
	int rc = fs_read_file(path, CONFIG_MAX_BYTES, &buf, &len, &e);

	if (rc != 0) {
		start(path, cf, d);
		protocol_diag_add(d, 0, 0, "%s", fs_error_detail(&e, path));
		return rc;
	}
	if (fs_path(dirbuf, sizeof dirbuf, "%s", path) != 0) {
		start(path, cf, d);
		protocol_diag_add(d, 0, 0, "the path is too long");
		rc = ACCORD_ETOOBIG;
	} else {
		rc = config_parse(path, dirname(dirbuf), buf, len, cf, d);
	}
	free(buf);
	return rc;
}
