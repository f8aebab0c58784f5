/*
 * node.c - the daemon's state: the protocol in force, the keys, the store,
 * and the group commit every audited change goes through.
 *
 * Fail closed: whenever the protocol is not in force (unsigned, expired,
 * not listing us), node_protocol returns NULL and the TLS server pins no
 * key, so no handshake succeeds and nothing is shared or accepted. When the
 * audit cannot be written, the node shares nothing either.
 *
 * Group commit: the faces queue ops (an audit entry and the state change it
 * records) during a turn of the event loop; one event, activated by the
 * first op of the turn, appends them all to one audit batch and commits it
 * with their state changes in a single durable LMDB transaction. Only then
 * are the ops' answers sent.
 */
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <time.h>

#include "accord/fs.h"
#include "node_int.h"

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

/* ---- group commit --------------------------------------------------------- */

void node_op_free(struct op *op)
{
	if (!op)
		return;
	state_free(op->outbox);
	state_free(op->inbox);
	state_free(op->case_item);
	json_decref(op->answer);
	free(op->strings);
	free(op->paths);
	free(op);
}

/* Bytes for the strings and path lists an entry points to. */
static size_t strings_size(const audit_entry *en, const char **const *f, size_t k)
{
	size_t total = 0;

	for (size_t i = 0; i < k; i++)
		total += *f[i] ? strlen(*f[i]) + 1 : 0;
	for (size_t i = 0; i < en->n_disclosed; i++)
		total += strlen(en->disclosed[i]) + 1;
	for (size_t i = 0; i < en->n_withheld; i++)
		total += strlen(en->withheld[i]) + 1;
	return total;
}

static char *copy_into(char *block, size_t *used, const char *s)
{
	size_t len = strlen(s) + 1;
	char *at = block + *used;

	memcpy(at, s, len);
	*used += len;
	return at;
}

int node_op_own_strings(struct op *op)
{
	audit_entry *en = &op->entry;
	const char **f[] = {
		&en->protocol_id, &en->rule_id, &en->purpose, &en->from, &en->to,
		&en->record_type, &en->message_id, &en->actor, &en->reason,
	};
	size_t k = sizeof f / sizeof f[0], used = 0, np = en->n_disclosed + en->n_withheld;
	char *block = malloc(strings_size(en, f, k) + 1);
	const char **paths = calloc(np + 1, sizeof *paths);

	if (!block || !paths) {
		free(block);
		free(paths);
		return ACCORD_ENOMEM;
	}
	for (size_t i = 0; i < k; i++)
		if (*f[i])
			*f[i] = copy_into(block, &used, *f[i]);
	for (size_t i = 0; i < en->n_disclosed; i++)
		paths[i] = copy_into(block, &used, en->disclosed[i]);
	for (size_t i = 0; i < en->n_withheld; i++)
		paths[en->n_disclosed + i] = copy_into(block, &used, en->withheld[i]);
	en->disclosed = paths;
	en->withheld = paths + en->n_disclosed;
	free(op->strings);
	free(op->paths);
	op->strings = block;
	op->paths = paths;
	return 0;
}

void node_enqueue(node *n, struct op *op)
{
	op->next = NULL;
	*n->ops_tail = op;
	n->ops_tail = &op->next;
	n->n_ops++;
	if (n->n_ops == 1)
		event_active(n->flush_ev, EV_TIMEOUT, 1);
}

static int put_all(MDB_txn *txn, void *ctx, accord_error *e)
{
	node *n = ctx;

	for (struct op *op = n->ops; op; op = op->next) {
		int rc = op->put ? op->put(n, txn, op, e) : 0;

		if (rc != 0)
			return rc;
	}
	return 0;
}

static int commit_ops(node *n, bool *want_note, accord_error *e)
{
	audit_batch *b;
	int rc;

	if (n->broken)
		return accord_fail(e, ACCORD_EIO, "the audit log cannot be written");
	rc = audit_batch_begin(n->au, &b, e);
	if (rc != 0)
		return rc;
	for (struct op *op = n->ops; op; op = op->next) {
		rc = audit_batch_append(b, &op->entry, &op->seq, e);
		if (rc != 0) {
			audit_batch_abort(b);
			return rc;
		}
		*want_note |= op->wants_checkpoint;
	}
	return audit_batch_commit(b, put_all, n, e);
}

int node_sign_head(node *n, char **note, accord_error *e)
{
	uint8_t root[AUDIT_HASH_LEN];
	uint64_t size;
	int64_t now = node_now_ms();
	int rc;

	if (now - n->ckpt_stored_ms >= 1000) {
		rc = audit_checkpoint(n->au, n->signer, n->origin, note, e);
		if (rc == 0)
			n->ckpt_stored_ms = now;
		return rc;
	}
	rc = audit_size(n->au, &size, e);
	if (rc == 0)
		rc = audit_root(n->au, size, root, e);
	if (rc == 0)
		rc = audit_note_sign(n->origin, size, root, n->signer, note, e);
	return rc;
}

