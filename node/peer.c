/* peer.c - the HTTPS listener other nodes talk to. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "accord/peer.h"
#include "httputil.h"

/*
 * What the listener's connections share with it. libevent may free a
 * connection (and with it its TLS session) after the listener is closed,
 * so this is counted: the listener holds one reference and each open
 * connection one.
 *
 * limits.max_connections: at that many open connections the listener
 * stops accepting (the kernel's backlog holds the next ones) until one
 * closes.
 */
#define PEER_MAX_HEADER_BYTES 16384

struct shared {
	node *n;
	size_t max_body;        /* libevent's limit: no body over it is read */
	struct evconnlistener *lis;
	int open, max_open;
	int owed;               /* connections whose request is ours, not yet answered */
	bool paused;
	bool closed;            /* the listener is gone: n and lis with it */
	int refs;
};

struct peer {
	node *n;
	struct evhttp *http;
	struct shared *sh;
	struct http_guard *guard;   /* pauses the listener when it cannot accept */
};

static void shared_drop(struct shared *sh)
{
	if (--sh->refs == 0)
		free(sh);
}

/*
 * A connection's state beside its TLS session, kept in the session's
 * ex_data and freed with it.
 *
 * libevent refuses a request whose body is over its limit (413, then it
 * closes the connection) before any of our code sees it: libevent 2.1 calls
 * nothing of ours for such a request, nor lets us hook in before its body
 * is read (evhttp_set_newreqcb came with 2.2). What it writes on the
 * connection is the one trace of the request: the refusal is a response
 * that no request of ours asked for. So each connection's output is
 * watched for a response starting while none of ours is owed, and an
 * error there is audited (node_receive_refused_unread).
 */
struct conn {
	struct shared *sh;
	SSL *ssl;
	bool ours;          /* route() took a request, not yet answered in full */
	bool refused;       /* libevent refused one (then it closes) */
};

static int conn_index = -1;

/* A connection closes (its TLS session is freed): below the limit again,
 * the listener accepts again. */
static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	struct conn *c = ptr;
	struct shared *sh = c ? c->sh : NULL;
	bool owed = c && c->ours;

	free(c);
	if (!sh)
		return;
	sh->open--;
	sh->owed -= owed;
	if (sh->paused && !sh->closed && sh->open < sh->max_open) {
		evconnlistener_enable(sh->lis);
		sh->paused = false;
		node_log(sh->n, "peer listener: %d connections open, below "
			 "limits.max_connections again: accepting", sh->open);
	}
	shared_drop(sh);
}

/* One more connection is open: at the limit, stop accepting. */
static void conn_opened(struct shared *sh)
{
	sh->refs++;
	sh->open++;
	if (!sh->paused && sh->open >= sh->max_open) {
		evconnlistener_disable(sh->lis);
		sh->paused = true;
		node_log(sh->n, "peer listener: %d connections open, limits.max_connections: "
			 "new ones wait until one closes", sh->open);
	}
}

/* What the response written to out by the last change (info) says: an
 * error not of ours is libevent's refusal of a request it would not read:
 * 413 for a body over its limit (or a broken chunked encoding), 400 for a
 * malformed request or headers over theirs, 405 or 501 for a method it
 * does not take. Each response starts with its status line, written in
 * one piece; 100 Continue and the like are not refusals. */
