/*
 * courier.h - HTTPS POSTs to partner nodes: libcurl's multi interface
 * driven by the node's libevent loop, so deliveries never block the loop.
 *
 * Each post goes to one partner, whose TLS key is pinned (the protocol's
 * tls_spki_sha256) and to whom we show our own client certificate. TLS 1.3
 * only; connections are kept alive and reused per partner. A post ends in
 * exactly one call of its callback: with the HTTP status and the response
 * body (capped), or with status 0 and a sentence saying what failed.
 */
#ifndef ACCORD_COURIER_H
#define ACCORD_COURIER_H

#include <event2/event.h>

#include "accord/crypto.h"
#include "accord/error.h"
#include "accord/tls.h"

typedef struct courier courier;

/* The longest response body taken, unless courier_set_max_response says
 * otherwise: a partner's answer to a Delivery of many envelopes. */
#define COURIER_MAX_RESPONSE ((size_t)8 * 1024 * 1024)

/* The outcome of one post. body is valid only during the callback. */
typedef struct courier_result {
	long status;              /* HTTP status, or 0 when no response */
	const uint8_t *body;
	size_t len;
	const char *error;        /* why there was no response, or NULL */
} courier_result;

typedef void (*courier_done_fn)(const courier_result *r, void *arg);

/* client: our identity (tls_open(..., false, ...)); timeout_ms per post. */
int courier_open(struct event_base *base, tls *client, long timeout_ms, courier **out,
		 accord_error *e) ACCORD_MUST_CHECK;

/* Cancel every post in flight (their callbacks are not called) and free. */
void courier_close(courier *c);

/*
 * POST len bytes of body (copied) to url with the content type given,
 * accepting only a server whose key is pin. done(arg) is called once, from
 * the event loop, never from inside courier_post.
 */
int courier_post(courier *c, const char *url, const uint8_t pin[CRYPTO_SHA256_LEN],
		 const char *content_type, const void *body, size_t len,
		 courier_done_fn done, void *arg) ACCORD_MUST_CHECK;

/* Take response bodies of at most max bytes from now on; a longer one
 * ends its post with an error. */
void courier_set_max_response(courier *c, size_t max);

/* Posts in flight. */
size_t courier_pending(const courier *c);

#endif
