/*
 * httputil.h - what the peer and local listeners share: bounded bodies and
 * JSON or text replies over libevent's evhttp. Internal to the library.
 */
#ifndef ACCORD_HTTPUTIL_H
#define ACCORD_HTTPUTIL_H

#include <event2/http.h>
#include <jansson.h>

#include "accord/error.h"
#include "accord/node.h"

/* Copy the request body out (at most max bytes, else ACCORD_ETOOBIG, with
 * its length in *len and nothing copied). *buf is malloc'd with a NUL after
 * the *len bytes. */
int http_body(struct evhttp_request *req, size_t max, char **buf, size_t *len)
	ACCORD_MUST_CHECK;

/* Reply with a JSON document (stolen: the reply decrefs it). */
void http_reply_json(struct evhttp_request *req, int code, json_t *doc);

/* Reply {"error": reason} with code. */
void http_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
	ACCORD_PRINTF(3, 4);

/* Reply with bytes and a content type. */
void http_reply_bytes(struct evhttp_request *req, int code, const char *type,
		      const void *data, size_t len);

/* Send a node_reply (accord/node.h) on req; arg is the request. Decrefs
 * the reply's JSON. */
struct node_reply;
void http_reply_node(const struct node_reply *r, void *req);

/* The reason phrase for a status code. */
const char *http_reason(int code);

/* A listening Unix socket at path with mode 0660 (a stale socket file is
 * replaced; any other file there is an error). Returns the fd or -1. */
int http_unix_listen(const char *path, accord_error *e);

/*
 * A listener that cannot accept (no descriptor left: EMFILE, ENFILE; or no
 * memory) would be called again at once by libevent, which logs every
 * failure, while the connection waits in the backlog: a spin that fills
 * the log. A guarded listener pauses instead, for HTTP_GUARD_PAUSE_MS,
 * with one line in the node's log each time, then accepts again unless
 * held (*held true: the peer listener at its connection limit, which
 * resumes it itself). name says which listener ("peer listener"). Freed
 * with http_guard_free before the listener.
 */
#define HTTP_GUARD_PAUSE_MS 1000
struct http_guard;
struct evconnlistener;
struct http_guard *http_guard_new(node *n, struct evconnlistener *lis, const char *name,
				  const bool *held);
void http_guard_free(struct http_guard *g);

#endif
