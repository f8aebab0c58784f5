/*
 * courier.c - libcurl multi on libevent, after curl's hiperfifo example:
 * libcurl tells us which sockets to watch (socket callback) and when to
 * wake it (timer callback); we tell it what happened with
 * curl_multi_socket_action and collect finished transfers.
 *
 * Deadlines. libcurl before 8.4.0 (Debian 12 has 7.88) takes every
 * deadline of a transfer that falls less than a millisecond after the
 * moment it runs that transfer as already past, and drops it without
 * acting on it (curl PR 11937): a transfer waiting on a silent peer then
 * has no timer left and is never woken again. It also rounds the delay it
 * hands the timer callback down to the millisecond (PR 11938), and
 * libevent fires timers early besides (it counts from the time it cached
 * when the loop woke, on a coarse clock), so our timer often ran libcurl
 * in that last millisecond. Hence two things. The timer keeps its
 * deadline on libcurl's clock (CLOCK_MONOTONIC) plus the millisecond
 * libcurl rounded away, and a wake-up before it only re-arms. And as a
 * socket event or another deadline can still land in that millisecond,
 * each post has a watchdog that ends it as timed out if libcurl has not
 * ended it a while after its timeout.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <stdint.h>
#include <time.h>

#include "accord/courier.h"

/* How long after its timeout a post that libcurl lost is ended: long
 * enough that libcurl, even on a loaded machine, ends the others first. */
#define OVERDUE_GRACE_MS 1000

struct courier {
	struct event_base *base;
	tls *client;
	long timeout_ms;
	size_t max_response;
	CURLM *multi;
	struct event *timer;
	int64_t due_us;           /* when the timer may run libcurl; 0: now */
	size_t pending;
	struct post *posts;       /* in flight, for courier_close */
};

struct post {
	struct post *next, **prevp;
	courier *c;
	CURL *easy;
	struct curl_slist *headers;
	uint8_t pin[CRYPTO_SHA256_LEN];
	char pin_opt[8 + CRYPTO_B64_LEN(CRYPTO_SHA256_LEN)];
	uint8_t *body;
	uint8_t *resp;
	size_t resp_len;
	bool resp_too_big;
	char errbuf[CURL_ERROR_SIZE];
	struct event *overdue;    /* the watchdog */
	courier_done_fn done;
	void *arg;
};

/* The event watching one socket, kept as libcurl's socket data. */
struct sock {
	struct event *ev;
};

static void free_post(struct post *p)
{
	if (p->overdue)
		event_free(p->overdue);
	curl_easy_cleanup(p->easy);
	curl_slist_free_all(p->headers);
	free(p->body);
	free(p->resp);
	free(p);
}

static void unlink_post(struct post *p)
{
	curl_multi_remove_handle(p->c->multi, p->easy);
	*p->prevp = p->next;
	if (p->next)
		p->next->prevp = p->prevp;
	p->c->pending--;
}

/* The end of a post: out of the multi handle, to its owner, freed. */
static void finish_post(struct post *p, const courier_result *r)
{
	unlink_post(p);
	p->done(r, p->arg);
	free_post(p);
}

static void check_done(courier *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left))) {
		struct post *p;
		courier_result r = { 0 };

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
		if (msg->data.result == CURLE_OK && !p->resp_too_big) {
			curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &r.status);
			r.body = p->resp;
			r.len = p->resp_len;
		} else {
			r.error = p->resp_too_big ? "the response was larger than the limit" :
				  p->errbuf[0] ? p->errbuf : curl_easy_strerror(msg->data.result);
		}
		finish_post(p, &r);
	}
}

