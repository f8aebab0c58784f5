/* state.c - outbox, inbox and cases: packed messages in LMDB. */
#include "accord/state.h"

#define STATE_ITEM_MAX ((size_t)1 << 20)

struct state {
	store *st;
	MDB_dbi outbox, inbox, cases;
	MDB_dbi pending;      /* ids of the outbox items still PENDING */
};

int state_open(store *st, state **out, accord_error *e)
{
	state *s = calloc(1, sizeof *s);
	int rc;

	if (!s)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	s->st = st;
	rc = store_db(st, "outbox", 0, &s->outbox, e);
	if (rc == 0)
		rc = store_db(st, "inbox", 0, &s->inbox, e);
	if (rc == 0)
		rc = store_db(st, "cases", 0, &s->cases, e);
	if (rc == 0)
		rc = store_db(st, "outbox_pending", 0, &s->pending, e);
	if (rc != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void state_close(state *s)
{
	free(s);
}

void state_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static int put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	       const ProtobufCMessage *m, accord_error *e)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	MDB_val k = { klen, (void *)key }, v = { n, NULL };
	int rc;

	if (n > STATE_ITEM_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "a state item of %zu bytes is too large", n);
	rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return store_fail(e, rc, "writing the node's state");
	protobuf_c_message_pack(m, v.mv_data);
	return 0;
}

static int get(state *s, MDB_dbi dbi, const void *key, size_t klen,
	       const ProtobufCMessageDescriptor *d, void **out, accord_error *e)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key }, v;
	int rc = store_read_begin(s->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = ACCORD_ENOTFOUND;
	} else if (rc != 0) {
		rc = store_fail(e, rc, "reading the node's state");
	} else {
		*out = protobuf_c_message_unpack(d, NULL, v.mv_size, v.mv_data);
		if (!*out)
			rc = accord_fail(e, ACCORD_EPARSE, "a stored %s does not unpack",
					 d->short_name);
	}
	mdb_txn_abort(txn);
	return rc;
}

/* A visitor may take the message: it sets *m to NULL. */
typedef int (*each_fn)(const MDB_val *k, ProtobufCMessage **m, void *ctx);
typedef bool (*skip_fn)(const MDB_val *k, void *ctx);

/* Walk dbi in key order, unpacking each value; or, with via, walk dbi's
 * keys and unpack the value each key has in *via (an index's items). */
static int each(state *s, MDB_dbi dbi, const MDB_dbi *via,
		const ProtobufCMessageDescriptor *d, skip_fn skip, each_fn fn, void *ctx,
		accord_error *e)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = store_read_begin(s->st, &txn, e), op = MDB_FIRST;

	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_fail(e, rc, "reading the node's state");
	}
	/* LMDB's codes and the visitor's are kept apart: a visitor may stop
	 * the walk with any value, positive ones included. */
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		ProtobufCMessage *m;
		int stop;

		op = MDB_NEXT;
		if (skip && skip(&k, ctx))
			continue;
		if (via && mdb_get(txn, *via, &k, &v) != 0)
			continue;    /* an index entry without its item: skip it */
		m = protobuf_c_message_unpack(d, NULL, v.mv_size, v.mv_data);
		if (!m) {
			rc = ACCORD_EPARSE;
			accord_fail(e, rc, "a stored %s does not unpack", d->short_name);
			goto out;
		}
		stop = fn(&k, &m, ctx);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		if (stop != 0) {
			rc = stop;
			goto out;
		}
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_fail(e, rc, "reading the node's state");
out:
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int state_outbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		     const state_outbox_item *item, accord_error *e)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, none = { 0, NULL };
	int rc = put(txn, s->outbox, id, STATE_ID_LEN, &item->base, e);

	if (rc != 0)
		return rc;
	/* The pending index follows the item's state, in the same transaction. */
	if (item->state == ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING)
		rc = mdb_put(txn, s->pending, &k, &none, 0);
	else if ((rc = mdb_del(txn, s->pending, &k, NULL)) == MDB_NOTFOUND)
		rc = 0;
	return rc ? store_fail(e, rc, "indexing the outbox") : 0;
}

int state_inbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		    const state_inbox_item *item, accord_error *e)
{
	return put(txn, s->inbox, id, STATE_ID_LEN, &item->base, e);
}

