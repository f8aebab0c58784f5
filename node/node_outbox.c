/*
 * node_outbox.c - delivering the outbox.
 *
 * The outbox in LMDB is the only source of deliveries: an envelope is there
 * only once its DISCLOSED entry is durable. A timer wakes the outbox; the
 * pending items due are posted to their recipients (courier.c), many
 * envelopes in one Delivery, one post at a time to each partner, so that
 * each receipt's checkpoint is checked against the one held just before.
 * Each envelope's receipt is checked (its batch's signature, and its
 * checkpoint against the one we hold of that partner) and then audited
 * DELIVERED with the item's new state and the new checkpoint, all in the
 * loop turn's commit. Failures are retried with exponential backoff and
 * jitter; a refusal by the receiver is final and audited; a receiver whose
 * log shrank or forked is audited PEER_INCONSISTENT and its deliveries are
 * paused.
 */
#include <event2/event.h>

#include "accord/receipt.h"
#include "accord/witness.h"
#include "node_int.h"

#define DELIVERY_BATCH 512                       /* envelopes in one post */
#define DELIVERY_BATCH_BYTES ((size_t)4 << 20)   /* their bytes, at most */

/* ---- the ids being delivered ------------------------------------------------- */

/*
 * The ids posted and not yet settled (in flight, or their outcome waiting
 * for the turn's commit: the store still says pending then). Open
 * addressing with linear probing over random ids; removal shifts back the
 * entries after it, so no tombstones. IDSET_CAP is a power of two, twice
 * NODE_MAX_IN_FLIGHT at least.
 */
#define IDSET_CAP 8192

struct idset {
	size_t n;
	bool used[IDSET_CAP];
	uint8_t id[IDSET_CAP][STATE_ID_LEN];
};

static size_t slot_of(const uint8_t id[STATE_ID_LEN])
{
	size_t h = 0;

	/* The random end of the id (its start is the clock). */
	for (size_t i = STATE_ID_LEN - 4; i < STATE_ID_LEN; i++)
		h = h << 8 | id[i];
	return h & (IDSET_CAP - 1);
}

static bool busy(const struct idset *s, const uint8_t id[STATE_ID_LEN])
{
	for (size_t i = slot_of(id); s->used[i]; i = (i + 1) & (IDSET_CAP - 1))
		if (memcmp(s->id[i], id, STATE_ID_LEN) == 0)
			return true;
	return false;
}

static void busy_add(struct idset *s, const uint8_t id[STATE_ID_LEN])
{
	size_t i = slot_of(id);

	while (s->used[i])
		i = (i + 1) & (IDSET_CAP - 1);
	s->used[i] = true;
	memcpy(s->id[i], id, STATE_ID_LEN);
	s->n++;
}

static void busy_remove(struct idset *s, const uint8_t id[STATE_ID_LEN])
{
	size_t i = slot_of(id), j;

	while (s->used[i] && memcmp(s->id[i], id, STATE_ID_LEN) != 0)
		i = (i + 1) & (IDSET_CAP - 1);
	if (!s->used[i])
		return;
	s->used[i] = false;
	s->n--;
	/* Move back each later entry of the run that may now be unreachable. */
	for (j = (i + 1) & (IDSET_CAP - 1); s->used[j]; j = (j + 1) & (IDSET_CAP - 1)) {
		size_t home = slot_of(s->id[j]);

		if (((j - home) & (IDSET_CAP - 1)) >= ((j - i) & (IDSET_CAP - 1))) {
			memcpy(s->id[i], s->id[j], STATE_ID_LEN);
			s->used[i] = true;
			s->used[j] = false;
			i = j;
		}
	}
}

/* ---- a post in flight ------------------------------------------------------------ */

/* One envelope of a post. */
struct parcel {
	uint8_t id[STATE_ID_LEN];
	char id_hex[2 * STATE_ID_LEN + 1];
	state_outbox_item *item;           /* owned */
	char purpose[PROTOCOL_MAX_ID + 1]; /* the envelope's */
	uint8_t digest[CRYPTO_SHA256_LEN]; /* of its record bytes */
};

/* One post to one partner. */
struct flight {
	struct flight *next;
	node *n;
	char recipient[PROTOCOL_MAX_ID + 1];
	uint8_t peer_key[CRYPTO_SHA256_LEN];
	/* The receiver's checkpoint held when the envelopes left: their
	 * witness_size, so the receipts' proofs start from this one. */
	witness_checkpoint held;
	bool has_held;
	size_t n_parcels;
	struct parcel parcels[];
};

