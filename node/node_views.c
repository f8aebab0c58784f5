/*
 * node_views.c - what the local API reads: status, outbox, inbox, metrics;
 * and acknowledging an inbox item.
 */
#include <time.h>

#include "node_int.h"

static const char *outbox_state(int s)
{
	switch (s) {
	case ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING: return "pending";
	case ACCORD__STATE__OUTBOX_ITEM__STATE__DELIVERED: return "delivered";
	case ACCORD__STATE__OUTBOX_ITEM__STATE__REFUSED: return "refused";
	case ACCORD__STATE__OUTBOX_ITEM__STATE__PAUSED: return "paused";
	}
	return "unknown";
}

_Static_assert(sizeof ((node_page *)NULL)->after == STATE_ID_LEN, "a page starts after an id");

/* The items of a page, and the id of the last one. */
struct list {
	json_t *items;
	uint8_t last[STATE_ID_LEN];
};

static int list_outbox(const uint8_t id[STATE_ID_LEN], const state_outbox_item *it, void *ctx)
{
	struct list *l = ctx;
	char hex[2 * STATE_ID_LEN + 1];
	json_t *o;

	memcpy(l->last, id, STATE_ID_LEN);
	crypto_hex(id, STATE_ID_LEN, hex);
	/* A time that does not apply to the item's state is null: the next
	 * attempt only of a pending item, the end only of one that ended. */
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:i, s:I, s:o, s:o, s:s?}",
		      "message_id", hex, "to", it->recipient, "rule", it->rule_id,
		      "record_type", it->record_type,
		      "purpose", it->purpose && *it->purpose ? it->purpose : NULL,
		      "state", outbox_state(it->state), "attempts", (int)it->attempts,
		      "created_ms", (json_int_t)it->created_ms,
		      "next_attempt_ms", it->state == ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING ?
		      json_integer(it->next_attempt_ms) : json_null(),
		      "done_ms", it->done_ms ? json_integer(it->done_ms) : json_null(),
		      "last_error", it->last_error && *it->last_error ? it->last_error : NULL);
	return json_array_append_new(l->items, o) == 0 ? 0 : ACCORD_ENOMEM;
}

static int list_inbox(const uint8_t id[STATE_ID_LEN], const state_inbox_item *it, void *ctx)
{
	struct list *l = ctx;
	Accord__Envelope__Envelope *env;
	char hex[2 * STATE_ID_LEN + 1];
	json_t *o;

	memcpy(l->last, id, STATE_ID_LEN);
	env = accord__envelope__envelope__unpack(NULL, it->envelope.len, it->envelope.data);
	if (!env)
		return 0;
	crypto_hex(id, STATE_ID_LEN, hex);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "id", hex, "from", env->sender,
		      "rule", env->rule_id, "purpose", env->purpose,
		      "record_type", env->record_type, "received_ms", (json_int_t)it->received_ms,
		      "acked", it->acked);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	return json_array_append_new(l->items, o) == 0 ? 0 : ACCORD_ENOMEM;
}

/* doc (the counts) with the page's items and, when more remain, "next":
 * the id to ask for the next page after. NULL when out of memory. */