int state_inbox_set_receipt(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			    const uint8_t *receipt, size_t len, accord_error *e)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, v;
	state_inbox_item *it;
	int rc = mdb_get(txn, s->inbox, &k, &v);

	if (rc == MDB_NOTFOUND)
		return accord_fail(e, ACCORD_ENOTFOUND, "no inbox item to keep a receipt with");
	if (rc != 0)
		return store_fail(e, rc, "reading the node's state");
	it = accord__state__inbox_item__unpack(NULL, v.mv_size, v.mv_data);
	if (!it)
		return accord_fail(e, ACCORD_EPARSE, "a stored InboxItem does not unpack");
	/* The unpacked item's own receipt bytes go with it; these are lent. */
	{
		ProtobufCBinaryData old = it->receipt;

		it->receipt = (ProtobufCBinaryData){ len, (uint8_t *)receipt };
		rc = put(txn, s->inbox, id, STATE_ID_LEN, &it->base, e);
		it->receipt = old;
	}
	accord__state__inbox_item__free_unpacked(it, NULL);
	return rc;
}

/* referrer \0 recipient \0 referral_id */
static int case_key(const char *a, const char *b, const char *r, char *out, size_t size,
		    size_t *len)
{
	size_t la = strlen(a), lb = strlen(b), lr = strlen(r);

	if (la + lb + lr + 2 > size || lr == 0)
		return ACCORD_EINVAL;
	/* Two NULs inside the key separate the ids; the key has no final NUL. */
	memcpy(out, a, la + 1);
	memcpy(out + la + 1, b, lb + 1);
	memcpy(out + la + lb + 2, r, lr); // NOLINT(bugprone-not-null-terminated-result)
	*len = la + lb + lr + 2;
	return 0;
}

int state_case_put(state *s, MDB_txn *txn, const state_case_item *item, accord_error *e)
{
	char key[512];
	size_t len;

	if (case_key(item->referrer, item->recipient, item->referral_id, key, sizeof key,
		     &len) != 0)
		return accord_fail(e, ACCORD_EINVAL, "a case needs partners and a referral id "
				   "of at most %zu bytes", sizeof key - 3);
	return put(txn, s->cases, key, len, &item->base, e);
}

int state_outbox_get(state *s, const uint8_t id[STATE_ID_LEN], state_outbox_item **out,
		     accord_error *e)
{
	return get(s, s->outbox, id, STATE_ID_LEN, &accord__state__outbox_item__descriptor,
		   (void **)out, e);
}

int state_inbox_get(state *s, const uint8_t id[STATE_ID_LEN], state_inbox_item **out,
		    accord_error *e)
{
	return get(s, s->inbox, id, STATE_ID_LEN, &accord__state__inbox_item__descriptor,
		   (void **)out, e);
}

int state_case_get(state *s, const char *referrer, const char *recipient,
		   const char *referral_id, state_case_item **out, accord_error *e)
{
	char key[512];
	size_t len;

	if (case_key(referrer, recipient, referral_id, key, sizeof key, &len) != 0)
		return ACCORD_ENOTFOUND;
	return get(s, s->cases, key, len, &accord__state__case_item__descriptor,
		   (void **)out, e);
}

struct each_ctx {
	state_outbox_fn ofn;
	state_outbox_take_fn take;
	state_inbox_fn ifn;
	bool (*skip)(const uint8_t id[STATE_ID_LEN], void *ctx);
	void *ctx;
};

static bool skip_id(const MDB_val *k, void *arg)
{
	const struct each_ctx *c = arg;

	return k->mv_size == STATE_ID_LEN && c->skip(k->mv_data, c->ctx);
}

static int visit(const MDB_val *k, ProtobufCMessage **m, void *arg)
{
	struct each_ctx *c = arg;

	if (k->mv_size != STATE_ID_LEN)
		return 0; /* not an item of ours */
	if (c->take)
		return c->take(k->mv_data, (state_outbox_item **)m, c->ctx);
	return c->ofn ? c->ofn(k->mv_data, (const state_outbox_item *)*m, c->ctx) :
			c->ifn(k->mv_data, (const state_inbox_item *)*m, c->ctx);
}

int state_outbox_each(state *s, state_outbox_fn fn, void *ctx, accord_error *e)
{
	struct each_ctx c = { .ofn = fn, .ctx = ctx };

	return each(s, s->outbox, NULL, &accord__state__outbox_item__descriptor, NULL, visit,
		    &c, e);
}

int state_outbox_each_pending(state *s, bool (*skip)(const uint8_t id[STATE_ID_LEN], void *ctx),
			      state_outbox_take_fn fn, void *ctx, accord_error *e)
{
	struct each_ctx c = { .take = fn, .skip = skip, .ctx = ctx };

	return each(s, s->pending, &s->outbox, &accord__state__outbox_item__descriptor,
		    skip ? skip_id : NULL, visit, &c, e);
}

int state_inbox_each(state *s, state_inbox_fn fn, void *ctx, accord_error *e)
{
	struct each_ctx c = { .ifn = fn, .ctx = ctx };

	return each(s, s->inbox, NULL, &accord__state__inbox_item__descriptor, NULL, visit,
		    &c, e);
}
