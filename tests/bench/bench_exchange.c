/*
 * bench_exchange.c - disclosures a second end to end between two running
 * nodes, and the latency of one, beside nginx answering the same mutual-TLS
 * POST with the same client in the same run.
 *
 * tests/bench/exchange.sh starts the nodes (police -> council) and nginx
 * and runs this program against them; run alone it says how to call it.
 *
 *   latency   one request at a time: the sender's local API until its 202
 *             (the DISCLOSED entry durable), and until the item is in the
 *             receiver's inbox (GET /v1/inbox/ID answers 200); against one
 *             keep-alive POST to nginx at a time
 *   rate      COUNT POSTs to nginx, CONCURRENCY in flight over as many
 *             keep-alive connections; then COUNT disclosures to the sender
 *             the same way. The end-to-end rate is the disclosures in the
 *             receiver's inbox over the time from the first request until
 *             the last of them is there, read every POLL_MS from the
 *             receiver's store opened read only in this process (one
 *             mdb_stat, no request on the receiver's loop). Deliveries go in
 *             no particular order. At DEADLINE seconds the count so far
 *             makes the rate, and stderr says so.
 *
 *   cpu       with the processes' ids (exchange.sh gives them), the CPU
 *             time each used during the rate runs, from /proc: both
 *             nodes' a disclosure against nginx's workers' a request
 *             (exchange_cpu), and on stderr the sender's event loop, the
 *             receiver and this client. CPU time moves far less than
 *             the rates on a shared machine: compare builds by it.
 *
 * The client is libcurl (its multi socket interface on epoll), HTTP/1.1, no
 * Expect: 100-continue.
 * Toward nginx it presents the sender's certificate and pins the key of
 * nginx's certificate (the receiver's), verification on, the certificate
 * itself as the trust anchor, as the courier pins a partner.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "accord/fs.h"
#include "accord/store.h"

#define RESP_MAX 4096
#define POLL_MS 10
#define ITEM_WAIT_S 10.0

struct opts {
	const char *sender, *receiver, *receiver_data, *body_path, *nginx_url;
	const char *cert, *key, *pin, *cainfo;
	long count, concurrency, wide, latency;
	double deadline;
	long sender_pid, receiver_pid, nginx_pid;   /* 0: not given */
};

/* Where one kind of request goes and what answer counts as success. */
struct target {
	const char *url;
	const char *unix_path;   /* the local API, or NULL for TLS */
	const struct opts *o;
	const char *body;
	size_t len;
	long ok_status;
};

struct slot {
	CURL *h;
	struct curl_slist *headers;
	char resp[RESP_MAX + 1];
	size_t resp_len;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t len = size * n, room = RESP_MAX - s->resp_len;

	memcpy(s->resp + s->resp_len, data, len < room ? len : room);
	s->resp_len += len < room ? len : room;
	s->resp[s->resp_len] = '\0';
	return len;
}

/* A handle for t: a POST of its body when post, else a GET. */
static bool slot_init(struct slot *s, const struct target *t, const char *url, bool post)
{
	CURL *h = curl_easy_init();
	const struct opts *o = t->o;
	bool ok;

	s->h = h;
	s->headers = curl_slist_append(curl_slist_append(NULL, "Expect:"),
				       "Content-Type: application/json");
	if (!h || !s->headers)
		return false;
	ok = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_WRITEDATA, s) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_PRIVATE, s) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L) == CURLE_OK;
	if (ok && post)
		ok = curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->body) == CURLE_OK &&
		     curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				      (curl_off_t)t->len) == CURLE_OK;
	if (ok && t->unix_path)
		return curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t->unix_path) == CURLE_OK;
	/* No CA: the pin is the trust, the certificate its own anchor; names
	 * are not checked, as the courier does not check them. */
	return ok &&
	       curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSLKEY, o->key) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_CAINFO, o->cainfo) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK &&
	       curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, o->pin) == CURLE_OK;
}

static void slot_free(struct slot *s)
{
	curl_easy_cleanup(s->h);
	curl_slist_free_all(s->headers);
}

