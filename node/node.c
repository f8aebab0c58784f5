/*
 * node.c - the daemon's state: the protocol in force, the keys, the store.
 *
 * Fail closed: whenever the protocol is not in force (unsigned, expired,
 * not listing us), node_protocol returns NULL and the TLS server pins no
 * key, so no handshake succeeds and nothing is shared or accepted. When the
 * audit cannot be written, the node shares nothing either.
 *
 * Every audited change goes through the group commit (node_commit.c).
 */
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <time.h>

#include "accord/fs.h"
#include "node_int.h"

/* A line may echo what a peer sent (a receiver's answer, a refused
 * envelope's fields): escaped with record_term_escape, it cannot act on
 * the terminal of whoever reads the log. */
void node_log(const node *n, const char *fmt, ...)
{
	char when[32], raw[2048], line[4 * sizeof raw];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	int len;

	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	len = vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	if (len < 0)
		raw[0] = '\0';
	record_term_escape(raw, strlen(raw), line, sizeof line);
	fprintf(stderr, "%s accordd[%s]: %s%s\n", when, n->cf.partner, line,
		len >= (int)sizeof raw ? "..." : "");
}

int64_t node_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the protocol in force ---------------------------------------------- */

/* Load, verify and check the protocol at the configured path; on success
 * it is in force today and lists us. */
static int load_protocol(node *n, protocol **out, protocol_sigs **sigs, policy **pol,
			 accord_error *e)
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
	rc = policy_open(p, s, pol, e);
	if (rc != 0)
		goto out;
	*out = p;
	*sigs = s;
	p = NULL;
	s = NULL;
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

static void drop_protocol(node *n)
{
	policy_close(n->pol);
	protocol_sigs_free(n->sigs);
	protocol_close(n->proto);
	n->pol = NULL;
	n->sigs = NULL;
	n->proto = NULL;
}

/* An audit entry of the protocol's own events (loaded, refused). */
static void audit_protocol_event(node *n, int event, const protocol *p, const char *reason)
{
	audit_entry en = { .event = event, .actor = "accordd", .reason = reason,
			   .outcome = event == AUDIT_PROTOCOL_LOADED ? AUDIT_SUCCESS : AUDIT_DENIED };
	accord_error e = { 0 };

	node_commit_now(n);     /* the log is appended to by one batch at a time */
	if (p) {
		en.protocol_id = protocol_id(p);
		en.protocol_version = protocol_version(p);
		en.has_protocol_digest = true;
		memcpy(en.protocol_digest, protocol_digest(p), CRYPTO_SHA256_LEN);
	}
	if (audit_append(n->au, &en, NULL, &e) != 0) {
		n->broken = true;
		node_log(n, "cannot write the audit log, sharing nothing: %s", accord_error_msg(&e));
	}
}

int node_reload(node *n, accord_error *e)
{
	protocol *p = NULL;
	protocol_sigs *s = NULL;
	policy *pol = NULL;
	int rc = load_protocol(n, &p, &s, &pol, e);

	if (rc != 0) {
		node_log(n, "protocol reload refused, keeping %s: %s",
			 n->proto ? "the protocol in force" : "none", accord_error_msg(e));
		audit_protocol_event(n, AUDIT_PROTOCOL_REFUSED, NULL, accord_error_msg(e));
		return rc;
	}
	drop_protocol(n);
	n->proto = p;
	n->sigs = s;
	n->pol = pol;
	n->proto_day = date_today();
	n->refusal[0] = '\0';
	node_log(n, "protocol %s version %ld loaded and in force", protocol_id(p),
		 protocol_version(p));
	audit_protocol_event(n, AUDIT_PROTOCOL_LOADED, p, NULL);
	return pin_partners(n);
}

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
			drop_protocol(n);
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

void node_vtext(char *out, size_t size, const char *fmt, va_list ap)
{
	char raw[1024];

	vsnprintf(raw, sizeof raw, fmt, ap);
	record_utf8_escape(raw, strlen(raw), out, size);
}

void node_text(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vtext(out, size, fmt, ap);
	va_end(ap);
}