static json_t *page_doc(json_t *doc, const struct list *l, bool more)
{
	char hex[2 * STATE_ID_LEN + 1];

	if (!doc) {
		json_decref(l->items);
		return NULL;
	}
	crypto_hex(l->last, STATE_ID_LEN, hex);
	/* json_object_set_new takes the value even when it fails. */
	if (json_object_set_new(doc, "items", l->items) != 0 ||
	    (more && json_object_set_new(doc, "next", json_string(hex)) != 0)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* A page of the outbox or the inbox, with the counts of the whole list. */
static json_t *list_json(node *n, const node_page *pg, bool outbox, int *status)
{
	struct list l = { .items = json_array() };
	const uint8_t *after = pg->has_after ? pg->after : NULL;
	accord_error e = { 0 };
	state_counts c;
	bool more = false;
	int rc;

	*status = 200;
	if (!l.items)
		return NULL;
	rc = state_count(n->sb, &c, &e);
	if (rc == 0 && outbox)
		rc = state_outbox_page(n->sb, pg->state, after, pg->limit, list_outbox, &l, &more,
				       &e);
	else if (rc == 0)
		rc = state_inbox_page(n->sb, pg->unacked, after, pg->limit, list_inbox, &l, &more,
				      &e);
	if (rc != 0) {
		json_decref(l.items);
		*status = 500;
		return json_pack("{s:s}", "error", e.msg[0] ? e.msg : "the node's state could "
				 "not be read");
	}
	return page_doc(outbox ? json_pack("{s:I, s:I, s:I, s:I}", "pending",
					   (json_int_t)c.pending, "delivered",
					   (json_int_t)c.delivered, "refused",
					   (json_int_t)c.refused, "paused", (json_int_t)c.paused) :
				 json_pack("{s:I}", "unacknowledged", (json_int_t)c.unacked),
			&l, more);
}

json_t *node_outbox_json(node *n, const node_page *pg, int *status)
{
	return list_json(n, pg, true, status);
}

json_t *node_inbox_json(node *n, const node_page *pg, int *status)
{
	return list_json(n, pg, false, status);
}

static bool parse_id(const char *hex, uint8_t id[STATE_ID_LEN])
{
	size_t n;

	return crypto_hex_decode(hex, id, STATE_ID_LEN, &n) == 0 && n == STATE_ID_LEN;
}

json_t *node_inbox_item_json(node *n, const char *id_hex, int *status)
{
	uint8_t id[STATE_ID_LEN];
	state_inbox_item *it = NULL;
	Accord__Envelope__Envelope *env = NULL;
	ProtobufCMessage *rec = NULL;
	const ProtobufCMessageDescriptor *d;
	json_t *doc = NULL;

	*status = 404;
	if (!parse_id(id_hex, id) || state_inbox_get(n->sb, id, &it, NULL) != 0)
		return json_pack("{s:s}", "error", "no such inbox item");
	*status = 500;
	env = accord__envelope__envelope__unpack(NULL, it->envelope.len, it->envelope.data);
	d = env ? record_type_find(env->record_type) : NULL;
	if (d && record_unpack(d, env->record.data, env->record.len, &rec, NULL) == 0) {
		doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:o}", "id", id_hex,
				"from", env->sender, "rule", env->rule_id, "purpose", env->purpose,
				"record_type", env->record_type,
				"created_at", (json_int_t)env->created_at,
				"received_ms", (json_int_t)it->received_ms, "acked", it->acked,
				"record", record_to_json(rec));
		*status = doc ? 200 : 500;
	}
	record_free(rec);
	if (env)
		protobuf_c_message_free_unpacked(&env->base, NULL);
	state_free(it);
	return doc;
}

/* An acknowledgement rides the group commit, as a state change without an
 * audit entry: the loop never waits for the disk, and the item is read
 * inside the commit's transaction, so a receipt stored with it is kept. */
static int ack_put(node *n, MDB_txn *txn, struct op *op, accord_error *e)
{
	accord_error why = { 0 };
	int64_t was = 0;
	int rc = state_inbox_set_acked(n->sb, txn, op->id, op->acked_ms, &was, &why);

	/* An item gone or unreadable fails this acknowledgement, not the
	 * commit it rides with. */
	if (rc == ACCORD_ENOTFOUND || rc == ACCORD_EPARSE) {
		op->ack_status = rc == ACCORD_ENOTFOUND ? 404 : 500;
		return 0;
	}
	if (rc != 0)
		*e = why;
	op->acked_ms = was;
	return rc;
}

static void ack_done(node *n, struct op *op, int rc, const accord_error *e)
{
	node_reply r = { .status = 200 };

	if (rc != 0) {
		r.status = 503;
		r.json = json_pack("{s:s}", "error", accord_error_msg(e));
	} else if (op->ack_status) {
		r.status = op->ack_status;
		r.json = json_pack("{s:s}", "error", op->ack_status == 404 ? "no such inbox item" :
				   "the inbox item cannot be read");
	} else {
		r.json = json_pack("{s:s, s:b, s:I}", "id", op->id_hex, "acked", 1,
				   "acked_ms", (json_int_t)op->acked_ms);
	}
	op->reply(&r, op->reply_arg);
}