/* Perform s once; its HTTP status, or -1 with the reason on stderr. */
static long slot_run(struct slot *s)
{
	long status = 0;
	CURLcode rc;

	s->resp_len = 0;
	s->resp[0] = '\0';
	rc = curl_easy_perform(s->h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "bench_exchange: %s\n", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of v[0..n), sorting v. */
static double percentile(double *v, size_t n, double p)
{
	size_t k;

	qsort(v, n, sizeof *v, cmp_double);
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[k ? k - 1 : 0];
}

/* A JSON number at a path of two keys in a GET of the local API at sock. */
static long api_number(const struct opts *o, const char *sock, const char *path,
		       const char *k1, const char *k2)
{
	struct target t = { .unix_path = sock, .o = o };
	struct slot s = { 0 };
	char url[256];
	json_t *doc;
	long v = -1;

	snprintf(url, sizeof url, "http://localhost%s", path);
	if (slot_init(&s, &t, url, false) && slot_run(&s) == 200 &&
	    (doc = json_loads(s.resp, 0, NULL))) {
		json_t *x = json_object_get(json_object_get(doc, k1), k2);

		if (json_is_integer(x))
			v = (long)json_integer_value(x);
		json_decref(doc);
	}
	slot_free(&s);
	return v;
}

/*
 * Sequential requests to t: lat[i] seconds to its answer. With a receiver
 * socket, e2e[i] is the time until GET /v1/inbox/ID there answers 200.
 */
static int sequential(const struct target *t, long n, const char *receiver, double *lat,
		      double *e2e)
{
	struct target rt = { .unix_path = receiver, .o = t->o };
	struct slot s = { 0 }, g = { 0 };
	int rc = -1;

	if (!slot_init(&s, t, t->url, true))
		goto out;
	for (long i = 0; i < n; i++) {
		double t0 = now(), t1;
		json_t *doc;
		char url[256];

		if (slot_run(&s) != t->ok_status) {
			fprintf(stderr, "bench_exchange: %s answered: %s\n", t->url, s.resp);
			goto out;
		}
		lat[i] = now() - t0;
		if (!receiver)
			continue;
		doc = json_loads(s.resp, 0, NULL);
		snprintf(url, sizeof url, "http://localhost/v1/inbox/%s",
			 json_string_value(json_object_get(doc, "message_id")) ?
			 json_string_value(json_object_get(doc, "message_id")) : "none");
		json_decref(doc);
		slot_free(&g);
		memset(&g, 0, sizeof g);
		if (!slot_init(&g, &rt, url, false))
			goto out;
		while (slot_run(&g) != 200) {
			if (now() - t0 > ITEM_WAIT_S) {
				fprintf(stderr, "bench_exchange: %s never reached the receiver's "
					"inbox\n", url);
				goto out;
			}
			usleep(200);
		}
		t1 = now();
		e2e[i] = t1 - t0;
	}
	rc = 0;
out:
	slot_free(&s);
	slot_free(&g);
	return rc;
}

/*
 * The load's event loop: libcurl's socket interface on epoll, so that each
 * answer costs the client the work of its own connection, not a walk over
 * every handle in flight (curl_multi_perform and curl_multi_poll visit
 * them all at each wake-up: some 30 us a request at 64 in flight).
 */
struct loop {
	int ep;
	double expire;      /* libcurl's timeout, or < 0 for none */
};

static int on_socket(CURL *h, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct loop *lp = arg;
	struct epoll_event ev = { .data.fd = fd };

	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(lp->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0U) | (what & CURL_POLL_OUT ? EPOLLOUT : 0U);
	if (epoll_ctl(lp->ep, EPOLL_CTL_MOD, fd, &ev) != 0 &&
	    (errno != ENOENT || epoll_ctl(lp->ep, EPOLL_CTL_ADD, fd, &ev) != 0))
		return -1;
	return 0;
}

static int on_timer(CURLM *m, long ms, void *arg)
{
	struct loop *lp = arg;

	lp->expire = ms < 0 ? -1.0 : now() + (double)ms / 1000.0;
	return 0;
}

/* Run libcurl's due work: the sockets epoll reports, then its timeout. */
static void turn(CURLM *m, struct loop *lp)
{
	struct epoll_event evs[256];
	int k, wait = 100, running;

	if (lp->expire >= 0) {
		double ms = (lp->expire - now()) * 1000.0;

		wait = ms <= 0 ? 0 : ms < 100 ? (int)ms + 1 : 100;
	}
	k = epoll_wait(lp->ep, evs, 256, wait);
	for (int i = 0; i < k; i++) {
		int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
			    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
			    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);

		curl_multi_socket_action(m, evs[i].data.fd, flags, &running);
	}
	if (lp->expire >= 0 && now() >= lp->expire) {
		lp->expire = -1;
		curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

/*
 * count requests to t, conc at a time, until done or deadline seconds;
 * *ok the successful ones, *secs the time from the first to the last
 * answer.
 */
static int load(const struct target *t, long count, long conc, long *ok, double *secs)
{
	CURLM *m = curl_multi_init();
	struct slot *sl = calloc((size_t)conc, sizeof *sl);
	struct loop lp = { .ep = epoll_create1(EPOLL_CLOEXEC), .expire = -1 };
	long started = 0, done = 0, failed = 0;
	double t0;
	int rc = -1;

	*ok = 0;
	if (!m || !sl || lp.ep < 0 ||
	    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, &lp) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERDATA, &lp) != CURLM_OK)
		goto out;
	for (long i = 0; i < conc; i++)
		if (!slot_init(&sl[i], t, t->url, true))
			goto out;
	t0 = now();
	for (long i = 0; i < conc && started < count; i++, started++)
		curl_multi_add_handle(m, sl[i].h);
	while (done < count && now() - t0 < t->o->deadline) {
		CURLMsg *msg;
		int left;

		turn(m, &lp);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct slot *s;
			long status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result == CURLE_OK && status == t->ok_status)
				(*ok)++;
			else if (failed++ == 0)
				fprintf(stderr, "bench_exchange: %s: %s %ld %s\n", t->url,
					curl_easy_strerror(msg->data.result), status, s->resp);
			done++;
			curl_multi_remove_handle(m, s->h);
			s->resp_len = 0;
			if (started < count) {
				curl_multi_add_handle(m, s->h);
				started++;
			}
		}
	}
	*secs = now() - t0;
	if (done < count)
		fprintf(stderr, "bench_exchange: %s: only %ld of %ld answered in %.0f s\n",
			t->url, done, count, t->o->deadline);
	rc = failed || done < count ? -1 : 0;