static void parcel_clear(struct parcel *p)
{
	state_free(p->item);
	p->item = NULL;
}

/* The parcel's purpose and record digest: kept in the item, or read from
 * its envelope (an item written before they were kept). */
static bool parcel_facts(struct parcel *p)
{
	const state_outbox_item *it = p->item;
	Accord__Envelope__Envelope *env;
	bool ok;

	if (it->purpose[0] && it->record_sha256.len == CRYPTO_SHA256_LEN) {
		snprintf(p->purpose, sizeof p->purpose, "%s", it->purpose);
		memcpy(p->digest, it->record_sha256.data, CRYPTO_SHA256_LEN);
		return true;
	}
	env = accord__envelope__envelope__unpack(NULL, it->envelope.len, it->envelope.data);
	ok = env && crypto_sha256(env->record.data, env->record.len, p->digest) == 0;
	if (ok)
		snprintf(p->purpose, sizeof p->purpose, "%s", env->purpose);
	if (env)
		protobuf_c_message_free_unpacked(&env->base, NULL);
	return ok;
}

static void flight_free(struct flight *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_parcels; i++)
		parcel_clear(&f->parcels[i]);
	witness_checkpoint_free(&f->held);
	free(f);
}

static void land(struct flight *f)
{
	for (struct flight **pp = &f->n->flights; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	f->n->in_flight -= f->n_parcels;
}

static size_t flights(const node *n)
{
	size_t k = 0;

	for (const struct flight *f = n->flights; f; f = f->next)
		k++;
	return k;
}

static bool flying_to(const node *n, const char *partner)
{
	for (const struct flight *f = n->flights; f; f = f->next)
		if (strcmp(f->recipient, partner) == 0)
			return true;
	return false;
}

/* ---- after the answer ------------------------------------------------------------ */

static int settle_put(node *n, MDB_txn *txn, struct op *op, accord_error *e)
{
	int rc = state_outbox_put(n->sb, txn, op->id, op->outbox, e);

	if (rc == 0 && op->peer_note)
		rc = witness_put_txn(n->wit, txn, op->outbox->recipient, op->peer_note, e);
	return rc;
}

static void settle_done(node *n, struct op *op, int rc, const accord_error *e)
{
	busy_remove(n->busy, op->id);
	if (rc != 0 && !n->broken)
		node_log(n, "the outcome of delivery %s could not be recorded, it will be "
			 "tried again: %s", op->id_hex, accord_error_msg(e));
	else if (op->entry.event == AUDIT_DELIVERED && op->entry.outcome == AUDIT_SUCCESS)
		n->m.delivered++;
	node_outbox_kick(n, 0);
}

/* Audit an outcome (DELIVERED, refused by the receiver, PEER_INCONSISTENT)
 * with the item's new state, in the turn's commit; note: a checkpoint of
 * the receiver's to hold from now on. The parcel's item is taken; its id
 * stays busy until the commit. */
static void settle(node *n, struct flight *f, struct parcel *p, int event, int outcome,
		   const char *reason, const char *note)
{
	struct op *op = calloc(1, sizeof *op);

	if (!op) {
		node_log(n, "out of memory recording a delivery's outcome");
		busy_remove(n->busy, p->id);
		return;
	}
	memcpy(op->id, p->id, STATE_ID_LEN);
	memcpy(op->id_hex, p->id_hex, sizeof op->id_hex);
	node_entry_protocol(n, &op->entry);
	op->entry.event = event;
	op->entry.outcome = outcome;
	op->entry.reason = reason;
	op->entry.from = n->cf.partner;
	op->entry.to = p->item->recipient;
	op->entry.rule_id = p->item->rule_id;
	op->entry.purpose = p->purpose;
	op->entry.record_type = p->item->record_type;
	op->entry.message_id = op->id_hex;
	op->entry.actor = "accordd";
	op->entry.has_peer_key = true;
	memcpy(op->entry.peer_key, f->peer_key, CRYPTO_SHA256_LEN);
	op->entry.has_record_sha256 = true;
	memcpy(op->entry.record_sha256, p->digest, CRYPTO_SHA256_LEN);
	op->outbox = p->item;
	p->item = NULL;
	op->peer_note = note ? strdup(note) : NULL;
	op->put = settle_put;
	op->done = settle_done;
	if (node_op_own_strings(op) != 0 || (note && !op->peer_note)) {
		node_log(n, "out of memory recording a delivery's outcome");
		busy_remove(n->busy, op->id);
		node_op_free(op);
		return;
	}
	node_enqueue(n, op);
}

/* The parcels to retry, written in one transaction. */
struct retry_write {
	node *n;
	struct parcel **p;
	size_t count;
};

static int retry_put(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct retry_write *w = ctx;

	for (size_t i = 0; i < w->count; i++) {
		int rc = state_outbox_put(w->n->sb, txn, w->p[i]->id, w->p[i]->item, e);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Not delivered this time: count, back off, keep them pending. No audit:
 * trying discloses nothing. why[i] says why for p[i]. */
static void retry_later(node *n, struct parcel **p, const char *const *why, size_t count)
{
	long cap = n->cf.retry_max_ms, soonest = cap;
	struct retry_write w = { n, p, count };
	accord_error e = { 0 };

	for (size_t i = 0; i < count; i++) {
		state_outbox_item *it = p[i]->item;
		long delay = n->cf.retry_initial_ms;
		uint32_t r = 0;

		for (uint32_t k = 0; k < it->attempts && delay < cap; k++)
			delay *= 2;
		if (delay > cap)
			delay = cap;
		/* Jitter over the upper half, so partners' retries spread out. */
		if (crypto_random(&r, sizeof r) == 0)
			delay = delay / 2 + (long)(r % (uint32_t)(delay / 2 + 1));
		soonest = delay < soonest ? delay : soonest;
		it->attempts++;
		it->next_attempt_ms = node_now_ms() + delay;
		if (it->last_error != protobuf_c_empty_string)
			free(it->last_error);
		it->last_error = strdup(why[i]);   /* NULL (empty) when out of memory */
		n->m.delivery_failures++;
		if (i == 0 || why[i] != why[i - 1])
			node_log(n, "delivery to %s failed (attempt %u, next in %ld ms): %s%s",
				 it->recipient, it->attempts, delay, why[i],
				 count > 1 ? " (and more of this post)" : "");
	}
	if (count && store_write(n->st, retry_put, &w, &e) != 0)
		node_log(n, "cannot record the retry: %s", accord_error_msg(&e));
	for (size_t i = 0; i < count; i++)
		busy_remove(n->busy, p[i]->id);
	if (count)
		node_outbox_kick(n, soonest);
}

/* What the receipts of one answer share: the verified batch signature,
 * the receiver's checkpoint held in the store (read once: nothing is
 * stored until the settlements commit), and the checkpoint they made us
 * hold so far. */
struct reading {
	receipt_cache cache;
	witness_checkpoint cur;
	bool have;
	char *held_note;
};

/*
 * Which checkpoint of the receiver's to hold after a receipt that passed
 * receipt_check against f->held, the one held when the envelopes left: the
 * receipt's proof links its checkpoint to that one only. If another
 * receipt moved the held checkpoint on meanwhile, no proof links the two,
 * and nothing new is held (the next delivery's proof starts from the one
 * held). Two checkpoints of the same size with different roots are a fork:
 * ACCORD_EINCONSISTENT.
 */
static int next_held(const char *partner, const struct flight *f, const struct reading *rd,
		     const receipt_info *info, const char **hold, accord_error *e)
{
	const witness_checkpoint *cur = &rd->cur;

	*hold = NULL;
	if (rd->have == f->has_held && (!rd->have || (cur->size == f->held.size &&
			memcmp(cur->root, f->held.root, AUDIT_HASH_LEN) == 0))) {
		if (info->advances)
			*hold = info->checkpoint.note;
	} else if (rd->have && info->checkpoint.size == cur->size &&
		   memcmp(info->checkpoint.root, cur->root, AUDIT_HASH_LEN) != 0) {
		return accord_fail(e, ACCORD_EINCONSISTENT, "the audit log of '%s' forked: "
				   "its receipt's checkpoint at size %llu has another root than "
				   "the one held at that size", partner,
				   (unsigned long long)cur->size);
	}
	return 0;
}

/* A parcel the receiver answered 200 with receipt: settled (DELIVERED, or
 * PEER_INCONSISTENT and paused) and true; false when the receipt does not
 * pass, with e saying why, to try again. */
static bool receipted(node *n, struct flight *f, struct parcel *p, const protocol_partner *to,
		      const uint8_t *receipt, size_t len, struct reading *rd, accord_error *e)
{
	receipt_expect x = {
		.message_id = p->id, .id_len = STATE_ID_LEN, .record_digest = p->digest,
		.receiver = to->id, .receiver_key = to->signing_key,
		.held = f->has_held ? &f->held : NULL,
	};
	receipt_info info = { 0 };
	const char *hold = NULL;

	if (receipt_check(receipt, len, &x, &rd->cache, &info, e) != 0 ||
	    next_held(to->id, f, rd, &info, &hold, e) != 0) {
		receipt_info_free(&info);
		if (e->code != ACCORD_EINCONSISTENT)
			return false;
		p->item->state = ACCORD__STATE__OUTBOX_ITEM__STATE__PAUSED;
		node_log(n, "PARTNER %s IS INCONSISTENT, its deliveries are paused: %s",
			 to->id, accord_error_msg(e));
		settle(n, f, p, AUDIT_PEER_INCONSISTENT, AUDIT_FAILURE, accord_error_msg(e), NULL);
		return true;
	}
	/* Receipts of one batch share their checkpoint: hold it once. */
	if (hold && rd->held_note && strcmp(hold, rd->held_note) == 0)
		hold = NULL;
	else if (hold) {
		free(rd->held_note);
		rd->held_note = strdup(hold);
	}
	p->item->state = ACCORD__STATE__OUTBOX_ITEM__STATE__DELIVERED;
	p->item->done_ms = node_now_ms();
	free(p->item->receipt.data);
	p->item->receipt.data = info.kept;
	p->item->receipt.len = info.kept_len;
	info.kept = NULL;
	settle(n, f, p, AUDIT_DELIVERED, AUDIT_SUCCESS, NULL, hold);
	receipt_info_free(&info);
	return true;
}

/* The receiver answered the post with a DeliveryAnswer: settle each
 * parcel, or retry it. */
static void on_results(node *n, struct flight *f, const protocol_partner *to,
		       const Accord__Envelope__DeliveryAnswer *a)
{
	struct parcel **again = calloc(f->n_parcels, sizeof(struct parcel *));
	char (*why)[600] = calloc(f->n_parcels, sizeof *why);
	const char **whyp = calloc(f->n_parcels, sizeof *whyp);
	struct reading rd = { 0 };
	size_t k = 0;

	if (!again || !why || !whyp) {
		node_log(n, "out of memory reading the answer of %s", to->id);
		for (size_t i = 0; i < f->n_parcels; i++)
			busy_remove(n->busy, f->parcels[i].id);
		node_outbox_kick(n, 100);
		goto out;
	}
	rd.have = witness_get(n->wit, to->id, &rd.cur, NULL) == 0;
	for (size_t i = 0; i < f->n_parcels; i++) {
		const Accord__Envelope__DeliveryAnswer__Result *r = a->results[i];
		struct parcel *p = &f->parcels[i];
		accord_error e = { 0 };

		if (r->status == 200 && receipted(n, f, p, to, r->receipt.data, r->receipt.len,
						  &rd, &e))
			continue;
		if (r->status == 200) {
			snprintf(why[k], sizeof why[k], "%s", accord_error_msg(&e));
		} else if (r->status >= 500 || r->status == 429 || r->status == 413) {
			node_text(why[k], sizeof why[k], "the receiver answered %u: %.300s",
				  r->status, r->error);
		} else {
			char reason[600];

			node_text(reason, sizeof reason, "refused by %s (%u): %.400s", to->id,
				  r->status, r->error);
			p->item->state = ACCORD__STATE__OUTBOX_ITEM__STATE__REFUSED;
			p->item->done_ms = node_now_ms();
			settle(n, f, p, AUDIT_DELIVERED, AUDIT_DENIED, reason, NULL);
			continue;
		}
		whyp[k] = why[k];
		again[k++] = p;
	}
	retry_later(n, again, whyp, k);
out:
	free(rd.held_note);
	witness_checkpoint_free(&rd.cur);
	free(again);
	free(why);
	free(whyp);
}

/* The answer to one post. */
static void on_answer(const courier_result *r, void *arg)
{
	struct flight *f = arg;
	node *n = f->n;
	const protocol *p = node_protocol(n);
	const protocol_partner *to = p ? protocol_partner_find(p, f->recipient) : NULL;
	Accord__Envelope__DeliveryAnswer *a = NULL;
	struct parcel **all = NULL;
	const char **whyp = NULL;
	accord_error e = { 0 };
	bool whole;
	char why[600];

	land(f);
	if (r->status == 200 && to)
		a = accord__envelope__delivery_answer__unpack(NULL, r->len, r->body);
	whole = a && record_exact(&a->base, r->body, r->len, "the DeliveryAnswer", &e) == 0;
	if (whole && a->n_results == f->n_parcels) {
		on_results(n, f, to, a);
		goto out;
	}
	/* Nothing of the post was answered: all of it is tried again. */
	if (!to)
		snprintf(why, sizeof why, "the recipient is not a partner of the protocol in force");
	else if (r->status == 0)
		snprintf(why, sizeof why, "%s", r->error ? r->error : "the receiver is unavailable");
	else if (a && !whole)
		snprintf(why, sizeof why, "%s", accord_error_msg(&e));
	else if (r->status == 200)
		snprintf(why, sizeof why, "the receiver's answer is not a DeliveryAnswer for "
			 "%zu envelopes", f->n_parcels);
	else
		node_text(why, sizeof why, "the receiver answered %ld: %.*s", r->status,
			  (int)(r->len < 300 ? r->len : 300), (const char *)r->body);
	all = calloc(f->n_parcels, sizeof(struct parcel *));
	whyp = calloc(f->n_parcels, sizeof *whyp);
	if (!all || !whyp) {
		for (size_t i = 0; i < f->n_parcels; i++)
			busy_remove(n->busy, f->parcels[i].id);
		node_outbox_kick(n, 100);
		goto out;
	}
	for (size_t i = 0; i < f->n_parcels; i++) {
		all[i] = &f->parcels[i];
		whyp[i] = why;
	}
	retry_later(n, all, whyp, f->n_parcels);
out:
	free(all);
	free(whyp);
	if (a)
		accord__envelope__delivery_answer__free_unpacked(a, NULL);
	flight_free(f);
}

/* ---- sending ---------------------------------------------------------------------- */

/* The items due in one wake, collected while the outbox is read and posted
 * after: nothing else may open a read transaction during the iteration. */
struct scan {
	node *n;
	int64_t now, next;           /* the earliest future attempt seen */
	size_t n_due, room;
	struct due {
		uint8_t id[STATE_ID_LEN];
		state_outbox_item *item;
	} *due;
};

static bool skip_busy(const uint8_t id[STATE_ID_LEN], void *ctx)
{
	const struct scan *sc = ctx;

	return busy(sc->n->busy, id);
}

/* An envelope as stored, telling the receiver which of its checkpoints we
 * hold: witness_size (field 13, a varint) appended to the packed bytes.
 * Sealed envelopes carry none, and 13 is the Envelope's last field, so the
 * bytes stay as protobuf-c packs them: a receiver refuses any other
 * encoding (record_exact). *out is malloc'd. */
static int with_witness(const ProtobufCBinaryData *env, uint64_t witness_size,
			ProtobufCBinaryData *out)
{
	uint8_t *b = malloc(env->len + 11);
	size_t k = env->len;

	if (!b)
		return ACCORD_ENOMEM;
	memcpy(b, env->data, env->len);
	if (witness_size) {
		b[k++] = 13 << 3;    /* field 13, wire type 0 */
		for (; witness_size >= 0x80; witness_size >>= 7)
			b[k++] = (uint8_t)(witness_size | 0x80);
		b[k++] = (uint8_t)witness_size;
	}
	out->data = b;
	out->len = k;
	return 0;
}

/* Post the flight: its envelopes in one Delivery. */
static int post(node *n, struct flight *f, const protocol_partner *to)
{
	Accord__Envelope__Delivery d = ACCORD__ENVELOPE__DELIVERY__INIT;
	ProtobufCBinaryData *envs = calloc(f->n_parcels, sizeof *envs);
	uint8_t *body = NULL;
	size_t len;
	char url[600];
	int rc = ACCORD_ENOMEM;

	if (!envs)
		return rc;
	for (size_t i = 0; i < f->n_parcels; i++)
		if (with_witness(&f->parcels[i].item->envelope, f->has_held ? f->held.size : 0,
				 &envs[i]) != 0)
			goto out;
	d.n_envelopes = f->n_parcels;
	d.envelopes = envs;
	len = accord__envelope__delivery__get_packed_size(&d);
	body = malloc(len ? len : 1);
	if (!body)
		goto out;
	accord__envelope__delivery__pack(&d, body);
	snprintf(url, sizeof url, "%s/v1/deliveries", to->endpoint);
	rc = courier_post(n->cr, url, to->tls_spki_sha256, "application/x-protobuf", body, len,
			  on_answer, f);
out:
	for (size_t i = 0; i < f->n_parcels; i++)
		free(envs[i].data);
	free(envs);
	free(body);
	return rc;
}

/* A flight to the recipient of due[first], taking from due every item for
 * that recipient that fits (each taken is set to NULL), and posting it. */
static void fly(node *n, struct due *due, size_t n_due, size_t first)
{
	const char *recipient = due[first].item->recipient;
	const protocol_partner *to = n->proto ? protocol_partner_find(n->proto, recipient) : NULL;
	struct flight *f;
	size_t want = 0, bytes = 0;

	for (size_t i = first; i < n_due && want < DELIVERY_BATCH; i++)
		want += due[i].item && strcmp(due[i].item->recipient, recipient) == 0;
	f = to && to->endpoint ? calloc(1, sizeof *f + want * sizeof f->parcels[0]) : NULL;
	if (!f)
		return;   /* left in due: freed by the caller, tried at a later wake */
	f->n = n;
	snprintf(f->recipient, sizeof f->recipient, "%s", recipient);
	memcpy(f->peer_key, to->tls_spki_sha256, CRYPTO_SHA256_LEN);
	/* Tell the receiver which of its checkpoints we hold, for its proofs. */
	f->has_held = witness_get(n->wit, to->id, &f->held, NULL) == 0;
	for (size_t i = first; i < n_due && f->n_parcels < want; i++) {
		struct due *d = &due[i];
		struct parcel *p = &f->parcels[f->n_parcels];

		if (!d->item || strcmp(d->item->recipient, f->recipient) != 0)
			continue;
		if (f->n_parcels && bytes + d->item->envelope.len > DELIVERY_BATCH_BYTES)
			break;
		p->item = d->item;
		if (!parcel_facts(p)) {
			p->item = NULL;
			continue;    /* left in due, and freed with it */
		}
		bytes += d->item->envelope.len;
		memcpy(p->id, d->id, STATE_ID_LEN);
		crypto_hex(p->id, STATE_ID_LEN, p->id_hex);
		d->item = NULL;
		f->n_parcels++;
	}
	if (f->n_parcels == 0 || post(n, f, to) != 0) {
		flight_free(f);
		return;
	}
	for (size_t i = 0; i < f->n_parcels; i++)
		busy_add(n->busy, f->parcels[i].id);
	f->next = n->flights;
	n->flights = f;
	n->in_flight += f->n_parcels;
}

static int scan_item(const uint8_t id[STATE_ID_LEN], state_outbox_item **item, void *ctx)
{
	struct scan *sc = ctx;
	const state_outbox_item *it = *item;

	if (it->state != ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING ||
	    flying_to(sc->n, it->recipient))
		return 0;
	if (it->next_attempt_ms > sc->now) {
		if (sc->next == 0 || it->next_attempt_ms < sc->next)
			sc->next = it->next_attempt_ms;
		return 0;
	}
	if (sc->n_due >= sc->room) {
		sc->next = sc->now + 50;
		return 1;
	}
	sc->due[sc->n_due].item = *item;    /* kept */
	*item = NULL;
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

	/* Nothing leaves without a protocol in force, nor once the audit
	 * cannot be written (n->broken): an outcome that cannot be recorded
	 * would only send the same envelopes again and again. */
	if (!node_protocol(n) || n->stopping || n->broken || n->in_flight >= NODE_MAX_IN_FLIGHT)
		return;
	if (flights(n) + 1 >= protocol_partner_count(n->proto))
		return;    /* a post to every partner: the next landing wakes us */
	sc.room = NODE_MAX_IN_FLIGHT - n->in_flight;
	if (sc.room > DELIVERY_BATCH)
		sc.room = DELIVERY_BATCH;
	sc.due = calloc(sc.room, sizeof *sc.due);
	if (!sc.due) {
		node_outbox_kick(n, 100);
		return;
	}
	rc = state_outbox_each_pending(n->sb, skip_busy, scan_item, &sc, &e);
	if (rc < 0)
		node_log(n, "cannot read the outbox: %s", accord_error_msg(&e));
	/* One post to each partner at a time, so that each receipt's
	 * checkpoint extends the one held just before. */
	for (size_t i = 0; i < sc.n_due; i++)
		if (sc.due[i].item && !flying_to(n, sc.due[i].item->recipient))
			fly(n, sc.due, sc.n_due, i);
	for (size_t i = 0; i < sc.n_due; i++)
		state_free(sc.due[i].item);
	free(sc.due);
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
	n->busy = calloc(1, sizeof *n->busy);
	n->deliver_ev = n->busy ? evtimer_new(n->base, on_wake, n) : NULL;
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
	free(n->busy);
	n->busy = NULL;
}