void node_inbox_ack(node *n, const char *id_hex, node_reply_fn fn, void *arg)
{
	node_reply r = { .status = 404 };
	uint8_t id[STATE_ID_LEN];
	struct op *op;

	if (!parse_id(id_hex, id)) {
		r.json = json_pack("{s:s}", "error", "no such inbox item");
		fn(&r, arg);
		return;
	}
	if (n->broken) {
		r.status = 503;
		r.json = json_pack("{s:s}", "error", "the node's store cannot be written");
		fn(&r, arg);
		return;
	}
	op = calloc(1, sizeof *op);
	if (!op) {
		r.status = 503;
		r.json = json_pack("{s:s}", "error", "out of memory");
		fn(&r, arg);
		return;
	}
	memcpy(op->id, id, STATE_ID_LEN);
	crypto_hex(op->id, STATE_ID_LEN, op->id_hex);
	op->unaudited = true;
	op->acked_ms = node_now_ms();
	op->reply = fn;
	op->reply_arg = arg;
	op->put = ack_put;
	op->done = ack_done;
	node_enqueue(n, op);
}

static int witness_entry(const char *partner, const witness_checkpoint *c, void *ctx)
{
	char root[CRYPTO_B64_LEN(AUDIT_HASH_LEN)];

	crypto_b64_encode(c->root, AUDIT_HASH_LEN, root);
	return json_object_set_new(ctx, partner, json_pack("{s:I, s:s}", "size",
				   (json_int_t)c->size, "root", root)) == 0 ? 0 : ACCORD_ENOMEM;
}

/* Count the outbox and inbox, and the audit's size: no item is read. */
static int tally(node *n, state_counts *c, uint64_t *size)
{
	int rc = state_count(n->sb, c, NULL);

	if (rc == 0)
		rc = audit_size(n->au, size, NULL);
	return rc;
}

json_t *node_status_json(node *n)
{
	const protocol *p = node_protocol(n);
	state_counts c = { 0 };
	json_t *doc = json_pack("{s:s}", "partner", n->cf.partner), *held = json_object();
	char digest[2 * CRYPTO_SHA256_LEN + 1], review[11];
	uint64_t size = 0;

	if (!doc || !held) {
		json_decref(doc);
		json_decref(held);
		return NULL;
	}
	if (p) {
		crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, digest);
		date_format(protocol_review_by(p), review);
		json_object_set_new(doc, "protocol", json_pack("{s:s, s:I, s:s, s:s}",
			"id", protocol_id(p), "version", (json_int_t)protocol_version(p),
			"digest", digest, "review_by", review));
	} else {
		json_object_set_new(doc, "protocol", json_null());
		json_object_set_new(doc, "reason", json_string(n->refusal));
	}
	json_object_set_new(doc, "in_force", json_boolean(p != NULL));
	json_object_set_new(doc, "sharing", json_boolean(p && !n->broken));
	if (tally(n, &c, &size) != 0 ||
	    witness_list(n->wit, witness_entry, held, NULL) != 0)
		json_object_set_new(doc, "error", json_string("the node's store could not "
				    "be read in full"));
	json_object_set_new(doc, "audit_size", json_integer((json_int_t)size));
	json_object_set_new(doc, "outbox", json_pack("{s:I, s:I, s:I, s:I}",
		"pending", (json_int_t)c.pending, "delivered", (json_int_t)c.delivered,
		"refused", (json_int_t)c.refused, "paused", (json_int_t)c.paused));
	json_object_set_new(doc, "inbox", json_pack("{s:I, s:I}", "items",
		(json_int_t)c.inbox, "unacknowledged", (json_int_t)c.unacked));
	json_object_set_new(doc, "checkpoints_held", held);
	return doc;
}