out:
	for (long i = 0; sl && i < conc; i++) {
		if (sl[i].h)
			curl_multi_remove_handle(m, sl[i].h);
		slot_free(&sl[i]);
	}
	free(sl);
	curl_multi_cleanup(m);
	if (lp.ep >= 0)
		close(lp.ep);
	return rc;
}

/* The receiver's inbox items, durable, from its store; -1 on failure. */
static long inbox_items(store *st, MDB_dbi dbi)
{
	MDB_txn *txn;
	MDB_stat ms;
	accord_error e = { 0 };
	long n = -1;

	if (store_read_begin(st, &txn, &e) != 0) {
		fprintf(stderr, "bench_exchange: %s\n", accord_error_msg(&e));
		return -1;
	}
	if (mdb_stat(txn, dbi, &ms) == 0)
		n = (long)ms.ms_entries;
	mdb_txn_abort(txn);
	return n;
}

/* Wait, until t0 + deadline, for the inbox to hold want items: how many
 * it holds, and *at the time it first held them. */
static long wait_inbox(const struct opts *o, store *st, MDB_dbi dbi, long want, double t0,
		       double *at)
{
	long n = inbox_items(st, dbi), seen = n;

	*at = now();
	while (n >= 0 && n < want && now() - t0 < o->deadline) {
		usleep(POLL_MS * 1000);
		n = inbox_items(st, dbi);
		if (n > seen) {
			seen = n;
			*at = now();
		}
	}
	return seen;
}

