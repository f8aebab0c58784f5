/*
 * node_outbox.c - delivering the outbox.
 *
 * The outbox in LMDB is the only source of deliveries: an envelope is there
 * only once its DISCLOSED entry is durable. A timer wakes the outbox; each
 * pending item due is posted to its recipient (courier.c). A receipt is
 * checked (signature, and its checkpoint against the one we hold of that
 * partner) and then audited DELIVERED with the item's new state and the new
 * checkpoint, in one transaction. Failures are retried with exponential
 * backoff and jitter; a refusal by the receiver is final and audited; a
 * receiver whose log shrank or forked is audited PEER_INCONSISTENT and its
 * deliveries are paused.
 */
#include <event2/event.h>

#include "accord/receipt.h"
#include "accord/witness.h"
#include "node_int.h"

/* One post in flight. */
struct flight {
	struct flight *next;
	node *n;
	uint8_t id[STATE_ID_LEN];
	state_outbox_item *item;       /* owned */
	Accord__Envelope__Envelope *env; /* owned, unpacked from item */
	uint8_t peer_key[CRYPTO_SHA256_LEN];
	/* The receiver's checkpoint held when the envelope left: its
	 * witness_size, so the receipt's proof starts from this one. */
	witness_checkpoint held;
	bool has_held;
};

static void flight_free(struct flight *f)
{
	if (!f)
		return;
	state_free(f->item);
	witness_checkpoint_free(&f->held);
	if (f->env)
		protobuf_c_message_free_unpacked(&f->env->base, NULL);
	free(f);
}

static void settle_done(node *n, struct op *op, int rc, const accord_error *e);

/* Whether item id is being posted, or its outcome waits for this turn's
 * commit (the outbox in the store still says pending then). */
static bool in_flight(node *n, const uint8_t id[STATE_ID_LEN])
{
	for (struct flight *f = n->flights; f; f = f->next)
		if (memcmp(f->id, id, STATE_ID_LEN) == 0)
			return true;
	for (struct op *op = n->ops; op; op = op->next)
		if (op->done == settle_done && memcmp(op->id, id, STATE_ID_LEN) == 0)
			return true;
	return false;
}

