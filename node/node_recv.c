/*
 * node_recv.c - the receiving side of the data path:
 *
 *   TLS identity -> envelope (size, nothing lost unpacking it, protocol
 *   digest, sender = identity) -> check (the rule allows it; the record,
 *   nothing lost unpacking it, holds no field outside the rule; in-case
 *   rules need an accepted case) -> audit RECEIVED and inbox item (one
 *   transaction) -> signed receipt with our checkpoint
 *
 * Every refusal is audited (REFUSED, with the reason) before it is
 * answered. A repeated message id is answered with the first receipt.
 */
#include "accord/receipt.h"
#include "node_case.h"
#include "node_int.h"

static void answer(node_reply_fn fn, void *arg, int status, const char *msg)
{
	node_reply r = { .status = status, .json = node_error_json(msg) };

	fn(&r, arg);
}

static void answer_receipt(node_reply_fn fn, void *arg, const uint8_t *bytes, size_t len)
{
	node_reply r = { .status = 200, .bytes = bytes, .len = len,
			 .content_type = "application/x-protobuf" };

	fn(&r, arg);
}

/* ---- refusals ----------------------------------------------------------------- */

static void refused_done(node *n, struct op *op, int rc, const accord_error *e)
{
	n->m.refused++;
	answer(op->reply, op->reply_arg, rc == 0 ? (int)op->seq_status : 503,
	       rc == 0 ? op->entry.reason : "refused, and the refusal could not be audited");
}

/* A peer's string for a refusal's audit entry: NULL when empty, not UTF-8
 * (the reason says which field it was) or longer than an entry holds (its
 * append would fail, and with it the whole commit: nothing of it audited). */
static const char *peer_text(const char *s)
{
	size_t n = strnlen(s, AUDIT_TEXT_MAX + 1);

	return n > 0 && n <= AUDIT_TEXT_MAX && record_utf8_ok(s, n) ? s : NULL;
}

/* Audit the refusal, then answer status with the reason. */
static void refuse(node *n, const struct inbound *in, int status, node_reply_fn fn,
		   void *arg, const char *fmt, ...) ACCORD_PRINTF(6, 7);
static void refuse(node *n, const struct inbound *in, int status, node_reply_fn fn,
		   void *arg, const char *fmt, ...)
{
	struct op *op = calloc(1, sizeof *op);
	const Accord__Envelope__Envelope *env = in->env;
	char reason[700];
	va_list ap;

	va_start(ap, fmt);
	node_vtext(reason, sizeof reason, fmt, ap);
	va_end(ap);
	node_log(n, "refused an envelope from %s: %s", in->from->id, reason);
	if (!op) {
		answer(fn, arg, 503, "out of memory");
		return;
	}
	node_entry_protocol(n, &op->entry);
	op->entry.event = AUDIT_REFUSED;
	op->entry.outcome = AUDIT_DENIED;
	op->entry.from = in->from->id;
	op->entry.to = n->cf.partner;
	op->entry.reason = reason;
	op->entry.actor = "peer";
	op->entry.has_peer_key = true;
	memcpy(op->entry.peer_key, in->spki, CRYPTO_SHA256_LEN);
	if (env) {
		/* Strings cut short unpacking are not what the peer sent. */
		if (!in->inexact) {
			op->entry.rule_id = peer_text(env->rule_id);
			op->entry.purpose = peer_text(env->purpose);
			op->entry.record_type = peer_text(env->record_type);
		}
		if (env->message_id.len == STATE_ID_LEN) {
			crypto_hex(env->message_id.data, STATE_ID_LEN, op->id_hex);
			op->entry.message_id = op->id_hex;
		}
		op->entry.has_record_sha256 = crypto_sha256(env->record.data, env->record.len,
							    op->entry.record_sha256) == 0;
	}
	op->seq_status = status;
	op->reply = fn;
	op->reply_arg = arg;
	op->done = refused_done;
	if (node_op_own_strings(op) != 0) {
		node_op_free(op);
		answer(fn, arg, 503, "out of memory");
		return;
	}
	node_enqueue(n, op);
}

/* ---- the checks ------------------------------------------------------------------ */

