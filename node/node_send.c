/*
 * node_send.c - the sending side of the data path:
 *
 *   local API JSON -> parse -> decide -> minimise -> audit DISCLOSED and
 *   outbox item (one transaction) -> 202 -> deliver -> receipt checked ->
 *   audit DELIVERED (with the receiver's checkpoint kept as a witness)
 *
 * Nothing leaves before its DISCLOSED entry is durable: deliveries read
 * only the outbox, which is written in the same transaction as the entry.
 */
#include <event2/event.h>
#include <openssl/crypto.h>

#include <cJSON.h>

#include "accord/receipt.h"
#include "accord/witness.h"
#include "node_case.h"
#include "node_int.h"

#define MAX_IN_FLIGHT 64

static void reply_json(node_reply_fn fn, void *arg, int status, json_t *doc)
{
	node_reply r = { .status = status, .json = doc };

	fn(&r, arg);
}

static void reply_error(node_reply_fn fn, void *arg, int status, const char *fmt, ...)
	ACCORD_PRINTF(4, 5);
static void reply_error(node_reply_fn fn, void *arg, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	reply_json(fn, arg, status, node_error_json(msg));
}

/* ---- submit ---------------------------------------------------------------- */

int node_submit_parse(const cJSON *req, struct node_submit_req *s, accord_error *e)
{
	/* The ids first, then the actor and the record: v[] follows this order. */
	static const char *const known[] = { "to", "purpose", "record_type", "actor", "record" };
	enum { N_KNOWN = sizeof known / sizeof known[0] };
	const cJSON *v[N_KNOWN] = { NULL };
	const char **ids[] = { &s->to, &s->purpose, &s->type };
	const cJSON *m;

	if (!cJSON_IsObject(req))
		return accord_fail(e, ACCORD_EINVAL, "the body must be a JSON object");
	cJSON_ArrayForEach(m, req) {
		size_t i = 0;

		while (i < N_KNOWN && strcmp(m->string, known[i]) != 0)
			i++;
		if (i == N_KNOWN)
			return accord_fail(e, ACCORD_EINVAL, "$.%s: unknown key (known: to, "
					   "purpose, record_type, record, actor)", m->string);
		if (v[i])
			return accord_fail(e, ACCORD_EINVAL, "$.%s: the key is given twice",
					   m->string);
		v[i] = m;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!v[i] || !cJSON_IsString(v[i]))
			return accord_fail(e, ACCORD_EINVAL, "$.%s: %s", known[i],
					   v[i] ? "expected a string" : "missing");
		/* Longer than any id, it would match none, and a refusal
		 * naming it could not be audited. */
		if (strlen(v[i]->valuestring) > PROTOCOL_MAX_ID)
			return accord_fail(e, ACCORD_EINVAL, "$.%s: longer than an id of the "
					   "protocol (%d bytes at most)", known[i], PROTOCOL_MAX_ID);
		*ids[i] = v[i]->valuestring;
	}
	if (v[3] && !cJSON_IsString(v[3]) && !cJSON_IsNull(v[3]))
		return accord_fail(e, ACCORD_EINVAL, "$.actor: expected a string");
	if (cJSON_IsString(v[3]) && strlen(v[3]->valuestring) > AUDIT_TEXT_MAX)
		return accord_fail(e, ACCORD_EINVAL, "$.actor: longer than the audit keeps "
				   "(%d bytes at most)", AUDIT_TEXT_MAX);
	s->actor = cJSON_IsString(v[3]) ? v[3]->valuestring : "local-api";
	s->record = v[4];
	if (!cJSON_IsObject(s->record))
		return accord_fail(e, ACCORD_EINVAL, "$.record: %s",
				   s->record ? "expected an object" : "missing");
	return 0;
}

static void disclosed_done(node *n, struct op *op, int rc, const accord_error *e)
{
	node_reply r;

	if (rc != 0) {
		reply_error(op->reply, op->reply_arg, 503, "the disclosure could not be "
			    "audited, so nothing was sent: %s", accord_error_msg(e));
		return;
	}
	n->m.disclosed++;
	node_metric_disclosure(n, op->entry.to, op->entry.purpose, "disclosed",
			       node_monotonic() - op->t0);
	r = (node_reply){ .status = 202, .bytes = op->answer_text, .len = op->answer_len,
			  .content_type = "application/json" };
	op->reply(&r, op->reply_arg);
	node_outbox_kick(n, 0);
}

