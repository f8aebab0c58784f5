/* local.c - the local API on a Unix socket: HTTP and JSON. */
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

static void post_disclosure(local *l, struct evhttp_request *req)
{
	char *body;
	size_t len;
	int rc = http_body(req, node_config(l->n)->max_body_bytes, &body, &len);

	if (rc != 0) {
		http_reply_error(req, rc == ACCORD_ETOOBIG ? 413 : 500, "the body is too large "
				 "or could not be read");
		return;
	}
	node_submit(l->n, body, len, http_reply_node, req);
	free(body);
}

static void reply_doc(struct evhttp_request *req, int status, json_t *doc)
{
	if (!doc)
		http_reply_error(req, 500, "out of memory");
	else
		http_reply_json(req, status, doc);
}

static void get_metrics(local *l, struct evhttp_request *req)
{
	char *text = node_metrics_text(l->n);

	if (!text) {
		http_reply_error(req, 500, "out of memory");
		return;
	}
	http_reply_bytes(req, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

/* /v1/inbox/{id} and /v1/inbox/{id}/ack */
static void inbox_item(local *l, struct evhttp_request *req, const char *rest, bool post)
{
	char id[64];
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	int status = 404;
	json_t *doc;

	if (n == 0 || n >= sizeof id) {
		http_reply_error(req, 404, "no such inbox item");
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (slash && strcmp(slash, "/ack") == 0 && post)
		doc = node_inbox_ack(l->n, id, &status);
	else if (!slash && !post)
		doc = node_inbox_item_json(l->n, id, &status);
	else {
		http_reply_error(req, 405, "use GET /v1/inbox/ID or POST /v1/inbox/ID/ack");
		return;
	}
	reply_doc(req, status, doc);
}

static void route(struct evhttp_request *req, void *arg)
{
	local *l = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	bool get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;

	if (!path)
		path = "";
	if (strcmp(path, "/v1/disclosures") == 0 && post)
		post_disclosure(l, req);
	else if (strcmp(path, "/v1/status") == 0 && get)
		reply_doc(req, 200, node_status_json(l->n));
	else if (strcmp(path, "/v1/outbox") == 0 && get)
		reply_doc(req, 200, node_outbox_json(l->n));
	else if (strcmp(path, "/v1/inbox") == 0 && get)
		reply_doc(req, 200, node_inbox_json(l->n));
	else if (strncmp(path, "/v1/inbox/", 10) == 0)
		inbox_item(l, req, path + 10, post);
	else if (strcmp(path, "/metrics") == 0 && get)
		get_metrics(l, req);
	else
		http_reply_error(req, 404, "no such resource: %s %s", get ? "GET" : "POST", path);
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
	/* Backlog 0: the socket listens already, with SOMAXCONN (a negative
	 * one would listen() again with libevent's 128). */
	lis = evconnlistener_new(node_base(n), NULL, NULL,
				 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
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