int node_envelope_text_check(struct inbound *in, const void *body, size_t len, char *why,
			     size_t size)
{
	const char *text = NULL;
	const ProtobufCFieldDescriptor *f;
	accord_error e = { 0 };
	char shown[64];
	bool cut;

	if (record_exact(&in->env->base, body, len, "the envelope", &e) != 0) {
		in->inexact = true;
		return snprintf(why, size, "%s", accord_error_msg(&e)), 422;
	}
	f = record_bad_text(&in->env->base, &text);
	if (!f)
		return 0;
	cut = record_utf8_escape(text, strlen(text), shown, sizeof shown) >= sizeof shown;
	return snprintf(why, size, "the envelope's field '%s' is not UTF-8 text: it holds "
			"'%s%s' (a byte outside UTF-8 written \\xNN)", f->name, shown,
			cut ? "..." : ""), 422;
}

int node_envelope_check(const protocol *p, const policy *pol, const char *self,
			struct inbound *in, char *why, size_t size)
{
	const Accord__Envelope__Envelope *env = in->env;
	const ProtobufCMessageDescriptor *d;
	const record_selection *sel;
	accord_error e = { 0 };
	bool to_us = false;
	char want[2 * CRYPTO_SHA256_LEN + 1];

	if (env->message_id.len != STATE_ID_LEN)
		return snprintf(why, size, "message_id must be %d bytes", STATE_ID_LEN), 422;
	if (strcmp(env->protocol_id, protocol_id(p)) != 0 ||
	    env->protocol_version != (uint64_t)protocol_version(p) ||
	    env->protocol_digest.len != CRYPTO_SHA256_LEN ||
	    memcmp(env->protocol_digest.data, protocol_digest(p), CRYPTO_SHA256_LEN) != 0) {
		crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, want);
		return snprintf(why, size, "the envelope names protocol '%s' version %llu with "
				"another digest; the protocol in force here is '%s' version %ld, "
				"sha256:%s", env->protocol_id,
				(unsigned long long)env->protocol_version, protocol_id(p),
				protocol_version(p), want), 409;
	}
	if (strcmp(env->sender, in->from->id) != 0)
		return snprintf(why, size, "the envelope says it is from '%s', but the TLS "
				"key is %s's", env->sender, in->from->id), 403;
	if (strcmp(env->recipient, self) != 0)
		return snprintf(why, size, "the envelope is for '%s', not for '%s'",
				env->recipient, self), 422;
	in->rule = protocol_rule_find(p, env->rule_id);
	if (!in->rule)
		return snprintf(why, size, "the protocol in force has no rule '%s'",
				env->rule_id), 403;
	for (size_t i = 0; i < in->rule->n_to; i++)
		to_us |= strcmp(in->rule->to[i], self) == 0;
	if (strcmp(in->rule->from, in->from->id) != 0 || !to_us)
		return snprintf(why, size, "rule '%s' does not let %s share with %s",
				in->rule->id, in->from->id, self), 403;
	if (strcmp(in->rule->purpose, env->purpose) != 0 ||
	    strcmp(in->rule->record, env->record_type) != 0)
		return snprintf(why, size, "rule '%s' is for %s records for purpose %s, not "
				"%s for %s", in->rule->id, in->rule->record, in->rule->purpose,
				env->record_type, env->purpose), 403;
	d = record_type_find(env->record_type);
	sel = policy_rule_selection(pol, in->rule);
	if (!d || !sel)
		return snprintf(why, size, "unknown record type '%s'", env->record_type), 422;
	if (record_unpack(d, env->record.data, env->record.len, &in->record, &e) != 0 ||
	    record_exact(in->record, env->record.data, env->record.len, "the record", &e) != 0 ||
	    record_check(sel, in->record, &e) != 0)
		return snprintf(why, size, "%s", accord_error_msg(&e)), 422;
	return 0;
}

/* node_envelope_check, then a rule's in-case condition against the cases
 * in the store. */
static int check(node *n, struct inbound *in, char *why, size_t size)
{
	int status = node_envelope_check(n->proto, n->pol, n->cf.partner, in, why, size);
	const char *rid;
	state_case_item *c;
	policy_case_state st;

	/* An id already in the inbox that is no repeat came from another
	 * partner (answer_repeat found it): not theirs to reuse. */
	if (status == 0 && in->id_taken)
		return snprintf(why, size, "message id already delivered by another partner"),
		       409;
	if (status != 0 || in->rule->when != PROTOCOL_WHEN_IN_CASE)
		return status;
	rid = node_referral_id(in->record);
	c = node_case_find(n, in->from->id, n->cf.partner, rid);
	st = node_case_state(c);
	state_free(c);
	if (st != POLICY_CASE_ACCEPTED)
		return snprintf(why, size, "rule '%s' applies only in an accepted, open case, "
				"and there is none here about referral '%s'", in->rule->id,
				rid ? rid : ""), 403;
	return 0;
}

/* ---- accepting ------------------------------------------------------------------- */