/* ---- CPU time ------------------------------------------------------------- */

/* Seconds of CPU (user + system) /proc/PATH's stat line gives, and the
 * parent's pid into *ppid when not NULL; -1 when it cannot be read. */
static double stat_cpu(const char *path, long *ppid)
{
	char buf[1024], *p;
	unsigned long long ut, st;
	long pp;
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	/* After the command's closing parenthesis: state ppid ... utime stime
	 * (fields 3, 4 and 14, 15 of proc(5)). */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &pp, &ut, &st) != 3)
		return -1;
	if (ppid)
		*ppid = pp;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double pid_cpu(long pid)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	return stat_cpu(path, NULL);
}

/* The main thread's alone: the node's event loop. */
static double loop_cpu(long pid)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, pid);
	return stat_cpu(path, NULL);
}

/* nginx's workers: the master's children. */
static double children_cpu(long parent)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	double sum = 0;

	while (d && (de = readdir(d))) {
		char path[300];
		long pp = 0;
		double c;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		c = stat_cpu(path, &pp);
		if (c >= 0 && pp == parent)
			sum += c;
	}
	if (d)
		closedir(d);
	return sum;
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* What each process had used at one moment. */
struct cpu {
	double sender, loop, receiver, nginx, client;
};

static void cpu_now(const struct opts *o, struct cpu *c)
{
	c->sender = o->sender_pid ? pid_cpu(o->sender_pid) : 0;
	c->loop = o->sender_pid ? loop_cpu(o->sender_pid) : 0;
	c->receiver = o->receiver_pid ? pid_cpu(o->receiver_pid) : 0;
	c->nginx = o->nginx_pid ? children_cpu(o->nginx_pid) : 0;
	c->client = self_cpu();
}

static void line(const char *bench, double v, const char *unit, const char *base,
		 double bv)
{
	printf("{\"bench\":\"%s\",\"value\":%.*f,\"unit\":\"%s\",\"baseline\":\"%s\","
	       "\"baseline_value\":%.*f,\"ratio\":%.3f}\n", bench, v < 100 ? 3 : 0, v, unit,
	       base, bv < 100 ? 3 : 0, bv, bv > 0 ? v / bv : 0.0);
	fflush(stdout);
}

/* Latencies of one at a time: the node's, its end to end, nginx's. */
static int measure_latency(const struct opts *o, const struct target *ac,
			   const struct target *ng)
{
	size_t n = (size_t)o->latency;
	double *lat = calloc(n, sizeof *lat), *e2e = calloc(n, sizeof *e2e);
	double *base = calloc(n, sizeof *base);
	int rc = -1;

	/* A first few of each warm the connections up, then the measured ones. */
	if (!lat || !e2e || !base || sequential(ac, n < 20 ? (long)n : 20, o->receiver, lat, e2e) ||
	    sequential(ac, o->latency, o->receiver, lat, e2e) != 0 ||
	    sequential(ng, n < 20 ? (long)n : 20, NULL, base, NULL) != 0 ||
	    sequential(ng, o->latency, NULL, base, NULL) != 0)
		goto out;
	line("exchange_latency_p50", 1e3 * percentile(lat, n, 50), "ms",
	     "nginx_mtls_post_p50", 1e3 * percentile(base, n, 50));
	line("exchange_latency_p99", 1e3 * percentile(lat, n, 99), "ms",
	     "nginx_mtls_post_p99", 1e3 * percentile(base, n, 99));
	line("exchange_e2e_latency_p50", 1e3 * percentile(e2e, n, 50), "ms",
	     "nginx_mtls_post_p50", 1e3 * percentile(base, n, 50));
	line("exchange_e2e_latency_p99", 1e3 * percentile(e2e, n, 99), "ms",
	     "nginx_mtls_post_p99", 1e3 * percentile(base, n, 99));
	rc = 0;
out:
	free(lat);
	free(e2e);
	free(base);
	return rc;
}