static void refused_done(node *n, struct op *op, int rc, const accord_error *e)
{
	if (rc != 0) {
		reply_error(op->reply, op->reply_arg, 503, "refused, and the refusal could not "
			    "be audited: %s", accord_error_msg(e));
		return;
	}
	n->m.refused++;
	node_metric_disclosure(n, op->entry.to ? op->entry.to : "?",
			       op->entry.purpose ? op->entry.purpose : "?", "refused",
			       node_monotonic() - op->t0);
	reply_json(op->reply, op->reply_arg, 403, json_incref(op->answer));
}

static int disclosed_put(node *n, MDB_txn *txn, struct op *op, accord_error *e)
{
	int rc = state_outbox_put(n->sb, txn, op->id, op->outbox, e);

	if (rc == 0 && op->case_item)
		rc = state_case_put(n->sb, txn, op->case_item, e);
	return rc;
}

static struct op *new_op(node *n, int event, node_reply_fn fn, void *arg)
{
	struct op *op = calloc(1, sizeof *op);

	if (!op)
		return NULL;
	op->entry.event = event;
	op->t0 = node_monotonic();
	op->reply = fn;
	op->reply_arg = arg;
	node_entry_protocol(n, &op->entry);
	return op;
}

/* Audit a refusal of a local request, then answer 403 with the reason:
 * escaped, since a reason cut short inside a character is no JSON string,
 * and without one neither the answer nor the audit entry could be made. */
static void refuse(node *n, const struct node_submit_req *s, const policy_decision *d,
		   const char *reason, node_reply_fn fn, void *arg)
{
	struct op *op = new_op(n, AUDIT_REFUSED, fn, arg);
	char text[512];

	node_text(text, sizeof text, "%s", reason);
	if (!op) {
		reply_error(fn, arg, 503, "out of memory");
		return;
	}
	op->entry.outcome = AUDIT_DENIED;
	op->entry.from = n->cf.partner;
	op->entry.to = s->to;
	op->entry.purpose = s->purpose;
	op->entry.record_type = s->type;
	op->entry.rule_id = d && d->rule ? d->rule->id : NULL;
	op->entry.actor = s->actor;
	op->entry.reason = text;
	op->answer = json_pack("{s:s, s:s, s:s?}", "error", text, "refusal",
			       d ? policy_refusal_name(d->refusal) : "not-in-force",
			       "rule", d && d->rule ? d->rule->id : NULL);
	op->done = refused_done;
	if (!op->answer || node_op_own_strings(op) != 0) {
		node_op_free(op);
		reply_error(fn, arg, 503, "out of memory");
		return;
	}
	node_enqueue(n, op);
}

/* A new message id: 6 bytes of the clock in milliseconds (big-endian),
 * then 10 random bytes. Ids sort by time, so the outbox, the pending index
 * and a receiver's inbox, all keyed by id, are written near their end
 * rather than at a random page each; 80 random bits keep them unguessable
 * and unique. The random bytes are drawn from OpenSSL a pool at a time:
 * one call costs about as much as the bytes of a few hundred ids. */
static int new_message_id(node *n, uint8_t id[STATE_ID_LEN])
{
	const size_t k = STATE_ID_LEN - 6;
	uint64_t ms = (uint64_t)node_now_ms();

	if (n->id_pool_used + k > sizeof n->id_pool) {
		if (crypto_random(n->id_pool, sizeof n->id_pool) != 0)
			return ACCORD_ECRYPTO;
		n->id_pool_used = 0;
	}
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (8 * (5 - i)));
	memcpy(id + 6, n->id_pool + n->id_pool_used, k);
	OPENSSL_cleanse(n->id_pool + n->id_pool_used, k);
	n->id_pool_used += k;
	return 0;
}

