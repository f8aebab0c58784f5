/* local.c - the local API on a Unix socket: HTTP and JSON. */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <unistd.h>

#include "accord/crypto.h"
#include "accord/local.h"
#include "httputil.h"
#include "state.pb-c.h"

struct local {
	node *n;
	struct evhttp *http;
	struct http_guard *guard;   /* pauses the listener when it cannot accept */
	int owed;                   /* requests taken, their answers not yet written */
	char path[108];
};

/*
 * A request is owed from route() until its answer is written in full, or
 * until its connection closes first (the client gone, or the answer cut
 * off). evhttp reads a connection's next request only after the answer to
 * the one before, so each connection owes at most one; the close callback
 * is set while it does. A stopping node waits for these answers: without
 * that, the loop could end with the answer to a committed disclosure still
 * in a connection's buffer.
 */
static void answered(struct evhttp_request *req, void *arg)
{
	local *l = arg;

	evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	l->owed--;
}

static void gone(struct evhttp_connection *conn, void *arg)
{
	local *l = arg;

	l->owed--;
}

/*
 * evhttp stops reading a connection when it has read a request, and
 * reads it again (for a closed connection, with no read callback) only
 * once the answer is under way: two epoll_ctl calls a request, as the
 * answer to a disclosure comes on a later loop turn. Reading goes on here
 * at once, as evhttp would set it for the answer, so that the state of
 * the loop's events for the connection is unchanged from one request to
 * the next. The connection's input is kept for its next request. The end
 * of its input is not an error until the answer is under way: a client
 * that sent its request and shut down its side of the connection still
 * gets the answer, as before. Errors go to evhttp's own callback, which
 * is the same function for every connection.
 */
static bufferevent_event_cb evhttp_event_cb;

static void while_taken(struct bufferevent *bev, short what, void *arg)
{
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF))
		return;     /* bufferevent stopped reading; the answer goes out */
	evhttp_event_cb(bev, what, arg);
}

static void keep_reading(struct evhttp_connection *conn)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;
	void *arg;

	if (!bev)
		return;
	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	if (!ev || (evhttp_event_cb && ev != evhttp_event_cb))
		return;
	evhttp_event_cb = ev;
	bufferevent_setcb(bev, NULL, wr, while_taken, arg);
	bufferevent_enable(bev, EV_READ);
}

static void take(local *l, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);

	if (!conn)
		return;
	l->owed++;
	evhttp_request_set_on_complete_cb(req, answered, l);
	evhttp_connection_set_closecb(conn, gone, l);
	keep_reading(conn);
}

bool local_idle(const local *l)
{
	return l->owed == 0;
}

/*
 * An answer the node gives later (after its commit) is written at once.
 * evhttp would enable the connection's write event and write the answer
 * on the next loop turn, when epoll says the socket is writable: two more
 * epoll_ctl calls a request (add, then remove the write event) and an
 * event to dispatch, for a Unix socket that almost always has room. So
 * the answer is written here, and when it went out whole, evhttp is told
 * as its bufferevent would tell it (the write callback, the output below
 * its low-water mark of 0): it finishes the request and reads the next.
 * A short or failed write is left to the write event as before, which
 * writes the rest or reports the error. Not inside route(), where evhttp
 * is in its read callback: answers given there go the usual way.
 */
static bool routing;    /* inside route(); the loop's thread alone reads it */

static void reply_later(const node_reply *r, void *arg)
{
	struct evhttp_request *req = arg;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	struct evbuffer *out;

	http_reply_node(r, req);    /* req may be gone now; conn and bev are not */
	if (!bev || routing)
		return;
	out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) > 0 && evbuffer_write(out, bufferevent_getfd(bev)) > 0 &&
	    evbuffer_get_length(out) == 0)
		bufferevent_trigger(bev, EV_WRITE, 0);
}

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
	node_submit(l->n, body, len, reply_later, req);
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

static int refuse(char *why, size_t size, const char *fmt, ...) ACCORD_PRINTF(3, 4);
static int refuse(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return ACCORD_EINVAL;
}

/* The parameters of the lists' queries; state is the outbox's, unacked
 * the inbox's. */
enum { P_LIMIT, P_AFTER, P_STATE, P_UNACKED, P_N };
static const char *const param_name[P_N] = { "limit", "after", "state", "unacked" };

/* The value of state=, one of state.proto's OutboxItem.State names in
 * lower case; 0 when it is none. */
static int outbox_state_value(const char *val)
{
	char upper[16];
	size_t i;
	const ProtobufCEnumValue *ev;

	for (i = 0; val[i] && i + 1 < sizeof upper; i++)
		upper[i] = (char)(val[i] >= 'a' && val[i] <= 'z' ? val[i] - 'a' + 'A' : val[i]);
	upper[i] = '\0';
	ev = val[i] ? NULL : protobuf_c_enum_descriptor_get_value_by_name(
		&accord__state__outbox_item__state__descriptor, upper);
	return ev ? ev->value : 0;
}