/* The CPU a request of the runs between c[0], c[1] (nginx's) and c[2]
 * (the exchange's, in disclosures that arrived). */
static void cpu_lines(const struct opts *o, const struct cpu *c, long in, long k,
		      const char *sfx)
{
	char name[2][64];
	double us = 1e6 / (double)in, ng = 1e6 / (double)o->count;
	double nodes = (c[2].sender - c[1].sender) + (c[2].receiver - c[1].receiver);

	snprintf(name[0], sizeof name[0], "exchange_cpu%s", sfx);
	snprintf(name[1], sizeof name[1], "nginx_mtls_post_cpu%s", sfx);
	line(name[0], nodes * us, "us/disclosure", name[1], (c[1].nginx - c[0].nginx) * ng);
	fprintf(stderr, "bench_exchange: CPU a request, %ld at a time: sender %.0f us (its "
		"loop %.0f), receiver %.0f, this client %.0f; nginx %.0f, this client "
		"toward it %.0f (clock ticks of 1/%ld s)\n", k,
		(c[2].sender - c[1].sender) * us, (c[2].loop - c[1].loop) * us,
		(c[2].receiver - c[1].receiver) * us, (c[2].client - c[1].client) * us,
		(c[1].nginx - c[0].nginx) * ng, (c[1].client - c[0].client) * ng,
		sysconf(_SC_CLK_TCK));
}

/* nginx's rate, then the end-to-end rate and the sender's acceptance rate,
 * k requests at a time; sfx ends the names ("" or "_c256"). */