static void on_output(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	size_t len = evbuffer_get_length(out);
	struct evbuffer_ptr at;
	char line[12], why[200];  /* "HTTP/1.1 413" */
	uint8_t spki[CRYPTO_SHA256_LEN];
	int status = 0;

	if (c->sh->closed || c->ours || c->refused || info->n_added < sizeof line ||
	    len < info->n_added ||
	    evbuffer_ptr_set(out, &at, len - info->n_added, EVBUFFER_PTR_SET) != 0 ||
	    evbuffer_copyout_from(out, &at, line, sizeof line) != (ev_ssize_t)sizeof line ||
	    memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		return;
	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return;
		status = status * 10 + (line[i] - '0');
	}
	if (status < 400)
		return;
	c->refused = true;
	if (status == 413)
		snprintf(why, sizeof why, "the request's body is over %zu bytes, the most this "
			 "node reads, or its chunked encoding is broken; it was not read",
			 c->sh->max_body);
	else if (status == 400)
		snprintf(why, sizeof why, "the request is malformed or its headers are over "
			 "%d bytes; it was not read", PEER_MAX_HEADER_BYTES);
	else
		snprintf(why, sizeof why, "the HTTP layer refused the request (%d: a method "
			 "this node does not take); it was not read", status);
	if (tls_peer_spki(c->ssl, spki))
		node_receive_refused_unread(c->sh->n, spki, status, why);
}

/* Our answer to the connection's request is written: what it writes next
 * answers a request of libevent's. */
static void answered(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	c->ours = false;
	c->sh->owed--;
}

/* route() takes req: an answer is ours until it is written. */
static void take(struct evhttp_request *req, SSL *ssl)
{
	struct conn *c = SSL_get_ex_data(ssl, conn_index);

	if (c) {
		c->sh->owed += !c->ours;
		c->ours = true;
		evhttp_request_set_on_complete_cb(req, answered, c);
	}
}

/* Each accepted connection gets its own TLS session on our context. */
static struct bufferevent *new_tls_bev(struct event_base *base, void *arg)
{
	peer *p = arg;
	SSL *ssl = SSL_new(tls_ctx(node_server_tls(p->n)));
	struct conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev;

	if (!ssl || !c || SSL_set_ex_data(ssl, conn_index, c) != 1) {
		SSL_free(ssl);
		free(c);
		return NULL;
	}
	c->sh = p->sh;      /* from here the session owns c */
	c->ssl = ssl;
	conn_opened(p->sh);
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev && !evbuffer_add_cb(bufferevent_get_output(bev), on_output, c)) {
		bufferevent_free(bev);
		return NULL;
	}
	return bev;
}

/* The partner behind this request's TLS connection, or NULL. Every request
 * route() takes passes here first. */
static const protocol_partner *request_partner(peer *p, struct evhttp_request *req,
					       uint8_t spki[CRYPTO_SHA256_LEN])
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	if (ssl)
		take(req, ssl);
	if (!ssl || !tls_peer_spki(ssl, spki))
		return NULL;
	/* Answers go out in more than one write: without this the last part
	 * waits for the client's delayed ACK. */
	if (setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		       sizeof(int)) != 0)
		return NULL;
	return node_partner_by_spki(p->n, spki);
}

static void get_protocol(peer *p, struct evhttp_request *req)
{
	const protocol *pr = node_protocol(p->n);
	char digest[2 * CRYPTO_SHA256_LEN + 1];

	if (!pr) {
		http_reply_error(req, 503, "no protocol in force: %s", node_refusal(p->n));
		return;
	}
	crypto_hex(protocol_digest(pr), CRYPTO_SHA256_LEN, digest);
	http_reply_json(req, 200, json_pack("{s:s, s:I, s:s}", "protocol", protocol_id(pr),
					    "version", (json_int_t)protocol_version(pr),
					    "digest", digest));
}

/* POST /v1/envelopes (one) or /v1/deliveries (a batch). */
static void post_envelopes(peer *p, struct evhttp_request *req, const uint8_t *spki,
			   bool batch)
{
	size_t cap = batch ? NODE_DELIVERY_MAX_BYTES : node_config(p->n)->max_body_bytes;
	char *body;
	size_t len;
	int rc = http_body(req, cap, &body, &len);

	if (rc == ACCORD_ETOOBIG) {
		node_receive_too_big(p->n, spki, batch, len, cap, http_reply_node, req);
		return;
	}
	if (rc != 0) {
		http_reply_error(req, 500, "the %s could not be read: %s",
				 batch ? "delivery" : "envelope", accord_strerror(rc));
		return;
	}
	if (batch)
		node_receive_batch(p->n, spki, body, len, http_reply_node, req);
	else
		node_receive(p->n, spki, body, len, http_reply_node, req);
	free(body);
}