static int received_put(node *n, MDB_txn *txn, struct op *op, accord_error *e)
{
	int rc = state_inbox_put(n->sb, txn, op->id, op->inbox, e);

	if (rc == 0 && op->case_item)
		rc = state_case_put(n->sb, txn, op->case_item, e);
	return rc;
}

/* The consistency proof from the checkpoint of ours the sender holds
 * (witness_size) to note's: the same for most receipts of one batch, so the
 * last one made is kept until the next commit (n->consistency). */
static int consistency_for(node *n, uint64_t witness_size, const char *note,
			   const audit_proof **out, accord_error *e)
{
	int rc = 0;

	if (!n->consistency.valid || n->consistency.witness_size != witness_size) {
		n->consistency.valid = false;
		rc = receipt_consistency(n->au, witness_size, note, &n->consistency.proof, e);
		n->consistency.valid = rc == 0;
		n->consistency.witness_size = witness_size;
	}
	*out = &n->consistency.proof;
	return rc;
}

/* A receipt of its own, signed now with the log's current head, for a
 * stored inbox item whose first receipt was never kept. */
static int make_receipt(node *n, const uint8_t id[STATE_ID_LEN], const state_inbox_item *it,
			uint64_t witness_size, uint8_t **bytes, size_t *len, accord_error *e)
{
	Accord__Envelope__Envelope *env;
	audit_proof proof = { 0 };
	uint8_t digest[CRYPTO_SHA256_LEN];
	char *note = NULL;
	int rc;

	env = accord__envelope__envelope__unpack(NULL, it->envelope.len, it->envelope.data);
	if (!env)
		return accord_fail(e, ACCORD_EPARSE, "the stored envelope does not unpack");
	rc = crypto_sha256(env->record.data, env->record.len, digest);
	if (rc == 0)
		rc = node_sign_head(n, false, &note, e);
	if (rc == 0)
		rc = receipt_consistency(n->au, witness_size, note, &proof, e);
	if (rc == 0)
		rc = receipt_make(n->signer, id, STATE_ID_LEN, digest, n->cf.partner,
				  it->received_ms / 1000, note, &proof, bytes, len, e);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	free(note);
	return rc;
}

/* Answer with the receipt from the batch signed after the commit, and keep
 * it for repeats (stored after this turn's answers, all in one
 * transaction). */
static void received_done(node *n, struct op *op, int rc, const accord_error *e)
{
	const audit_proof *proof = NULL;
	accord_error e2 = { 0 };
	uint8_t *bytes = NULL;
	size_t len;

	if (rc != 0) {
		answer(op->reply, op->reply_arg, 503, "the envelope could not be audited, so "
		       "it was not accepted; send it again");
		return;
	}
	n->m.received++;
	if (!op->note || !n->receipts ||
	    consistency_for(n, op->witness_size, op->note, &proof, &e2) != 0 ||
	    receipt_batch_make(n->receipts, op->receipt_index, proof, &bytes, &len, &e2) != 0) {
		node_log(n, "cannot make a receipt for %s: %s", op->id_hex,
			 op->note ? accord_error_msg(&e2) : "the batch was not signed");
		answer(op->reply, op->reply_arg, 503, "received, but no receipt could be made; "
		       "send it again for the receipt");
		return;
	}
	answer_receipt(op->reply, op->reply_arg, bytes, len);
	free(bytes);
	/* Kept without the proof: a repeat gets one made anew. */
	if (receipt_batch_make(n->receipts, op->receipt_index, NULL, &bytes, &len, &e2) != 0) {
		node_log(n, "cannot keep the receipt for %s: %s", op->id_hex,
			 accord_error_msg(&e2));
		return;
	}
	node_keep_receipt(n, op->id, bytes, len);
}

