/* test_courier.c - HTTPS posts over the event loop against an in-process
 * mutual-TLS server: pinned success, a wrong pin, an unknown client, no
 * server, a response over the cap, and a server that never answers. */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accord/courier.h"
#include "accord/tls.h"
#include "helper.h"

/* The response cap the tests set: a body over it is quick to send. */
#define SMALL_CAP ((size_t)64 * 1024)

struct fx {
	char *dir;
	struct event_base *base;
	tls *server, *client;
	uint8_t server_spki[CRYPTO_SHA256_LEN], client_spki[CRYPTO_SHA256_LEN];
	struct evhttp *http;
	int port;
	courier *c;
	size_t reply_size;
};

static void identity(struct fx *f, const char *name, uint8_t spki[CRYPTO_SHA256_LEN])
{
	char key[512], crt[512];

	snprintf(key, sizeof key, "%s/%s.key", f->dir, name);
	snprintf(crt, sizeof crt, "%s/%s.crt", f->dir, name);
	assert_int_equal(crypto_tls_identity_create(name, key, crt, 30, spki, NULL), 0);
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
	struct fx *f = arg;

	return bufferevent_openssl_socket_new(base, -1, SSL_new(tls_ctx(f->server)),
					      BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* Answers "got N" for a body of N bytes, or reply_size bytes of 'x'. */
static void handler(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	struct evbuffer *out = evbuffer_new();
	size_t n = evbuffer_get_length(evhttp_request_get_input_buffer(req));

	if (f->reply_size) {
		char *big = malloc(f->reply_size);

		memset(big, 'x', f->reply_size);
		evbuffer_add(out, big, f->reply_size);
		free(big);
	} else {
		evbuffer_add_printf(out, "got %zu", n);
	}
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char key[512], crt[512];
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;

	f->dir = th_tmpdir();
	identity(f, "server", f->server_spki);
	identity(f, "client", f->client_spki);
	f->base = event_base_new();
	snprintf(key, sizeof key, "%s/server.key", f->dir);
	snprintf(crt, sizeof crt, "%s/server.crt", f->dir);
	assert_int_equal(tls_open(crt, key, true, &f->server, NULL), 0);
	assert_int_equal(tls_set_pins(f->server, (const uint8_t (*)[32])f->client_spki, 1), 0);
	snprintf(key, sizeof key, "%s/client.key", f->dir);
	snprintf(crt, sizeof crt, "%s/client.crt", f->dir);
	assert_int_equal(tls_open(crt, key, false, &f->client, NULL), 0);
	f->http = evhttp_new(f->base);
	evhttp_set_bevcb(f->http, bevcb, f);
	evhttp_set_gencb(f->http, handler, f);
	bound = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bound);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound),
				     (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	assert_int_equal(courier_open(f->base, f->client, 2000, &f->c, NULL), 0);
	courier_set_max_response(f->c, SMALL_CAP);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	courier_close(f->c);
	evhttp_free(f->http);
	tls_close(f->server);
	tls_close(f->client);
	event_base_free(f->base);
	th_rmdir(f->dir);
	free(f);
	return 0;
}

struct outcome {
	int calls;
	long status;
	char body[128];
	size_t len;
	char error[256];
	struct event_base *base;
};

static void done(const courier_result *r, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->status = r->status;
	o->len = r->len;
	snprintf(o->body, sizeof o->body, "%.*s", (int)(r->len < 100 ? r->len : 100),
		 r->body ? (const char *)r->body : "");
	snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
	event_base_loopexit(o->base, NULL);
}

static void post_and_wait(struct fx *f, int port, const uint8_t *pin, struct outcome *o)
{
	char url[64];
	struct timeval limit = { 5, 0 };

	o->base = f->base;
	snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/envelopes", port);
	assert_int_equal(courier_post(f->c, url, pin, "application/x-protobuf",
				      "hello", 5, done, o), 0);
	assert_int_equal(courier_pending(f->c), 1);
	event_base_loopexit(f->base, &limit);
	event_base_dispatch(f->base);
	assert_int_equal(o->calls, 1);
	assert_int_equal(courier_pending(f->c), 0);
}

static void test_pinned_post(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };

	post_and_wait(f, f->port, f->server_spki, &o);
	assert_int_equal(o.status, 200);
	assert_string_equal(o.body, "got 5");
	/* and again, on the kept-alive connection */
	memset(&o, 0, sizeof o);
	post_and_wait(f, f->port, f->server_spki, &o);
	assert_int_equal(o.status, 200);
}

static void test_wrong_pin(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };

	post_and_wait(f, f->port, f->client_spki, &o);
	assert_int_equal(o.status, 0);
	assert_true(o.error[0] != '\0');
}

static void test_client_not_pinned(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };

	assert_int_equal(tls_set_pins(f->server, (const uint8_t (*)[32])f->server_spki, 1), 0);
	post_and_wait(f, f->port, f->server_spki, &o);
	assert_int_equal(o.status, 0);
	assert_true(o.error[0] != '\0');
}

static void test_no_server(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;

	/* a port that was free a moment ago */
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	post_and_wait(f, ntohs(sa.sin_port), f->server_spki, &o);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.error, "onnect"));
}

static void test_response_too_big(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };

	f->reply_size = SMALL_CAP + 1;
	post_and_wait(f, f->port, f->server_spki, &o);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.error, "the response was larger than the limit");
}

static void test_silent_server(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };
	courier *quick;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	char url[64];
	struct timeval limit = { 5, 0 };

	/* listens, never accepts: the handshake never completes */
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(courier_open(f->base, f->client, 300, &quick, NULL), 0);
	o.base = f->base;
	snprintf(url, sizeof url, "https://127.0.0.1:%d/", ntohs(sa.sin_port));
	assert_int_equal(courier_post(quick, url, f->server_spki, "text/plain", "x", 1,
				      done, &o), 0);
	event_base_loopexit(f->base, &limit);
	event_base_dispatch(f->base);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, 0);
	/* libcurl says "timed out", "Timeout" or "time-out", by phase */
	if (!strstr(o.error, "imed out") && !strstr(o.error, "imeout") &&
	    !strstr(o.error, "ime-out"))
		fail_msg("error: %s", o.error);
	courier_close(quick);
	close(fd);
}

static void test_close_with_post_in_flight(void **state)
{
	struct fx *f = *state;
	struct outcome o = { 0 };
	courier *c2;
	char url[64];

	assert_int_equal(courier_open(f->base, f->client, 2000, &c2, NULL), 0);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/", f->port);
	assert_int_equal(courier_post(c2, url, f->server_spki, "text/plain", "x", 1, done, &o), 0);
	courier_close(c2);
	assert_int_equal(o.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pinned_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_not_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_post_in_flight, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