void node_keep_receipt(node *n, const uint8_t id[STATE_ID_LEN], state_inbox_item *item)
{
	if (n->n_rcpt == n->cap_rcpt) {
		size_t cap = n->cap_rcpt ? n->cap_rcpt * 2 : 16;
		struct kept_receipt *r = reallocarray(n->rcpt, cap, sizeof *r);

		if (!r) {
			/* Not kept: a repeat of this delivery gets a new receipt. */
			state_free(item);
			return;
		}
		n->rcpt = r;
		n->cap_rcpt = cap;
	}
	memcpy(n->rcpt[n->n_rcpt].id, id, STATE_ID_LEN);
	n->rcpt[n->n_rcpt++].item = item;
}

static int put_receipts(MDB_txn *txn, void *ctx, accord_error *e)
{
	node *n = ctx;

	for (size_t i = 0; i < n->n_rcpt; i++) {
		int rc = state_inbox_put(n->sb, txn, n->rcpt[i].id, n->rcpt[i].item, e);

		if (rc != 0)
			return rc;
	}
	return 0;
}

static void store_receipts(node *n)
{
	accord_error e = { 0 };

	if (n->n_rcpt && store_write(n->st, put_receipts, n, &e) != 0)
		node_log(n, "cannot keep %zu receipts (repeats will get new ones): %s",
			 n->n_rcpt, accord_error_msg(&e));
	for (size_t i = 0; i < n->n_rcpt; i++)
		state_free(n->rcpt[i].item);
	n->n_rcpt = 0;
}

/* The receipts of the ops that want one, signed as one batch with note:
 * n->receipts, each op's place in it in op->receipt_index. */
static int sign_receipts(node *n, struct op *ops, const char *note, accord_error *e)
{
	int rc = receipt_batch_new(&n->receipts, e);

	for (struct op *op = ops; rc == 0 && op; op = op->next)
		if (op->wants_checkpoint)
			rc = receipt_batch_add(n->receipts, op->id, STATE_ID_LEN,
					       op->entry.record_sha256, &op->receipt_index, e);
	if (rc == 0)
		rc = receipt_batch_sign(n->receipts, n->signer, n->cf.partner,
					node_now_ms() / 1000, note, e);
	if (rc != 0) {
		receipt_batch_free(n->receipts);
		n->receipts = NULL;
	}
	return rc;
}

static void flush(evutil_socket_t fd, short what, void *arg)
{
	node *n = arg;
	struct op *ops = n->ops;
	accord_error e = { 0 };
	bool want_note = false;
	char *note = NULL;
	int rc;

	if (!ops)
		return;
	rc = commit_ops(n, &want_note, &e);
	if (rc != 0) {
		if (rc == ACCORD_EFULL || rc == ACCORD_EIO)
			n->broken = true;
		node_log(n, "audit commit of %zu entries failed: %s", n->n_ops,
			 accord_error_msg(&e));
	} else if (want_note) {
		/* One signed checkpoint, and one signature, for every receipt
		 * of the batch. The entries are durable either way: without
		 * them (note NULL) each receipt is owed, and a repeat gets it. */
		accord_error why = { 0 };

		if (node_sign_head(n, &note, &why) != 0 ||
		    sign_receipts(n, ops, note, &why) != 0) {
			node_log(n, "cannot sign the receipts: %s", accord_error_msg(&why));
			free(note);
			note = NULL;
		}
	}
	n->ops = NULL;
	n->ops_tail = &n->ops;
	n->n_ops = 0;
	n->consistency.valid = false;
	while (ops) {
		struct op *next = ops->next;

		ops->note = note;
		ops->done(n, ops, rc, &e);
		node_op_free(ops);
		ops = next;
	}
	free(note);
	receipt_batch_free(n->receipts);
	n->receipts = NULL;
	store_receipts(n);
}

/* ---- open and close --------------------------------------------------------- */

static int open_store(node *n, accord_error *e)
{
	store_options opt = { .map_max = (uint64_t)n->cf.audit_max_mib << 20 };
	int rc = store_open(n->cf.data_dir, &opt, &n->st, e);

	if (rc == 0)
		rc = audit_open(n->st, &n->au, e);
	if (rc == 0)
		rc = state_open(n->st, &n->sb, e);
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
	n->flush_ev = event_new(base, -1, 0, flush, n);
	if (!n->flush_ev) {
		rc = accord_fail(e, ACCORD_ENOMEM, "out of memory");
		goto fail;
	}
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
	if (n->ops)
		flush(-1, 0, n);    /* finish what was accepted this turn */
	courier_close(n->cr);
	node_outbox_stop(n);
	if (n->flush_ev)
		event_free(n->flush_ev);
	if (n->deliver_ev)
		event_free(n->deliver_ev);
	store_receipts(n);
	free(n->rcpt);
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
	return n->n_ops == 0 && n->in_flight == 0;
}

const config *node_config(const node *n) { return &n->cf; }
struct event_base *node_base(const node *n) { return n->base; }
tls *node_server_tls(node *n) { return n->server; }
tls *node_client_tls(node *n) { return n->client; }
const char *node_refusal(const node *n) { return n->refusal; }
