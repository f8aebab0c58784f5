/* local.c - the local API on a Unix socket. */
#include <event2/http.h>
#include <event2/listener.h>
#include <unistd.h>

#include "accord/local.h"
#include "httputil.h"

struct local {
	node *n;
	struct evhttp *http;
	char path[108];
};

static void get_status(local *l, struct evhttp_request *req)
{
	const protocol *p = node_protocol(l->n);
	json_t *doc = json_pack("{s:s}", "partner", node_config(l->n)->partner);
	char digest[2 * CRYPTO_SHA256_LEN + 1], review[11];

	if (!doc) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (p) {
		crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, digest);
		date_format(protocol_review_by(p), review);
		json_object_set_new(doc, "protocol", json_pack("{s:s, s:I, s:s, s:s}",
			"id", protocol_id(p), "version", (json_int_t)protocol_version(p),
			"digest", digest, "review_by", review));
		json_object_set_new(doc, "in_force", json_true());
	} else {
		json_object_set_new(doc, "protocol", json_null());
		json_object_set_new(doc, "in_force", json_false());
		json_object_set_new(doc, "reason", json_string(node_refusal(l->n)));
	}
	http_reply_json(req, 200, doc);
}

static void route(struct evhttp_request *req, void *arg)
{
	local *l = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path && strcmp(path, "/v1/status") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			http_reply_error(req, 405, "use GET for %s", path);
		else
			get_status(l, req);
		return;
	}
	http_reply_error(req, 404, "no such resource: %s", path ? path : "?");
}

int local_open(node *n, local **out, accord_error *e)
{
	const config *cf = node_config(n);
	local *l = calloc(1, sizeof *l);
	struct evconnlistener *lis;
	int fd;

	if (!l)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	l->n = n;
	snprintf(l->path, sizeof l->path, "%s", cf->local_socket);
	l->http = evhttp_new(node_base(n));
	if (!l->http) {
		free(l);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	evhttp_set_gencb(l->http, route, l);
	evhttp_set_max_body_size(l->http, (ev_ssize_t)cf->max_body_bytes);
	evhttp_set_max_headers_size(l->http, 16384);
	evhttp_set_timeout(l->http, 30);
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	fd = http_unix_listen(l->path, e);
	if (fd < 0) {
		evhttp_free(l->http);
		free(l);
		return ACCORD_EIO;
	}
	lis = evconnlistener_new(node_base(n), NULL, NULL,
				 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!lis || !evhttp_bind_listener(l->http, lis)) {
		if (lis)
			evconnlistener_free(lis);
		else
			close(fd);
		local_close(l);
		return accord_fail(e, ACCORD_EIO, "%s: cannot serve the local API", cf->local_socket);
	}
	*out = l;
	return 0;
}

void local_close(local *l)
{
	if (!l)
		return;
	if (l->http)
		evhttp_free(l->http);
	unlink(l->path);
	free(l);
}