static void get_checkpoint(peer *p, struct evhttp_request *req)
{
	char *note = NULL;

	if (node_latest_checkpoint(p->n, &note) != 0) {
		http_reply_error(req, 404, "no checkpoint yet");
		return;
	}
	http_reply_bytes(req, 200, "text/plain; charset=utf-8", note, strlen(note));
	free(note);
}

static void route(struct evhttp_request *req, void *arg)
{
	peer *p = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	uint8_t spki[CRYPTO_SHA256_LEN];
	const protocol_partner *from = request_partner(p, req, spki);

	if (!from) {
		http_reply_error(req, 403, "your TLS key is not a partner's in the protocol in force");
		return;
	}
	if (path && cmd == EVHTTP_REQ_POST && (strcmp(path, "/v1/envelopes") == 0 ||
					       strcmp(path, "/v1/deliveries") == 0)) {
		post_envelopes(p, req, spki, strcmp(path, "/v1/deliveries") == 0);
		return;
	}
	if (path && strcmp(path, "/v1/checkpoint") == 0 && cmd == EVHTTP_REQ_GET) {
		get_checkpoint(p, req);
		return;
	}
	if (path && strcmp(path, "/v1/protocol") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			http_reply_error(req, 405, "use GET for %s", path);
		else
			get_protocol(p, req);
		return;
	}
	http_reply_error(req, 404, "no such resource: %s", path ? path : "?");
}

int peer_open(node *n, peer **out, accord_error *e)
{
	const config *cf = node_config(n);
	peer *p = calloc(1, sizeof *p);
	struct evhttp_bound_socket *bound;

	if (!p)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	p->n = n;
	p->sh = calloc(1, sizeof *p->sh);
	if (p->sh)
		*p->sh = (struct shared){
			.n = n, .max_open = cf->max_connections, .refs = 1,
			.max_body = cf->max_body_bytes > NODE_DELIVERY_MAX_BYTES ?
				    cf->max_body_bytes : NODE_DELIVERY_MAX_BYTES,
		};
	p->http = p->sh ? evhttp_new(node_base(n)) : NULL;
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
	if (!p->http || conn_index < 0) {
		peer_close(p);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	evhttp_set_bevcb(p->http, new_tls_bev, p);
	evhttp_set_gencb(p->http, route, p);
	evhttp_set_max_body_size(p->http, (ev_ssize_t)p->sh->max_body);
	evhttp_set_max_headers_size(p->http, PEER_MAX_HEADER_BYTES);
	evhttp_set_timeout(p->http, 30);
	evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	bound = evhttp_bind_socket_with_handle(p->http, cf->listen_host,
					       (ev_uint16_t)cf->listen_port);
	if (!bound) {
		peer_close(p);
		return accord_fail(e, ACCORD_EIO, "cannot listen on %s:%d (in use, or not an "
				   "address of this machine)", cf->listen_host, cf->listen_port);
	}
	p->sh->lis = evhttp_bound_socket_get_listener(bound);
	p->guard = http_guard_new(n, p->sh->lis, "peer listener", &p->sh->paused);
	if (!p->guard) {
		peer_close(p);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	*out = p;
	return 0;
}

bool peer_idle(const peer *p)
{
	return p->sh->owed == 0;
}

void peer_close(peer *p)
{
	if (!p)
		return;
	http_guard_free(p->guard);
	if (p->sh)
		p->sh->closed = true; /* connections may outlive the listener */
	if (p->http)
		evhttp_free(p->http);
	if (p->sh)
		shared_drop(p->sh);
	free(p);
}