/* One parameter of a list's query; `seen` has a bit for each one given. */
static int page_param(const char *key, const char *val, bool outbox, node_page *pg,
		      unsigned *seen, char *why, size_t size)
{
	size_t n = strlen(val), got;
	int p;

	for (p = 0; p < P_N && strcmp(key, param_name[p]) != 0; p++)
		;
	if (p == P_N || p == (outbox ? P_UNACKED : P_STATE))
		return refuse(why, size, "unknown parameter '%.40s': GET %s takes limit, after "
			      "and %s", key, outbox ? "/v1/outbox" : "/v1/inbox",
			      outbox ? "state" : "unacked");
	if (*seen & 1u << p)
		return refuse(why, size, "%s is given twice", key);
	*seen |= 1u << p;
	switch (p) {
	case P_LIMIT:
		if (n == 0 || n > 4 || strspn(val, "0123456789") != n ||
		    (pg->limit = strtoul(val, NULL, 10)) < 1 || pg->limit > NODE_PAGE_MAX)
			return refuse(why, size, "limit must be a whole number from 1 to %d, "
				      "not '%.40s'", NODE_PAGE_MAX, val);
		return 0;
	case P_AFTER:
		pg->has_after = true;
		if (n != 2 * sizeof pg->after ||
		    crypto_hex_decode(val, pg->after, sizeof pg->after, &got) != 0)
			return refuse(why, size, "after must be a message id (%zu hex digits), "
				      "not '%.40s'", 2 * sizeof pg->after, val);
		return 0;
	case P_STATE:
		pg->state = outbox_state_value(val);
		if (pg->state == ACCORD__STATE__OUTBOX_ITEM__STATE__STATE_UNSPECIFIED)
			return refuse(why, size, "state must be pending, delivered, refused or "
				      "paused, not '%.40s'", val);
		return 0;
	default:
		if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
			return refuse(why, size, "unacked must be true or false, not '%.40s'", val);
		pg->unacked = val[0] == 't';
		return 0;
	}
}

int local_page_query(const char *query, bool outbox, node_page *pg, char *why, size_t size)
{
	struct evkeyvalq q;
	const struct evkeyval *kv;
	unsigned seen = 0;
	int rc = 0;

	*pg = (node_page){ .limit = NODE_PAGE_DEFAULT };
	if (!query)
		return 0;
	if (evhttp_parse_query_str(query, &q) != 0)
		return refuse(why, size, "the query string is malformed: use NAME=VALUE "
			      "pairs joined by '&'");
	TAILQ_FOREACH(kv, &q, next)
		if ((rc = page_param(kv->key, kv->value, outbox, pg, &seen, why, size)) != 0)
			break;
	evhttp_clear_headers(&q);
	return rc;
}

static void get_list(local *l, struct evhttp_request *req, bool outbox)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	char why[200];
	node_page pg;
	int status;
	json_t *doc;

	if (local_page_query(query, outbox, &pg, why, sizeof why) != 0) {
		http_reply_error(req, 422, "%s", why);
		return;
	}
	doc = outbox ? node_outbox_json(l->n, &pg, &status) : node_inbox_json(l->n, &pg, &status);
	reply_doc(req, status, doc);
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
	if (slash && strcmp(slash, "/ack") == 0 && post) {
		node_inbox_ack(l->n, id, reply_later, req);
		return;
	}
	if (!slash && !post)
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

	take(l, req);
	routing = true;
	if (!path)
		path = "";
	if (strcmp(path, "/v1/disclosures") == 0 && post)
		post_disclosure(l, req);
	else if (strcmp(path, "/v1/status") == 0 && get)
		reply_doc(req, 200, node_status_json(l->n));
	else if (strcmp(path, "/v1/outbox") == 0 && get)
		get_list(l, req, true);
	else if (strcmp(path, "/v1/inbox") == 0 && get)
		get_list(l, req, false);
	else if (strncmp(path, "/v1/inbox/", 10) == 0)
		inbox_item(l, req, path + 10, post);
	else if (strcmp(path, "/metrics") == 0 && get)
		get_metrics(l, req);
	else
		http_reply_error(req, 404, "no such resource: %s %s", get ? "GET" : "POST", path);
	routing = false;
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
	l->guard = http_guard_new(n, lis, "local API", NULL);
	if (!l->guard) {
		local_close(l);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	*out = l;
	return 0;
}

void local_close(local *l)
{
	if (!l)
		return;
	http_guard_free(l->guard);
	if (l->http)
		evhttp_free(l->http);
	unlink(l->path);
	free(l);
}