static void accept_envelope(node *n, struct inbound *in, const void *body, size_t len,
			    node_reply_fn fn, void *arg)
{
	struct op *op = calloc(1, sizeof *op);
	const Accord__Envelope__Envelope *env = in->env;
	state_inbox_item *it;

	if (!op || !(it = calloc(1, sizeof *it)))
		goto oom;
	op->inbox = it;
	accord__state__inbox_item__init(it);
	it->envelope.data = malloc(len ? len : 1);
	if (!it->envelope.data)
		goto oom;
	memcpy(it->envelope.data, body, len);
	it->envelope.len = len;
	it->received_ms = node_now_ms();
	memcpy(op->id, env->message_id.data, STATE_ID_LEN);
	crypto_hex(op->id, STATE_ID_LEN, op->id_hex);
	node_entry_protocol(n, &op->entry);
	op->entry.event = AUDIT_RECEIVED;
	op->entry.outcome = AUDIT_SUCCESS;
	op->entry.rule_id = in->rule->id;
	op->entry.purpose = env->purpose;
	op->entry.from = in->from->id;
	op->entry.to = n->cf.partner;
	op->entry.record_type = env->record_type;
	op->entry.disclosed = in->rule->fields;
	op->entry.n_disclosed = in->rule->n_fields;
	op->entry.message_id = op->id_hex;
	op->entry.actor = "peer";
	op->entry.has_peer_key = true;
	memcpy(op->entry.peer_key, in->spki, CRYPTO_SHA256_LEN);
	op->entry.has_record_sha256 = crypto_sha256(env->record.data, env->record.len,
						    op->entry.record_sha256) == 0;
	op->entry.has_subject = node_subject(n, in->record, op->entry.subject);
	if (node_case_next(n, in->record, in->from->id, n->cf.partner,
			   op->entry.has_subject ? op->entry.subject : NULL, &op->case_item) != 0 ||
	    node_op_own_strings(op) != 0)
		goto oom;
	op->wants_checkpoint = true;
	op->witness_size = env->witness_size;
	op->reply = fn;
	op->reply_arg = arg;
	op->put = received_put;
	op->done = received_done;
	node_enqueue(n, op);
	return;
oom:
	node_op_free(op);
	answer(fn, arg, 503, "out of memory");
}

/* Whether an envelope with message id is queued or being committed. */
static bool receiving(const node *n, const uint8_t id[STATE_ID_LEN])
{
	const struct op *lists[] = { n->ops, node_commit_ops(n) };

	for (size_t i = 0; i < 2; i++)
		for (const struct op *op = lists[i]; op; op = op->next)
			if (op->done == received_done && memcmp(op->id, id, STATE_ID_LEN) == 0)
				return true;
	return false;
}

/* Whether the stored envelope of it came from sender. */
static bool same_sender(const state_inbox_item *it, const char *sender)
{
	Accord__Envelope__Envelope *old =
		accord__envelope__envelope__unpack(NULL, it->envelope.len, it->envelope.data);
	bool same = old && strcmp(old->sender, sender) == 0;

	if (old)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	return same;
}

/*
 * A message id seen before: its first receipt (with a consistency proof
 * fresh for the checkpoint the sender holds now), or false. A copy still
 * waiting for this turn's commit is answered 503, so that the sender asks
 * again for its receipt rather than being received twice; an item whose
 * receipt was never kept (the node stopped between the commit and the
 * receipt) gets one now, signed with a fresh checkpoint. An id another
 * partner sent is no repeat: false, with in->id_taken set.
 */
static bool answer_repeat(node *n, struct inbound *in, node_reply_fn fn, void *arg)
{
	const Accord__Envelope__Envelope *env = in->env;
	state_inbox_item *it = NULL;
	uint8_t *bytes = NULL, *kept = NULL;
	size_t len, kept_len;
	accord_error e = { 0 };
	int rc;

	if (receiving(n, env->message_id.data)) {
		answer(fn, arg, 503, "this message is being received; send it again for "
		       "its receipt");
		return true;
	}
	if (state_inbox_get(n->sb, env->message_id.data, &it, NULL) != 0)
		return false;
	if (!same_sender(it, env->sender)) {
		state_free(it);
		in->id_taken = true;   /* not a repeat: check() refuses the id */
		return false;
	}
	rc = state_inbox_receipt(n->sb, env->message_id.data, it, &kept, &kept_len, &e);
	if (rc == ACCORD_ENOTFOUND) {
		/* Received, but the node stopped before its receipt was kept:
		 * a receipt now, with the log's current head. */
		if (make_receipt(n, env->message_id.data, it, env->witness_size, &bytes, &len,
				 &e) == 0)
			answer_receipt(fn, arg, bytes, len);
		else
			answer(fn, arg, 503, accord_error_msg(&e));
	} else if (rc != 0 || receipt_reprove(n->au, kept, kept_len, env->witness_size,
					      &bytes, &len, &e) != 0) {
		answer(fn, arg, 503, accord_error_msg(&e));
	} else {
		answer_receipt(fn, arg, bytes, len);
	}
	free(kept);
	free(bytes);
	state_free(it);
	return true;
}

/* What refuses a partner's whole request before any envelope is read:
 * answered, and true. */