static void land(struct flight *f)
{
	for (struct flight **pp = &f->n->flights; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	f->n->in_flight--;
}

/* ---- after the answer -------------------------------------------------------- */

static int settle_put(node *n, MDB_txn *txn, struct op *op, accord_error *e)
{
	int rc = state_outbox_put(n->sb, txn, op->id, op->outbox, e);

	/* op->answer holds the receiver's checkpoint to keep, if any. */
	if (rc == 0 && json_is_string(op->answer))
		rc = witness_put_txn(n->wit, txn, op->outbox->recipient,
				     json_string_value(op->answer), e);
	return rc;
}

static void settle_done(node *n, struct op *op, int rc, const accord_error *e)
{
	if (rc != 0)
		node_log(n, "the outcome of delivery %s could not be recorded, it will be "
			 "tried again: %s", op->id_hex, accord_error_msg(e));
	else if (op->entry.event == AUDIT_DELIVERED && op->entry.outcome == AUDIT_SUCCESS)
		n->m.delivered++;
	node_outbox_kick(n, 0);
}

/* Audit an outcome (DELIVERED, refused by the receiver, PEER_INCONSISTENT)
 * with the item's new state, in one transaction; note: a checkpoint of the
 * receiver's to hold from now on. */
static void settle(node *n, struct flight *f, int event, int outcome, const char *reason,
		   const char *note)
{
	struct op *op = calloc(1, sizeof *op);

	if (!op) {
		node_log(n, "out of memory recording a delivery's outcome");
		return;
	}
	memcpy(op->id, f->id, STATE_ID_LEN);
	crypto_hex(f->id, STATE_ID_LEN, op->id_hex);
	node_entry_protocol(n, &op->entry);
	op->entry.event = event;
	op->entry.outcome = outcome;
	op->entry.reason = reason;
	op->entry.from = n->cf.partner;
	op->entry.to = f->item->recipient;
	op->entry.rule_id = f->item->rule_id;
	op->entry.purpose = f->env->purpose;
	op->entry.record_type = f->item->record_type;
	op->entry.message_id = op->id_hex;
	op->entry.actor = "accordd";
	op->entry.has_peer_key = true;
	memcpy(op->entry.peer_key, f->peer_key, CRYPTO_SHA256_LEN);
	op->entry.has_record_sha256 = crypto_sha256(f->env->record.data, f->env->record.len,
						    op->entry.record_sha256) == 0;
	op->outbox = f->item;
	f->item = NULL;
	op->answer = note ? json_string(note) : NULL;
	op->put = settle_put;
	op->done = settle_done;
	if (node_op_own_strings(op) != 0 || (note && !op->answer)) {
		node_log(n, "out of memory recording a delivery's outcome");
		node_op_free(op);
		return;
	}
	node_enqueue(n, op);
}

struct item_write {
	node *n;
	const uint8_t *id;
	const state_outbox_item *item;
};

static int item_put(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct item_write *w = ctx;

	return state_outbox_put(w->n->sb, txn, w->id, w->item, e);
}

/* Not delivered this time: count, back off, keep it pending. No audit:
 * trying discloses nothing. */
static void retry_later(node *n, struct flight *f, const char *why)
{
	state_outbox_item *it = f->item;
	long cap = n->cf.retry_max_ms, delay = n->cf.retry_initial_ms;
	struct item_write w = { n, f->id, it };
	accord_error e = { 0 };
	uint32_t r = 0;

	for (uint32_t i = 0; i < it->attempts && delay < cap; i++)
		delay *= 2;
	if (delay > cap)
		delay = cap;
	/* Jitter over the upper half, so partners' retries spread out. */
	if (crypto_random(&r, sizeof r) == 0)
		delay = delay / 2 + (long)(r % (uint32_t)(delay / 2 + 1));
	it->attempts++;
	it->next_attempt_ms = node_now_ms() + delay;
	if (it->last_error != protobuf_c_empty_string)
		free(it->last_error);
	it->last_error = strdup(why);     /* NULL (empty) when out of memory */
	n->m.delivery_failures++;
	node_log(n, "delivery to %s failed (attempt %u, next in %ld ms): %s",
		 it->recipient, it->attempts, delay, why);
	if (store_write(n->st, item_put, &w, &e) != 0)
		node_log(n, "cannot record the retry: %s", accord_error_msg(&e));
	node_outbox_kick(n, delay);
}

/*
 * Which checkpoint of the receiver's to hold after a receipt that passed
 * receipt_check against f->held, the one held when the envelope left: the
 * receipt's proof links its checkpoint to that one only. Deliveries run
 * concurrently, so another receipt may have moved the held checkpoint on
 * meanwhile; no proof links the two then, and nothing new is held (the
 * next delivery's proof starts from the one held). Two checkpoints of the
 * same size with different roots are a fork: ACCORD_EINCONSISTENT.
 */
static int next_held(node *n, const char *partner, const struct flight *f,
		     const receipt_info *info, const char **hold, accord_error *e)
{
	witness_checkpoint cur = { 0 };
	bool have = witness_get(n->wit, partner, &cur, NULL) == 0;
	int rc = 0;

	*hold = NULL;
	if (have == f->has_held && (!have || (cur.size == f->held.size &&
			memcmp(cur.root, f->held.root, AUDIT_HASH_LEN) == 0))) {
		if (info->advances)
			*hold = info->checkpoint.note;
	} else if (have && info->checkpoint.size == cur.size &&
		   memcmp(info->checkpoint.root, cur.root, AUDIT_HASH_LEN) != 0) {
		rc = accord_fail(e, ACCORD_EINCONSISTENT, "the audit log of '%s' forked: "
				 "its receipt's checkpoint at size %llu has another root than "
				 "the one held at that size", partner,
				 (unsigned long long)cur.size);
	}
	witness_checkpoint_free(&cur);
	return rc;
}

/* The answer to one post. */
static void on_answer(const courier_result *r, void *arg)
{
	struct flight *f = arg;
	node *n = f->n;
	const protocol *p = node_protocol(n);
	const protocol_partner *to = p ? protocol_partner_find(p, f->item->recipient) : NULL;
	const char *hold = NULL;
	receipt_info info = { 0 };
	accord_error e = { 0 };
	char why[600];

	land(f);
	if (r->status == 0 || r->status >= 500 || r->status == 429 || !to) {
		snprintf(why, sizeof why, "%s", !to ? "the recipient is not a partner of the "
			 "protocol in force" : r->error ? r->error : "the receiver is unavailable");
		if (r->status >= 500)
			snprintf(why, sizeof why, "the receiver answered %ld: %.*s", r->status,
				 (int)(r->len < 300 ? r->len : 300), (const char *)r->body);
		retry_later(n, f, why);
		goto out;
	}
	if (r->status != 200) {
		snprintf(why, sizeof why, "refused by %s (%ld): %.*s", f->item->recipient,
			 r->status, (int)(r->len < 400 ? r->len : 400), (const char *)r->body);
		f->item->state = ACCORD__STATE__OUTBOX_ITEM__STATE__REFUSED;
		f->item->done_ms = node_now_ms();
		settle(n, f, AUDIT_DELIVERED, AUDIT_DENIED, why, NULL);
		goto out;
	}
	{
		uint8_t digest[CRYPTO_SHA256_LEN];
		receipt_expect x = {
			.message_id = f->id, .id_len = STATE_ID_LEN, .record_digest = digest,
			.receiver = to->id, .receiver_key = to->signing_key,
			.held = f->has_held ? &f->held : NULL,
		};

		if (crypto_sha256(f->env->record.data, f->env->record.len, digest) != 0 ||
		    receipt_check(r->body, r->len, &x, &info, &e) != 0 ||
		    next_held(n, to->id, f, &info, &hold, &e) != 0) {
			if (e.code == ACCORD_EINCONSISTENT) {
				f->item->state = ACCORD__STATE__OUTBOX_ITEM__STATE__PAUSED;
				settle(n, f, AUDIT_PEER_INCONSISTENT, AUDIT_FAILURE,
				       accord_error_msg(&e), NULL);
				node_log(n, "PARTNER %s IS INCONSISTENT, its deliveries are "
					 "paused: %s", to->id, accord_error_msg(&e));
			} else {
				retry_later(n, f, accord_error_msg(&e));
			}
			goto out;
		}
	}
	f->item->state = ACCORD__STATE__OUTBOX_ITEM__STATE__DELIVERED;
	f->item->done_ms = node_now_ms();
	free(f->item->receipt.data);
	f->item->receipt.data = malloc(r->len);
	f->item->receipt.len = f->item->receipt.data ? r->len : 0;
	if (f->item->receipt.data)
		memcpy(f->item->receipt.data, r->body, r->len);
	settle(n, f, AUDIT_DELIVERED, AUDIT_SUCCESS, NULL, hold);
out:
	receipt_info_free(&info);
	flight_free(f);
}

/* ---- sending ------------------------------------------------------------------ */

/* The items due in one wake, collected while the outbox is read and posted
 * after: nothing else may open a read transaction during the iteration. */
struct scan {
	node *n;
	int64_t now, next;           /* the earliest future attempt seen */
	size_t n_due;
	struct due {
		uint8_t id[STATE_ID_LEN];
		state_outbox_item *item;
	} due[NODE_MAX_IN_FLIGHT];
};

/* Post one item (it is taken over). */
static void post(node *n, const uint8_t id[STATE_ID_LEN], state_outbox_item *it)
{
	const protocol *p = n->proto;
	const protocol_partner *to = p ? protocol_partner_find(p, it->recipient) : NULL;
	struct flight *f;
	uint8_t *bytes;
	size_t len;
	char url[600];

	if (!to || !to->endpoint || !(f = calloc(1, sizeof *f))) {
		state_free(it);
		return;
	}
	f->n = n;
	memcpy(f->id, id, STATE_ID_LEN);
	memcpy(f->peer_key, to->tls_spki_sha256, CRYPTO_SHA256_LEN);
	f->item = it;
	f->env = accord__envelope__envelope__unpack(NULL, it->envelope.len, it->envelope.data);
	if (!f->env) {
		flight_free(f);
		return;
	}
	/* Tell the receiver which of its checkpoints we hold, for its proof. */
	f->has_held = witness_get(n->wit, to->id, &f->held, NULL) == 0;
	if (f->has_held)
		f->env->witness_size = f->held.size;
	len = accord__envelope__envelope__get_packed_size(f->env);
	bytes = malloc(len);
	snprintf(url, sizeof url, "%s/v1/envelopes", to->endpoint);
	if (!bytes) {
		flight_free(f);
		return;
	}
	accord__envelope__envelope__pack(f->env, bytes);
	if (courier_post(n->cr, url, to->tls_spki_sha256, "application/x-protobuf", bytes,
			 len, on_answer, f) != 0) {
		flight_free(f);
	} else {
		f->next = n->flights;
		n->flights = f;
		n->in_flight++;
	}
	free(bytes);
}

/* A copy of an item the iteration will free. */
static int copy_item(const state_outbox_item *it, state_outbox_item **out)
{
	size_t len = protobuf_c_message_get_packed_size(&it->base);
	uint8_t *bytes = malloc(len ? len : 1);

	*out = NULL;
	if (!bytes)
		return ACCORD_ENOMEM;
	protobuf_c_message_pack(&it->base, bytes);
	*out = (state_outbox_item *)protobuf_c_message_unpack(
		&accord__state__outbox_item__descriptor, NULL, len, bytes);
	free(bytes);
	return *out ? 0 : ACCORD_ENOMEM;
}

static int scan_item(const uint8_t id[STATE_ID_LEN], const state_outbox_item *it, void *ctx)
{
	struct scan *sc = ctx;

	if (it->state != ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING || in_flight(sc->n, id))
		return 0;
	if (it->next_attempt_ms > sc->now) {
		if (sc->next == 0 || it->next_attempt_ms < sc->next)
			sc->next = it->next_attempt_ms;
		return 0;
	}
	if (sc->n->in_flight + sc->n_due >= NODE_MAX_IN_FLIGHT) {
		sc->next = sc->now + 50;
		return 1;
	}
	if (copy_item(it, &sc->due[sc->n_due].item) != 0)
		return 1;    /* out of memory: try the rest at the next wake */
	memcpy(sc->due[sc->n_due].id, id, STATE_ID_LEN);
	sc->n_due++;
	return 0;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	node *n = arg;
	struct scan sc = { .n = n, .now = node_now_ms() };
	accord_error e = { 0 };
	int rc;

	if (!node_protocol(n) || n->stopping)
		return;    /* nothing leaves without a protocol in force */
	rc = state_outbox_each_pending(n->sb, scan_item, &sc, &e);
	if (rc < 0)
		node_log(n, "cannot read the outbox: %s", accord_error_msg(&e));
	for (size_t i = 0; i < sc.n_due; i++)
		post(n, sc.due[i].id, sc.due[i].item);
	if (sc.next)
		node_outbox_kick(n, (long)(sc.next - node_now_ms()));
}

void node_outbox_kick(node *n, long delay_ms)
{
	int64_t at;
	struct timeval tv;

	if (delay_ms < 0)
		delay_ms = 0;
	at = node_now_ms() + delay_ms;
	/* Keep an earlier wake: it rescans and reschedules. */
	if (evtimer_pending(n->deliver_ev, NULL) && n->wake_at_ms <= at)
		return;
	n->wake_at_ms = at;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(n->deliver_ev, &tv);
}

int node_outbox_start(node *n, accord_error *e)
{
	n->deliver_ev = evtimer_new(n->base, on_wake, n);
	if (!n->deliver_ev)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	node_outbox_kick(n, 0);
	return 0;
}

void node_outbox_stop(node *n)
{
	while (n->flights) {
		struct flight *f = n->flights;

		n->flights = f->next;
		flight_free(f);
	}
	n->in_flight = 0;
}