/* The envelope around a minimised record, packed into op->outbox. */
static int seal(node *n, struct op *op, const struct node_submit_req *s,
		const policy_decision *d, const ProtobufCMessage *min, const ProtobufCMessage *rec)
{
	Accord__Envelope__Envelope env = ACCORD__ENVELOPE__ENVELOPE__INIT;
	const protocol *p = n->proto;
	size_t rlen = protobuf_c_message_get_packed_size(min);
	uint8_t *rbytes = malloc(rlen ? rlen : 1);
	state_outbox_item *o;
	int rc = ACCORD_ENOMEM;

	if (!rbytes)
		return rc;
	protobuf_c_message_pack(min, rbytes);
	if (new_message_id(n, op->id) != 0 ||
	    crypto_sha256(rbytes, rlen, op->entry.record_sha256) != 0)
		goto out;
	op->entry.has_record_sha256 = true;
	crypto_hex(op->id, sizeof op->id, op->id_hex);
	env.message_id = (ProtobufCBinaryData){ sizeof op->id, op->id };
	env.protocol_id = (char *)protocol_id(p);
	env.protocol_version = (uint64_t)protocol_version(p);
	env.protocol_digest = (ProtobufCBinaryData){ CRYPTO_SHA256_LEN,
						     (uint8_t *)protocol_digest(p) };
	env.rule_id = (char *)d->rule->id;
	env.purpose = (char *)s->purpose;
	env.sender = n->cf.partner;
	env.recipient = (char *)s->to;
	env.created_at = node_now_ms() / 1000;
	env.record_type = (char *)s->type;
	env.record = (ProtobufCBinaryData){ rlen, rbytes };
	o = calloc(1, sizeof *o);
	if (!o)
		goto out;
	accord__state__outbox_item__init(o);
	op->outbox = o;
	o->envelope.len = protobuf_c_message_get_packed_size(&env.base);
	o->envelope.data = malloc(o->envelope.len);
	o->recipient = strdup(s->to);
	o->rule_id = strdup(d->rule->id);
	o->record_type = strdup(s->type);
	o->purpose = strdup(s->purpose);
	o->record_sha256.data = malloc(CRYPTO_SHA256_LEN);
	if (!o->envelope.data || !o->recipient || !o->rule_id || !o->record_type ||
	    !o->purpose || !o->record_sha256.data)
		goto out;
	memcpy(o->record_sha256.data, op->entry.record_sha256, CRYPTO_SHA256_LEN);
	o->record_sha256.len = CRYPTO_SHA256_LEN;
	protobuf_c_message_pack(&env.base, o->envelope.data);
	o->state = ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING;
	o->created_ms = node_now_ms();
	o->next_attempt_ms = o->created_ms;
	op->entry.has_subject = node_subject(n, rec, op->entry.subject);
	rc = node_case_next(n, rec, n->cf.partner, s->to,
			    op->entry.has_subject ? op->entry.subject : NULL, &op->case_item);
out:
	free(rbytes);
	return rc;
}

static int answer_strings(FILE *f, const char *key, const char *const *v, size_t n)
{
	int rc = 0;

	fprintf(f, ",\"%s\":[", key);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (i)
			fputc_unlocked(',', f);
		rc = record_json_put_string(f, v[i]);
	}
	fputc_unlocked(']', f);
	return rc;
}

/*
 * The 202's body, {"message_id", "rule", "shared": [paths], "withheld":
 * [paths]}, written out here rather than built of jansson values and
 * dumped: some 45 strings a referral, each allocated, checked and escaped
 * a character at a time, took about 7% of the sending node's CPU.
 */
static int disclosed_answer(struct op *op, const protocol_rule *r, const record_withheld *w)
{
	FILE *f = open_memstream(&op->answer_text, &op->answer_len);
	int rc;

	if (!f)
		return ACCORD_ENOMEM;
	fputs_unlocked("{\"message_id\":", f);
	rc = record_json_put_string(f, op->id_hex);
	fputs_unlocked(",\"rule\":", f);
	rc |= record_json_put_string(f, r->id);
	rc |= answer_strings(f, "shared", r->fields, r->n_fields);
	rc |= answer_strings(f, "withheld", w->paths, w->n);
	fputc_unlocked('}', f);
	if (fclose(f) != 0 || rc != 0) {
		free(op->answer_text);
		op->answer_text = NULL;
		return ACCORD_ENOMEM;
	}
	return 0;
}