static int measure_rate(const struct opts *o, const struct target *ac,
			const struct target *ng, long k, const char *sfx)
{
	char name[3][64];
	store_options so = { .read_only = true };
	store *st = NULL;
	MDB_dbi dbi;
	accord_error e = { 0 };
	double t0, secs, nsecs, t_in;
	long ok, before, in;
	struct cpu c[3];
	int rc = -1;

	if (store_open(o->receiver_data, &so, &st, &e) != 0 ||
	    store_db(st, "inbox", 0, &dbi, &e) != 0) {
		fprintf(stderr, "bench_exchange: %s\n", accord_error_msg(&e));
		goto out;
	}
	before = inbox_items(st, dbi);
	cpu_now(o, &c[0]);
	if (before < 0 || load(ng, o->count, k, &ok, &nsecs) != 0)
		goto out;
	cpu_now(o, &c[1]);
	t0 = now();
	if (load(ac, o->count, k, &ok, &secs) != 0)
		goto out;
	in = wait_inbox(o, st, dbi, before + ok, t0, &t_in) - before;
	if (in <= 0)
		goto out;
	cpu_now(o, &c[2]);
	snprintf(name[0], sizeof name[0], "exchange%s", sfx);
	snprintf(name[1], sizeof name[1], "exchange_accepted%s", sfx);
	snprintf(name[2], sizeof name[2], "nginx_mtls_post%s", sfx);
	line(name[0], (double)in / (t_in - t0), "disclosures/s", name[2],
	     (double)o->count / nsecs);
	line(name[1], (double)o->count / secs, "requests/s", name[2],
	     (double)o->count / nsecs);
	fprintf(stderr, "bench_exchange: %ld disclosures %ld at a time: all 202 after %.2f s; "
		"%ld in the receiver's inbox after %.2f s%s; the sender's outbox: %ld "
		"delivered, %ld pending, %ld paused\n", o->count, k, secs, in, t_in - t0,
		in < ok ? " (the deadline: the rate is of those)" : "",
		api_number(o, o->sender, "/v1/status", "outbox", "delivered"),
		api_number(o, o->sender, "/v1/status", "outbox", "pending"),
		api_number(o, o->sender, "/v1/status", "outbox", "paused"));
	if (o->sender_pid && o->receiver_pid && o->nginx_pid)
		cpu_lines(o, c, in, k, sfx);
	rc = 0;
out:
	store_close(st);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_exchange --sender SOCK --receiver SOCK --receiver-data DIR\n"
		"       --body FILE "
		"--nginx URL --cert PEM --key PEM --pin sha256//B64 --cainfo PEM\n"
		"       [--count N] [--concurrency K] [--wide K2] [--latency N]\n"
		"       [--deadline SECONDS] [--pids SENDER,RECEIVER,NGINX_MASTER]\n"
		"Run by tests/bench/exchange.sh, which starts the nodes and nginx.\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "sender", 1, NULL, 's' }, { "receiver", 1, NULL, 'r' },
		{ "receiver-data", 1, NULL, 'd' },
		{ "body", 1, NULL, 'b' }, { "nginx", 1, NULL, 'n' },
		{ "cert", 1, NULL, 'c' }, { "key", 1, NULL, 'k' }, { "pin", 1, NULL, 'p' },
		{ "cainfo", 1, NULL, 'a' }, { "count", 1, NULL, 'N' },
		{ "concurrency", 1, NULL, 'K' }, { "latency", 1, NULL, 'L' },
		{ "deadline", 1, NULL, 'D' }, { "wide", 1, NULL, 'W' }, { "pids", 1, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->sender = optarg; break;
		case 'r': o->receiver = optarg; break;
		case 'd': o->receiver_data = optarg; break;
		case 'b': o->body_path = optarg; break;
		case 'n': o->nginx_url = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'p': o->pin = optarg; break;
		case 'a': o->cainfo = optarg; break;
		case 'N': o->count = strtol(optarg, NULL, 10); break;
		case 'K': o->concurrency = strtol(optarg, NULL, 10); break;
		case 'L': o->latency = strtol(optarg, NULL, 10); break;
		case 'D': o->deadline = strtod(optarg, NULL); break;
		case 'W': o->wide = strtol(optarg, NULL, 10); break;
		case 'P':
			if (sscanf(optarg, "%ld,%ld,%ld", &o->sender_pid, &o->receiver_pid,
				   &o->nginx_pid) != 3)
				return -1;
			break;
		default: return -1;
		}
	}
	if (!o->sender || !o->receiver || !o->receiver_data || !o->body_path || !o->nginx_url || !o->cert ||
	    !o->key || !o->pin || !o->cainfo || o->count < 1 || o->count > 10000000 ||
	    o->concurrency < 1 || o->concurrency > 1024 || o->wide < 0 || o->wide > 1024 ||
	    o->latency < 1 ||
	    o->latency > 1000000 || o->deadline <= 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 20000, .concurrency = 64, .wide = 256, .latency = 500,
			  .deadline = 60 };
	char sfx[32];
	struct target ac, ng;
	accord_error e = { 0 };
	char *body = NULL;
	size_t len;
	int status = 1;

	if (parse(argc, argv, &o) != 0) {
		usage();
		return 2;
	}
	if (fs_read_file(o.body_path, 1 << 20, &body, &len, &e) != 0) {
		fprintf(stderr, "bench_exchange: %s\n", accord_error_msg(&e));
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	ac = (struct target){ .url = "http://localhost/v1/disclosures", .unix_path = o.sender,
			      .o = &o, .body = body, .len = len, .ok_status = 202 };
	ng = (struct target){ .url = o.nginx_url, .o = &o, .body = body, .len = len,
			      .ok_status = 200 };
	fprintf(stderr, "bench_exchange: body %zu bytes, %ld requests %ld at a time, "
		"latency over %ld one at a time\n", len, o.count, o.concurrency, o.latency);
	/* The wide run shows how the group commit grows with the load. */
	snprintf(sfx, sizeof sfx, "_c%ld", o.wide);
	if (measure_latency(&o, &ac, &ng) == 0 &&
	    measure_rate(&o, &ac, &ng, o.concurrency, "") == 0 &&
	    (o.wide == 0 || measure_rate(&o, &ac, &ng, o.wide, sfx) == 0))
		status = 0;
	curl_global_cleanup();
out:
	free(body);
	return status;
}