static const double bounds[METRIC_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

static void hist_add(struct histogram *h, double seconds)
{
	for (size_t b = 0; b < METRIC_BUCKETS; b++)
		h->bucket[b] += seconds <= bounds[b];
	h->sum += seconds;
	h->count++;
}

static void hist_print(FILE *f, const char *name, const char *help, const struct histogram *h)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t b = 0; b < METRIC_BUCKETS; b++)
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[b],
			(unsigned long long)h->bucket[b]);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
		(unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

double node_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void node_metric_disclosure(node *n, const char *partner, const char *purpose,
			    const char *outcome, double seconds)
{
	struct metrics *m = &n->m;
	size_t i;

	for (i = 0; i < m->n_series; i++)
		if (!strcmp(m->series[i].partner, partner) && !strcmp(m->series[i].purpose, purpose) &&
		    !strcmp(m->series[i].outcome, outcome))
			break;
	if (i == m->n_series && m->n_series < METRIC_SERIES) {
		snprintf(m->series[i].partner, sizeof m->series[i].partner, "%s", partner);
		snprintf(m->series[i].purpose, sizeof m->series[i].purpose, "%s", purpose);
		snprintf(m->series[i].outcome, sizeof m->series[i].outcome, "%s", outcome);
		m->n_series++;
	}
	if (i < m->n_series)
		m->series[i].n++;
	hist_add(&m->latency, seconds);
}

void node_metric_commit(node *n, size_t ops, bool ok, double seconds)
{
	struct metrics *m = &n->m;

	m->commits++;
	m->commits_failed += !ok;
	m->committed_ops += ops;
	hist_add(&m->commit, seconds);
}

/* The labelled series and the histogram, Prometheus text. */
static void metrics_series(const struct metrics *m, FILE *f)
{
	fprintf(f, "# HELP accord_local_disclosures_total Local disclosure requests by "
		"partner, purpose and outcome.\n# TYPE accord_local_disclosures_total counter\n");
	for (size_t i = 0; i < m->n_series; i++)
		fprintf(f, "accord_local_disclosures_total{partner=\"%s\",purpose=\"%s\","
			"outcome=\"%s\"} %llu\n", m->series[i].partner, m->series[i].purpose,
			m->series[i].outcome, (unsigned long long)m->series[i].n);
	hist_print(f, "accord_disclosure_seconds", "From a local request to its durable "
		   "answer.", &m->latency);
	fprintf(f, "# HELP accord_commits_total Group commits of the audit log and the "
		"state, by outcome.\n# TYPE accord_commits_total counter\n"
		"accord_commits_total{outcome=\"ok\"} %llu\n"
		"accord_commits_total{outcome=\"failed\"} %llu\n"
		"# HELP accord_committed_changes_total Audited changes those commits "
		"carried (each a disclosure, receipt, refusal or the like).\n"
		"# TYPE accord_committed_changes_total counter\n"
		"accord_committed_changes_total %llu\n",
		(unsigned long long)(m->commits - m->commits_failed),
		(unsigned long long)m->commits_failed, (unsigned long long)m->committed_ops);
	hist_print(f, "accord_commit_seconds", "From a batch handed to the writer until "
		   "the loop takes it back, durable or failed.", &m->commit);
}

char *node_metrics_text(node *n)
{
	state_counts c = { 0 };
	uint64_t size = 0;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (tally(n, &c, &size) != 0) {
		fclose(f);
		free(out);
		return NULL;
	}
	fprintf(f, "# HELP accord_disclosures_total Local requests by outcome.\n"
		"# TYPE accord_disclosures_total counter\n"
		"accord_disclosures_total{outcome=\"disclosed\"} %llu\n"
		"accord_disclosures_total{outcome=\"refused\"} %llu\n"
		"# HELP accord_received_total Envelopes accepted from partners.\n"
		"# TYPE accord_received_total counter\naccord_received_total %llu\n"
		"# HELP accord_delivered_total Envelopes delivered with a receipt.\n"
		"# TYPE accord_delivered_total counter\naccord_delivered_total %llu\n"
		"# HELP accord_delivery_failures_total Delivery attempts that failed.\n"
		"# TYPE accord_delivery_failures_total counter\n"
		"accord_delivery_failures_total %llu\n"
		"# HELP accord_outbox Outbox items by state.\n# TYPE accord_outbox gauge\n"
		"accord_outbox{state=\"pending\"} %zu\naccord_outbox{state=\"delivered\"} %zu\n"
		"accord_outbox{state=\"refused\"} %zu\naccord_outbox{state=\"paused\"} %zu\n"
		"# HELP accord_inbox_unacknowledged Inbox items not yet acknowledged.\n"
		"# TYPE accord_inbox_unacknowledged gauge\naccord_inbox_unacknowledged %zu\n"
		"# HELP accord_audit_entries Entries in the audit log.\n"
		"# TYPE accord_audit_entries gauge\naccord_audit_entries %llu\n"
		"# HELP accord_protocol_in_force 1 when a protocol is in force.\n"
		"# TYPE accord_protocol_in_force gauge\naccord_protocol_in_force %d\n",
		(unsigned long long)n->m.disclosed, (unsigned long long)n->m.refused,
		(unsigned long long)n->m.received, (unsigned long long)n->m.delivered,
		(unsigned long long)n->m.delivery_failures, c.pending, c.delivered,
		c.refused, c.paused, c.unacked, (unsigned long long)size,
		node_protocol(n) != NULL);
	metrics_series(&n->m, f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int node_latest_checkpoint(node *n, char **note)
{
	return audit_latest_checkpoint(n->au, note, NULL);
}
