/*
 * accordd.c - the daemon: one libevent loop serving the peer listener, the
 * local API and deliveries, beside the writer thread that commits what the
 * loop queues (node_commit.c).
 */
#include <getopt.h>
#include <signal.h>

#include <event2/event.h>

#include "accord/config.h"
#include "accord/local.h"
#include "accord/node.h"
#include "accord/peer.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: accordd --config FILE [--check]\n\n"
		"Runs an Accord node as the configuration file says (see accordd(8)):\n"
		"the peer listener (HTTPS, mutual TLS 1.3), the local API on a Unix\n"
		"socket, and deliveries to partners. --check validates the\n"
		"configuration and the protocol, then exits.\n"
		"Signals: SIGHUP reloads the protocol; SIGTERM or SIGINT stops.\n");
}

#define DRAIN_MS 5000

struct daemon {
	node *n;
	peer *p;
	local *l;
	struct event_base *base;
	struct event *drain;
	int waited_ms;
};

/* Wait for the commit of what was taken, the deliveries in flight and the
 * answers not yet written, at most DRAIN_MS; then leave the loop. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, 20000 };
	bool answered = local_idle(d->l) && peer_idle(d->p);

	if ((node_idle(d->n) && answered) || d->waited_ms >= DRAIN_MS) {
		if (!node_idle(d->n))
			node_log(d->n, "deliveries still in flight after %d ms: they stay in "
				 "the outbox and are sent after the restart", DRAIN_MS);
		else if (!answered)
			node_log(d->n, "answers still unwritten after %d ms (a client not "
				 "reading them): a disclosure they answer stays committed, and "
				 "GET /v1/outbox lists it", DRAIN_MS);
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->waited_ms += 20;
	evtimer_add(d->drain, &tv);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->drain) {
		node_log(d->n, "%s again: stopping now; what was taken is still committed, "
			 "deliveries in flight stay in the outbox", sig == SIGTERM ? "SIGTERM" :
			 "SIGINT");
		event_base_loopexit(d->base, NULL);
		return;
	}
	node_log(d->n, "%s: finishing the work in hand, then stopping",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT");
	node_stop(d->n);
	d->drain = evtimer_new(d->base, on_drain, d);
	if (!d->drain)
		event_base_loopexit(d->base, NULL);
	else
		on_drain(-1, 0, d);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	accord_error e = { 0 };

	node_log(d->n, "SIGHUP: reloading the protocol");
	if (node_reload(d->n, &e) != 0)
		return; /* refused and logged; the old protocol stays */
}

static int serve(const config *cf)
{
	struct daemon d = { 0 };
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct event_config *cfg;
	accord_error e = { 0 };
	int rc = 1;

	/* The changelist folds each loop turn's epoll_ctl calls for one
	 * descriptor into one: HTTP connections are enabled and disabled
	 * several times a request. No descriptor here is dup()ed, the one
	 * case the flag gets wrong. */
	cfg = event_config_new();
	if (cfg)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	d.base = cfg ? event_base_new_with_config(cfg) : NULL;
	if (cfg)
		event_config_free(cfg);
	if (!d.base) {
		fprintf(stderr, "accordd: cannot create the event loop\n");
		return 1;
	}
	if (node_open(cf, d.base, &d.n, &e) != 0 || peer_open(d.n, &d.p, &e) != 0 ||
	    local_open(d.n, &d.l, &e) != 0) {
		fprintf(stderr, "accordd: %s\n", accord_error_msg(&e));
		goto out;
	}
	ev_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
	ev_int = evsignal_new(d.base, SIGINT, on_stop, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	if (!ev_term || !ev_int || !ev_hup || event_add(ev_term, NULL) != 0 ||
	    event_add(ev_int, NULL) != 0 || event_add(ev_hup, NULL) != 0) {
		fprintf(stderr, "accordd: cannot install signal handlers\n");
		goto out;
	}
	node_log(d.n, "listening on %s:%d (peers) and %s (local API)", cf->listen_host,
		 cf->listen_port, cf->local_socket);
	rc = event_base_dispatch(d.base) < 0;
	node_log(d.n, "stopped");
out:
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	if (ev_hup)
		event_free(ev_hup);
	/* Freeing them gave the signals back their default action: one more
	 * SIGTERM would now kill the node while it commits what it took and
	 * closes its store. It is stopping already. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (d.drain)
		event_free(d.drain);
	local_close(d.l);
	peer_close(d.p);
	node_close(d.n);
	event_base_free(d.base);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	bool check = false;
	protocol_diags *d;
	config cf;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		if (!path)
			fputs("accordd: --config FILE is required\n", stderr);
		else
			fprintf(stderr, "accordd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	d = malloc(sizeof *d);
	if (!d)
		return 1;
	rc = config_load(path, &cf, d);
	if (rc != 0)
		protocol_diags_print(d, stderr);
	free(d);
	if (rc != 0)
		return 1;
	if (check) {
		printf("%s: configuration valid for partner '%s'\n", path, cf.partner);
		return 0;
	}
	return serve(&cf);
}