/* The watchdog: libcurl lost this post's deadline (see the top). */
static void on_overdue(evutil_socket_t fd, short what, void *arg)
{
	struct post *p = arg;
	courier_result r = { 0 };

	snprintf(p->errbuf, sizeof p->errbuf, "Operation timed out after %ld milliseconds",
		 p->c->timeout_ms);
	r.error = p->errbuf;
	finish_post(p, &r);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	courier *c = arg;
	int running = 0;
	int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) |
		    (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	/* The timer is libcurl's to arm and disarm, through timer_cb. */
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wake on_timer at c->due_us, or at once when that has passed. */
static int arm_timer(courier *c)
{
	int64_t left = c->due_us - now_us();
	struct timeval tv = { 0, 0 };

	if (c->due_us && left > 0) {
		tv.tv_sec = (time_t)(left / 1000000);
		tv.tv_usec = (suseconds_t)(left % 1000000);
	}
	/* libevent adds tv to the time it cached when the loop woke. */
	event_base_update_cache_time(c->base);
	return evtimer_add(c->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	courier *c = arg;
	int running = 0;

	/* Early: running libcurl now could make it drop the deadline. */
	if (c->due_us && now_us() < c->due_us && arm_timer(c) == 0)
		return;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

/*
 * libcurl's socket callback: watch fd for what it asks, with one event per
 * socket kept as libcurl's socket data. A change re-assigns that event
 * (hiperfifo's way) rather than freeing it and allocating another, which
 * could fail and leave the socket data without an event.
 */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *cp, void *sp)
{
	courier *c = cp;
	struct sock *s = sp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	kind = (short)(EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
		       (what & CURL_POLL_OUT ? EV_WRITE : 0));
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return -1;
		s->ev = event_new(c->base, fd, kind, on_socket_event, c);
		if (!s->ev) {
			free(s);
			return -1;
		}
		curl_multi_assign(c->multi, fd, s);
	} else {
		event_del(s->ev);
		if (event_assign(s->ev, c->base, fd, kind, on_socket_event, c) != 0)
			return -1;
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/*
 * libcurl's timer callback: -1 disarms, 0 asks for a run as soon as
 * possible (from the loop: libcurl may not be called from here), n asks
 * for one in n ms, which libcurl rounded down.
 */
static int timer_cb(CURLM *multi, long timeout_ms, void *cp)
{
	courier *c = cp;

	if (timeout_ms < 0) {
		c->due_us = 0;
		return evtimer_del(c->timer);
	}
	c->due_us = timeout_ms ? now_us() + ((int64_t)timeout_ms + 1) * 1000 : 0;
	return arm_timer(c);
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct post *p = arg;
	size_t len = size * n;
	uint8_t *grown;

	if (len > p->c->max_response - p->resp_len) {
		p->resp_too_big = true;
		return 0; /* stops the transfer */
	}
	grown = realloc(p->resp, p->resp_len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + p->resp_len, data, len);
	p->resp = grown;
	p->resp_len += len;
	return len;
}

/* libcurl made the TLS context for a connection: make it ours. */
static CURLcode ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *arg)
{
	struct post *p = arg;

	return tls_configure_client_ctx(p->c->client, ssl_ctx, p->pin) == 0 ?
	       CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

int courier_open(struct event_base *base, tls *client, long timeout_ms, courier **out,
		 accord_error *e)
{
	courier *c;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return accord_fail(e, ACCORD_EIO, "libcurl failed to initialise");
	c = calloc(1, sizeof *c);
	if (!c)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	c->base = base;
	c->client = client;
	c->timeout_ms = timeout_ms;
	c->max_response = COURIER_MAX_RESPONSE;
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timer, c);
	if (!c->multi || !c->timer) {
		courier_close(c);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	/* Several connections a partner: the receiver commits what arrives
	 * together as one batch, so more in flight means fewer syncs each. */
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
	*out = c;
	return 0;
}

void courier_close(courier *c)
{
	if (!c)
		return;
	while (c->posts) {
		struct post *p = c->posts;

		c->posts = p->next;
		curl_multi_remove_handle(c->multi, p->easy);
		free_post(p);
	}
	c->pending = 0;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->timer)
		event_free(c->timer);
	free(c);
}

void courier_set_max_response(courier *c, size_t max)
{
	c->max_response = max;
}

size_t courier_pending(const courier *c)
{
	return c->pending;
}

/* Every option of one post; false when libcurl refused one. */
static bool set_options(struct post *p, const char *url, const char *content_type,
			size_t len)
{
	CURL *h = p->easy;
	char type[128];

	snprintf(type, sizeof type, "Content-Type: %s", content_type);
	p->headers = curl_slist_append(NULL, type);
	/* No "Expect: 100-continue" (libcurl adds it above 1 MB): a Delivery
	 * may be up to 4 MiB, and waiting for the 100 costs a round trip. */
	if (p->headers && !curl_slist_append(p->headers, "Expect:")) {
		curl_slist_free_all(p->headers);
		p->headers = NULL;
	}
	if (!p->headers)
		return false;
	/* The key is pinned: the certificate's names are not part of the trust
	 * model (there is no CA), so the host name is not checked against them.
	 * Verification itself stays on; our verify callback checks the pin and
	 * libcurl checks it again through CURLOPT_PINNEDPUBLICKEY. No CA store
	 * is loaded: the system's has no say in who a partner is, and parsing
	 * it cost tens of milliseconds of the loop at each new connection. */
	return curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_CAINFO, NULL) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_CAPATH, NULL) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, p->pin_opt) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, p) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->c->timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->c->timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_WRITEDATA, p) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->errbuf) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_PRIVATE, p) == CURLE_OK;
}

int courier_post(courier *c, const char *url, const uint8_t pin[CRYPTO_SHA256_LEN],
		 const char *content_type, const void *body, size_t len,
		 courier_done_fn done, void *arg)
{
	struct post *p = calloc(1, sizeof *p);
	long wait_ms = c->timeout_ms + OVERDUE_GRACE_MS;
	struct timeval wait = { wait_ms / 1000, (wait_ms % 1000) * 1000 };

	if (!p)
		return ACCORD_ENOMEM;
	p->c = c;
	p->done = done;
	p->arg = arg;
	memcpy(p->pin, pin, CRYPTO_SHA256_LEN);
	memcpy(p->pin_opt, "sha256//", 9);
	crypto_b64_encode(pin, CRYPTO_SHA256_LEN, p->pin_opt + 8);
	p->body = malloc(len ? len : 1);
	p->easy = curl_easy_init();
	p->overdue = evtimer_new(c->base, on_overdue, p);
	if (!p->body || !p->easy || !p->overdue)
		goto fail;
	memcpy(p->body, body, len);
	if (!set_options(p, url, content_type, len) || evtimer_add(p->overdue, &wait) != 0 ||
	    curl_multi_add_handle(c->multi, p->easy) != CURLM_OK)
		goto fail;
	p->next = c->posts;
	if (p->next)
		p->next->prevp = &p->next;
	p->prevp = &c->posts;
	c->posts = p;
	c->pending++;
	return 0;
fail:
	free_post(p);
	return ACCORD_ENOMEM;
}
