/* httputil.c - bounded bodies and replies for the listeners. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "accord/node.h"
#include "accord/record.h"
#include "httputil.h"

const char *http_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Status";
}

int http_body(struct evhttp_request *req, size_t max, char **buf, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *b;

	*len = n;
	if (n > max)
		return ACCORD_ETOOBIG;
	b = malloc(n + 1);
	if (!b)
		return ACCORD_ENOMEM;
	if (n && evbuffer_copyout(in, b, n) != (ev_ssize_t)n) {
		free(b);
		return ACCORD_EIO;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

void http_reply_bytes(struct evhttp_request *req, int code, const char *type,
		      const void *data, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (!out || evbuffer_add(out, data, len) != 0) {
		evbuffer_free(out);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", type);
	evhttp_send_reply(req, code, http_reason(code), out);
	evbuffer_free(out);
}

void http_reply_json(struct evhttp_request *req, int code, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (!text) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	http_reply_bytes(req, code, "application/json", text, strlen(text));
	free(text);
}

void http_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[1024], text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* It may echo a request's bytes, or be cut inside a character. */
	record_utf8_escape(msg, strlen(msg), text, sizeof text);
	http_reply_json(req, code, json_pack("{s:s}", "error", text));
}

/* Whether a process listens on the socket at sa: a socket file whose
 * process is gone refuses the connection. */
static bool unix_listened(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
		(errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return alive;
}

int http_unix_listen(const char *path, accord_error *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		accord_fail(e, ACCORD_ETOOBIG, "%s: socket path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			accord_fail(e, ACCORD_EEXIST, "%s exists and is not a socket", path);
			return -1;
		}
		/* One left by a process that ended is taken over; a live one
		 * is another node's (a local_socket copied). */
		if (unix_listened(&sa)) {
			accord_fail(e, ACCORD_EBUSY, "%s: another process listens on this "
				    "socket: is a node already running with this local_socket?",
				    path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		accord_fail(e, ACCORD_EIO, "socket: %s", strerror(errno));
		return -1;
	}
	/* The file's mode is the access control: never a moment wider. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		umask(old);
		accord_fail(e, ACCORD_EIO, "%s: cannot bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) != 0 || listen(fd, SOMAXCONN) != 0) {
		accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* A refusal whose JSON could not be made still says what it is. */
void http_reply_node(const node_reply *r, void *req)
{
	if (r->json)
		http_reply_json(req, r->status, r->json);
	else if (!r->bytes && r->status >= 400)
		http_reply_error(req, r->status, "%s (its reason could not be written)",
				 http_reason(r->status));
	else
		http_reply_bytes(req, r->status, r->content_type ? r->content_type :
				 "application/octet-stream", r->bytes, r->len);
}

/* ---- listeners that pause rather than spin ----------------------------------- */

struct http_guard {
	node *n;
	struct evconnlistener *lis;
	const char *name;
	const bool *held;
	struct event *resume;
	struct http_guard *next;
};

/* libevent hands the error callback the listener and the argument of its
 * accept callback (evhttp's own), so the guards are found by listener:
 * the loop's thread alone uses this list. */
static struct http_guard *guards;

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http_guard *g = arg;

	if (!g->held || !*g->held)
		evconnlistener_enable(g->lis);
}

static void on_accept_error(struct evconnlistener *lis, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval t = { HTTP_GUARD_PAUSE_MS / 1000, (long)(HTTP_GUARD_PAUSE_MS % 1000) * 1000 };
	struct http_guard *g = guards;

	while (g && g->lis != lis)
		g = g->next;
	if (!g)
		return;
	evconnlistener_disable(lis);
	evtimer_add(g->resume, &t);
	node_log(g->n, "%s: cannot accept a connection (%s): not accepting for %d ms; "
		 "raise the limit on open files (ulimit -n) if this recurs", g->name,
		 evutil_socket_error_to_string(err), HTTP_GUARD_PAUSE_MS);
}

struct http_guard *http_guard_new(node *n, struct evconnlistener *lis, const char *name,
				  const bool *held)
{
	struct http_guard *g = calloc(1, sizeof *g);

	if (!g)
		return NULL;
	*g = (struct http_guard){ .n = n, .lis = lis, .name = name, .held = held,
				  .next = guards };
	g->resume = evtimer_new(evconnlistener_get_base(lis), on_resume, g);
	if (!g->resume) {
		free(g);
		return NULL;
	}
	evconnlistener_set_error_cb(lis, on_accept_error);
	guards = g;
	return g;
}

void http_guard_free(struct http_guard *g)
{
	if (!g)
		return;
	for (struct http_guard **pp = &guards; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	event_free(g->resume);
	free(g);
}
