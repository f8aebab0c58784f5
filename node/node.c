/*
 * node.c - the daemon's state: the protocol in force and the keys.
 *
 * Fail closed: whenever the protocol is not in force (unsigned, expired,
 * not listing us), node_protocol returns NULL and the TLS server pins no
 * key, so no handshake succeeds and nothing is shared or accepted.
 */
#include <openssl/crypto.h>
#include <time.h>

#include "accord/node.h"

struct node {
	config cf;
	struct event_base *base;
	tls *server, *client;
	protocol *proto;            /* the protocol in force, or NULL */
	accord_date proto_day;      /* the day it was last found in force */
	char refusal[512];
};

void node_log(const node *n, const char *fmt, ...)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s accordd[%s]: ", when, n->cf.partner);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Load, verify and check the protocol at the configured path; on success
 * *out is in force today and lists us. */
static int load_protocol(node *n, protocol **out, accord_error *e)
{
	protocol_diags *d = malloc(sizeof *d);
	protocol_sigs *s = NULL;
	protocol *p = NULL;
	int rc;

	if (!d)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	rc = protocol_load(n->cf.protocol, &p, d);
	if (rc == 0)
		rc = protocol_sigs_load(p, n->cf.protocol, &s, d);
	if (rc != 0) {
		const protocol_diag *g = &d->items[0];

		accord_fail(e, rc, "%s:%d:%d: %s%s", d->file, g->line, g->column, g->msg,
			    d->count > 1 ? " (and more: run accord protocol verify)" : "");
		goto out;
	}
	rc = protocol_in_force(p, s, date_today(), e);
	if (rc != 0)
		goto out;
	if (!protocol_partner_find(p, n->cf.partner)) {
		rc = accord_fail(e, ACCORD_ENOTINFORCE, "protocol '%s' version %ld does not list "
				 "this node's partner id '%s'", protocol_id(p),
				 protocol_version(p), n->cf.partner);
		goto out;
	}
	*out = p;
	p = NULL;
out:
	protocol_sigs_free(s);
	protocol_close(p);
	free(d);
	return rc;
}

/* Pin every partner but ourselves on the server side. */
static int pin_partners(node *n)
{
	const protocol *p = n->proto;
	size_t np = p ? protocol_partner_count(p) : 0, k = 0;
	uint8_t (*pins)[CRYPTO_SHA256_LEN] = calloc(np ? np : 1, CRYPTO_SHA256_LEN);
	int rc;

	if (!pins)
		return ACCORD_ENOMEM;
	for (size_t i = 0; i < np; i++) {
		const protocol_partner *pt = protocol_partner_at(p, i);

		if (strcmp(pt->id, n->cf.partner) != 0)
			memcpy(pins[k++], pt->tls_spki_sha256, CRYPTO_SHA256_LEN);
	}
	rc = tls_set_pins(n->server, (const uint8_t (*)[CRYPTO_SHA256_LEN])pins, k);
	free(pins);
	return rc;
}

int node_open(const config *cf, struct event_base *base, node **out, accord_error *e)
{
	node *n = calloc(1, sizeof *n);
	accord_error why = { 0 };
	int rc;

	if (!n)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	n->cf = *cf;
	n->base = base;
	rc = tls_open(cf->tls_cert, cf->tls_key, true, &n->server, e);
	if (rc == 0)
		rc = tls_open(cf->tls_cert, cf->tls_key, false, &n->client, e);
	if (rc != 0)
		goto fail;
	if (load_protocol(n, &n->proto, &why) == 0) {
		n->proto_day = date_today();
		node_log(n, "protocol %s version %ld in force", protocol_id(n->proto),
			 protocol_version(n->proto));
	} else {
		snprintf(n->refusal, sizeof n->refusal, "%s", accord_error_msg(&why));
		node_log(n, "no protocol in force, sharing nothing: %s", n->refusal);
	}
	rc = pin_partners(n);
	if (rc != 0) {
		accord_fail(e, rc, "out of memory");
		goto fail;
	}
	*out = n;
	return 0;
fail:
	node_close(n);
	return rc;
}

void node_close(node *n)
{
	if (!n)
		return;
	tls_close(n->server);
	tls_close(n->client);
	protocol_close(n->proto);
	free(n);
}

int node_reload(node *n, accord_error *e)
{
	protocol *p = NULL;
	int rc = load_protocol(n, &p, e);

	if (rc != 0) {
		node_log(n, "protocol reload refused, keeping %s: %s",
			 n->proto ? "the protocol in force" : "none", accord_error_msg(e));
		return rc;
	}
	protocol_close(n->proto);
	n->proto = p;
	n->proto_day = date_today();
	n->refusal[0] = '\0';
	node_log(n, "protocol %s version %ld loaded and in force", protocol_id(p),
		 protocol_version(p));
	return pin_partners(n);
}

const config *node_config(const node *n) { return &n->cf; }
struct event_base *node_base(const node *n) { return n->base; }
tls *node_server_tls(node *n) { return n->server; }
tls *node_client_tls(node *n) { return n->client; }
const char *node_refusal(const node *n) { return n->refusal; }

const protocol *node_protocol(node *n)
{
	accord_date today = date_today();

	/* The dates are re-checked when the day changes: at review_by's end
	 * the protocol stops being in force without a reload. */
	if (n->proto && today != n->proto_day) {
		if (!protocol_dates_cover(n->proto, today)) {
			char b[11];

			date_format(protocol_review_by(n->proto), b);
			snprintf(n->refusal, sizeof n->refusal, "protocol '%s' version %ld "
				 "expired after its review date %s", protocol_id(n->proto),
				 protocol_version(n->proto), b);
			node_log(n, "protocol no longer in force: %s", n->refusal);
			protocol_close(n->proto);
			n->proto = NULL;
			(void)pin_partners(n);
			return NULL;
		}
		n->proto_day = today;
	}
	return n->proto;
}

const protocol_partner *node_partner_by_spki(node *n, const uint8_t spki[CRYPTO_SHA256_LEN])
{
	const protocol *p = node_protocol(n);

	for (size_t i = 0; p && i < protocol_partner_count(p); i++) {
		const protocol_partner *pt = protocol_partner_at(p, i);

		if (CRYPTO_memcmp(pt->tls_spki_sha256, spki, CRYPTO_SHA256_LEN) == 0)
			return pt;
	}
	return NULL;
}