static bool refuse_request(node *n, const struct inbound *in, node_reply_fn fn, void *arg)
{
	if (!in->from || !n->proto)
		answer(fn, arg, 403, "your TLS key is not a partner's in the protocol in force");
	else if (n->stopping)
		answer(fn, arg, 503, "this node is stopping; deliver again later");
	else if (n->broken)
		answer(fn, arg, 503, "this node cannot write its audit log: it accepts nothing");
	else
		return false;
	return true;
}

/* One envelope (len bytes of body) from in->from, answered through fn. */
static void receive_one(node *n, const struct inbound *from, const void *body, size_t len,
			node_reply_fn fn, void *arg)
{
	struct inbound in = { .from = from->from, .spki = from->spki };
	char why[700];
	int status;

	in.env = accord__envelope__envelope__unpack(NULL, len, body);
	if (!in.env) {
		refuse(n, &in, 422, fn, arg, "the body is not an Envelope");
		return;
	}
	/* Before any of its strings is compared, echoed or audited. */
	status = node_envelope_text_check(&in, body, len, why, sizeof why);
	if (status != 0) {
		refuse(n, &in, status, fn, arg, "%s", why);
		goto out;
	}
	/* A repeat is answered only to the partner that sent the original:
	 * the sender named must be the TLS identity, and the stored
	 * envelope's sender too (answer_repeat). */
	if (strcmp(in.env->sender, in.from->id) != 0) {
		refuse(n, &in, 403, fn, arg, "the envelope says it is from '%s', but the TLS key "
		       "is %s's", in.env->sender, in.from->id);
		goto out;
	}
	if (in.env->message_id.len == STATE_ID_LEN && answer_repeat(n, &in, fn, arg))
		goto out;
	status = check(n, &in, why, sizeof why);
	if (status != 0)
		refuse(n, &in, status, fn, arg, "%s", why);
	else
		accept_envelope(n, &in, body, len, fn, arg);
out:
	record_free(in.record);
	protobuf_c_message_free_unpacked(&in.env->base, NULL);
}

void node_receive(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], const void *body,
		  size_t len, node_reply_fn fn, void *arg)
{
	struct inbound in = { .spki = spki, .from = node_partner_by_spki(n, spki) };

	if (!refuse_request(n, &in, fn, arg))
		receive_one(n, &in, body, len, fn, arg);
}

void node_receive_too_big(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], bool batch,
			  size_t len, size_t cap, node_reply_fn fn, void *arg)
{
	struct inbound in = { .spki = spki, .from = node_partner_by_spki(n, spki) };

	if (!refuse_request(n, &in, fn, arg))
		refuse(n, &in, 413, fn, arg, "the %s is %zu bytes, over this node's limit of "
		       "%zu; it was not read", batch ? "delivery" : "envelope", len, cap);
}

/* The answer to a request another layer answered already. */
static void answered_elsewhere(const node_reply *r, void *arg)
{
	json_decref(r->json);
}

void node_receive_refused_unread(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], int status,
				 const char *why)
{
	struct inbound in = { .spki = spki, .from = node_partner_by_spki(n, spki) };

	if (!refuse_request(n, &in, answered_elsewhere, NULL))
		refuse(n, &in, status, answered_elsewhere, NULL, "%s", why);
}

/* ---- many envelopes in one request ------------------------------------------ */

void node_receive_batch(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], const void *body,
			size_t len, node_reply_fn fn, void *arg)
{
	struct inbound in = { .spki = spki, .from = node_partner_by_spki(n, spki) };
	Accord__Envelope__Delivery *dv;
	struct delivery *d;
	char why[200];
	int status;

	if (refuse_request(n, &in, fn, arg))
		return;
	status = node_delivery_unpack(body, len, &dv, why, sizeof why);
	if (status != 0) {
		refuse(n, &in, status, fn, arg, "%s", why);
		return;
	}
	d = node_delivery_new(dv->n_envelopes, fn, arg);
	if (!d) {
		answer(fn, arg, 503, "out of memory");
	} else {
		for (size_t i = 0; i < dv->n_envelopes; i++) {
			const ProtobufCBinaryData *b = &dv->envelopes[i];
			void *slot = node_delivery_slot(d, i);

			status = node_delivery_envelope_check(b, i, n->cf.max_body_bytes, why,
							      sizeof why);
			if (status != 0)
				refuse(n, &in, status, node_delivery_collect, slot, "%s", why);
			else
				receive_one(n, &in, b->data, b->len, node_delivery_collect, slot);
		}
		node_delivery_close(d);   /* the guard: answers now if all were answered */
	}
	accord__envelope__delivery__free_unpacked(dv, NULL);
}