json_t *node_error_json(const char *msg)
{
	char text[1024];

	record_utf8_escape(msg, strlen(msg), text, sizeof text);
	return json_pack("{s:s}", "error", text);
}

void node_entry_protocol(node *n, audit_entry *en)
{
	const protocol *p = n->proto;

	if (!p)
		return;
	en->protocol_id = protocol_id(p);
	en->protocol_version = protocol_version(p);
	en->has_protocol_digest = true;
	memcpy(en->protocol_digest, protocol_digest(p), CRYPTO_SHA256_LEN);
}

/* ---- open and close --------------------------------------------------------- */

static int open_store(node *n, accord_error *e)
{
	/* The whole limit is mapped at once: address space, not disk (the
	 * file grows as it is written), and the map never has to be resized
	 * while the loop and the writer thread both use it. */
	store_options opt = { .map_max = (uint64_t)n->cf.audit_max_mib << 20,
			      .map_size = (uint64_t)n->cf.audit_max_mib << 20 };
	int rc = store_open(n->cf.data_dir, &opt, &n->st, e);

	if (rc == 0)
		rc = audit_open(n->st, &n->au, e);
	if (rc == 0)
		rc = state_open(n->st, &n->sb, e);
	if (rc == 0 && state_reindexed(n->sb) > 0)
		node_log(n, "built the outbox and inbox indexes this store lacked, from its "
			 "%zu items", state_reindexed(n->sb));
	if (rc == 0)
		rc = witness_open(n->st, &n->wit, e);
	if (rc == 0)
		rc = audit_origin(n->cf.partner, n->origin);
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
	n->ops_tail = &n->ops;
	n->id_pool_used = sizeof n->id_pool;   /* empty: drawn at the first id */
	rc = tls_open(cf->tls_cert, cf->tls_key, true, &n->server, e);
	if (rc == 0)
		rc = tls_open(cf->tls_cert, cf->tls_key, false, &n->client, e);
	if (rc == 0)
		rc = crypto_signer_load(cf->signing_key, &n->signer, e);
	if (rc == 0)
		rc = open_store(n, e);
	if (rc == 0)
		rc = courier_open(base, n->client, cf->delivery_timeout_ms, &n->cr, e);
	if (rc != 0)
		goto fail;
	rc = node_commit_start(n, e);
	if (rc != 0)
		goto fail;
	if (load_protocol(n, &n->proto, &n->sigs, &n->pol, &why) == 0) {
		n->proto_day = date_today();
		node_log(n, "protocol %s version %ld in force", protocol_id(n->proto),
			 protocol_version(n->proto));
		audit_protocol_event(n, AUDIT_PROTOCOL_LOADED, n->proto, NULL);
	} else {
		snprintf(n->refusal, sizeof n->refusal, "%s", accord_error_msg(&why));
		node_log(n, "no protocol in force, sharing nothing: %s", n->refusal);
		audit_protocol_event(n, AUDIT_PROTOCOL_REFUSED, NULL, n->refusal);
	}
	rc = pin_partners(n);
	if (rc == 0)
		rc = node_outbox_start(n, e);
	if (rc != 0)
		goto fail;
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
	node_commit_stop(n);    /* finish what was accepted */
	courier_close(n->cr);
	node_outbox_stop(n);
	if (n->deliver_ev)
		event_free(n->deliver_ev);
	state_close(n->sb);
	witness_close(n->wit);
	audit_close(n->au);
	store_close(n->st);
	crypto_signer_close(n->signer);
	tls_close(n->server);
	tls_close(n->client);
	drop_protocol(n);
	free(n);
}

void node_stop(node *n)
{
	n->stopping = true;
}

bool node_idle(const node *n)
{
	return node_commit_idle(n) && n->in_flight == 0;
}

const config *node_config(const node *n) { return &n->cf; }
struct event_base *node_base(const node *n) { return n->base; }
tls *node_server_tls(node *n) { return n->server; }
tls *node_client_tls(node *n) { return n->client; }
const char *node_refusal(const node *n) { return n->refusal; }