static void disclose(node *n, const struct node_submit_req *s, const policy_decision *d,
		     const ProtobufCMessage *rec, node_reply_fn fn, void *arg)
{
	struct op *op = new_op(n, AUDIT_DISCLOSED, fn, arg);
	ProtobufCMessage *min = NULL;
	record_withheld w;
	accord_error e = { 0 };
	const protocol_rule *r = d->rule;

	if (!op || record_minimise(d->selection, rec, &min, &w, &e) != 0 ||
	    seal(n, op, s, d, min, rec) != 0) {
		reply_error(fn, arg, 503, "cannot prepare the disclosure: %s",
			    e.msg[0] ? e.msg : "out of memory");
		goto fail;
	}
	op->entry.outcome = AUDIT_SUCCESS;
	op->entry.rule_id = r->id;
	op->entry.purpose = s->purpose;
	op->entry.from = n->cf.partner;
	op->entry.to = s->to;
	op->entry.record_type = s->type;
	op->entry.disclosed = r->fields;
	op->entry.n_disclosed = r->n_fields;
	op->entry.withheld = w.paths;
	op->entry.n_withheld = w.n;
	op->entry.message_id = op->id_hex;
	op->entry.actor = s->actor;
	if (disclosed_answer(op, r, &w) != 0 || node_op_own_strings(op) != 0)
		goto oom;
	op->put = disclosed_put;
	op->done = disclosed_done;
	record_free(min);
	node_enqueue(n, op);
	return;
oom:
	reply_error(fn, arg, 503, "out of memory");
fail:
	record_free(min);
	node_op_free(op);
}

void node_submit(node *n, const char *body, size_t len, node_reply_fn fn, void *arg)
{
	cJSON *req = NULL;
	struct node_submit_req s = { 0 };
	accord_error e = { 0 };
	ProtobufCMessage *rec = NULL, *consent = NULL;
	const ProtobufCMessageDescriptor *d;
	state_case_item *c = NULL;
	policy_decision dec;

	if (record_json_parse(body, len, &req, &e) != 0) {
		if (e.code == ACCORD_ENOMEM)
			reply_error(fn, arg, 503, "out of memory");
		else
			reply_error(fn, arg, 422, "the body is %s", e.msg);
		return;
	}
	if (node_submit_parse(req, &s, &e) != 0) {
		reply_error(fn, arg, 422, "%s", e.msg);
		goto out;
	}
	d = record_type_find(s.type);
	if (!d) {
		reply_error(fn, arg, 422, "$.record_type: '%s' is not a record type", s.type);
		goto out;
	}
	if (record_from_json(d, s.record, &rec, &e) != 0) {
		/* "$.x: why" from the record's root, or a reason about the whole */
		reply_error(fn, arg, 422, "$.record%s%s", e.msg[0] == '$' ? "" : ": ",
			    e.msg[0] == '$' ? e.msg + 1 : e.msg);
		goto out;
	}
	if (n->broken || n->stopping) {
		reply_error(fn, arg, 503, n->stopping ? "the node is stopping; send it again "
			    "when it is back" : NODE_BROKEN_WHY);
		goto out;
	}
	if (!node_protocol(n)) {
		char why[700];

		snprintf(why, sizeof why, "no protocol in force, so nothing is shared: %s",
			 n->refusal);
		refuse(n, &s, NULL, why, fn, arg);
		goto out;
	}
	c = node_case_find(n, n->cf.partner, s.to, node_referral_id(rec));
	consent = node_case_consent(c);
	{
		policy_request rq = {
			.from = n->cf.partner, .to = s.to, .purpose = s.purpose,
			.record_type = s.type, .record = rec, .day = date_today(),
			.case_state = node_case_state(c), .case_consent = consent,
		};

		/* 0 allowed, ACCORD_EREFUSED refused: dec says which and why. */
		if (policy_decide(n->pol, &rq, &dec) != 0 && dec.refusal == POLICY_ALLOWED) {
			reply_error(fn, arg, 503, "the decision failed");
			goto out;
		}
	}
	if (dec.refusal != POLICY_ALLOWED)
		refuse(n, &s, &dec, dec.reason, fn, arg);
	else
		disclose(n, &s, &dec, rec, fn, arg);
out:
	record_free(consent);
	state_free(c);
	record_free(rec);
	cJSON_Delete(req);
}
