/* state.c - outbox, inbox and cases: packed messages in LMDB. */
#include "accord/crypto.h"
#include "accord/state.h"

#define STATE_ITEM_MAX ((size_t)1 << 20)

/* The indexes: each maps the ids of the items it holds to nothing, and is
 * written in the same transaction as the item, so that its size is a count
 * and a walk over it reads only the items it names. */
enum { IX_PENDING, IX_DELIVERED, IX_REFUSED, IX_PAUSED, IX_UNACKED, IX_N };

static const char *const index_name[IX_N] = {
	[IX_PENDING] = "outbox_pending",
	[IX_DELIVERED] = "outbox_delivered",
	[IX_REFUSED] = "outbox_refused",
	[IX_PAUSED] = "outbox_paused",
	[IX_UNACKED] = "inbox_unacked",
};

struct state {
	store *st;
	MDB_dbi outbox, inbox, cases;
	MDB_dbi receipts;     /* inbox_receipts: id -> the receipt answered */
	MDB_dbi envelopes;    /* outbox_envelopes: id -> the packed envelope */
	MDB_dbi ix[IX_N];
	size_t reindexed;     /* items read at open to build missing indexes */
};

/* The index of the outbox items in state st, or -1 (no index keeps it). */
static int outbox_ix(int st)
{
	switch (st) {
	case ACCORD__STATE__OUTBOX_ITEM__STATE__PENDING: return IX_PENDING;
	case ACCORD__STATE__OUTBOX_ITEM__STATE__DELIVERED: return IX_DELIVERED;
	case ACCORD__STATE__OUTBOX_ITEM__STATE__REFUSED: return IX_REFUSED;
	case ACCORD__STATE__OUTBOX_ITEM__STATE__PAUSED: return IX_PAUSED;
	}
	return -1;
}

static int open_indexes(state *s, accord_error *e);

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
		rc = store_db(st, "inbox_receipts", 0, &s->receipts, e);
	if (rc == 0)
		rc = store_db(st, "outbox_envelopes", 0, &s->envelopes, e);
	if (rc == 0)
		rc = open_indexes(s, e);
	if (rc != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

size_t state_reindexed(const state *s)
{
	return s->reindexed;
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

/*
 * mdb_put, appending when k sorts after every key of dbi. Message ids
 * begin with their clock, so most new keys do: LMDB then starts a new page
 * rather than split the last one in two, and pages stay full. A key
 * that does not (an id from a skewed clock, an item rewritten) is put as
 * usual: MDB_APPEND refuses it with MDB_KEYEXIST before it changes
 * anything.
 */
static int put_in_order(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags)
{
	int rc = mdb_put(txn, dbi, k, v, flags | MDB_APPEND);

	return rc == MDB_KEYEXIST ? mdb_put(txn, dbi, k, v, flags) : rc;
}

static int put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	       const ProtobufCMessage *m, accord_error *e)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	MDB_val k = { klen, (void *)key }, v = { n, NULL };
	int rc;

	if (n > STATE_ITEM_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "a state item of %zu bytes is too large", n);
	rc = put_in_order(txn, dbi, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return store_fail(e, rc, "writing the node's state");
	protobuf_c_message_pack(m, v.mv_data);
	return 0;
}

/* The message at key in dbi, read in txn. */
static int get_in(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
		  const ProtobufCMessageDescriptor *d, void **out, accord_error *e)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(txn, dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return ACCORD_ENOTFOUND;
	if (rc != 0)
		return store_fail(e, rc, "reading the node's state");
	*out = protobuf_c_message_unpack(d, NULL, v.mv_size, v.mv_data);
	if (!*out)
		return accord_fail(e, ACCORD_EPARSE, "a stored %s does not unpack",
				   d->short_name);
	return 0;
}

/* The message at key in dbi, in a read transaction of its own. */
static int get(state *s, MDB_dbi dbi, const void *key, size_t klen,
	       const ProtobufCMessageDescriptor *d, void **out, accord_error *e)
{
	MDB_txn *txn;
	int rc = store_read_begin(s->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = get_in(txn, dbi, key, klen, d, out, e);
	mdb_txn_abort(txn);
	return rc;
}

/* Give item the envelope kept apart for id (none when it has its own). */
static int envelope_attach(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			   state_outbox_item *item, accord_error *e)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, v;
	char hex[2 * STATE_ID_LEN + 1];
	int rc;

	if (item->envelope.len)
		return 0;
	rc = mdb_get(txn, s->envelopes, &k, &v);
	if (rc == 0) {
		/* protobuf-c frees it with the item */
		item->envelope.data = malloc(v.mv_size ? v.mv_size : 1);
		if (!item->envelope.data)
			return accord_fail(e, ACCORD_ENOMEM, "out of memory");
		memcpy(item->envelope.data, v.mv_data, v.mv_size);
		item->envelope.len = v.mv_size;
		return 0;
	}
	crypto_hex(id, STATE_ID_LEN, hex);
	if (rc == MDB_NOTFOUND)
		return accord_fail(e, ACCORD_EPARSE, "the outbox item %s has no envelope: the "
				   "node's store is damaged", hex);
	return store_fail(e, rc, "reading an envelope");
}

/* A visitor may take the message: it sets *m to NULL. */
typedef int (*each_fn)(const MDB_val *k, ProtobufCMessage **m, void *ctx);
typedef bool (*skip_fn)(const MDB_val *k, void *ctx);

/* A walk over dbi in key order, unpacking each value; or, with via, over
 * dbi's keys, unpacking the value each key has in *via (an index's items).
 * Keys that are no message id are passed over. */
struct walk {
	MDB_txn *txn;          /* NULL: a read transaction of its own */
	MDB_dbi dbi;
	const MDB_dbi *via;
	const ProtobufCMessageDescriptor *d;
	const uint8_t *after;  /* start after this id; NULL: at the first */
	size_t limit;          /* visit at most this many */
	bool more;             /* out: the limit left items unvisited */
	skip_fn skip;          /* may be NULL */
	bool attach;           /* outbox items: with their envelopes */
	each_fn fn;
	void *ctx;
};

static int each(state *s, struct walk *w, accord_error *e)
{
	MDB_txn *txn = w->txn;
	MDB_cursor *c;
	MDB_val k = { STATE_ID_LEN, (void *)w->after }, v;
	MDB_cursor_op op = w->after ? MDB_SET_RANGE : MDB_FIRST;
	size_t n = 0;
	int rc = txn ? 0 : store_read_begin(s->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, w->dbi, &c);
	if (rc != 0) {
		rc = store_fail(e, rc, "reading the node's state");
		goto out_txn;
	}
	w->more = false;
	/* LMDB's codes and the visitor's are kept apart: a visitor may stop
	 * the walk with any value, positive ones included. */
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		ProtobufCMessage *m;
		int stop;

		op = MDB_NEXT;
		if (k.mv_size != STATE_ID_LEN ||
		    (w->after && memcmp(k.mv_data, w->after, STATE_ID_LEN) == 0))
			continue;
		if (w->skip && w->skip(&k, w->ctx))
			continue;
		if (w->via && mdb_get(txn, *w->via, &k, &v) != 0)
			continue;    /* an index entry without its item: skip it */
		if (n++ == w->limit) {
			w->more = true;
			rc = 0;
			goto out;
		}
		m = protobuf_c_message_unpack(w->d, NULL, v.mv_size, v.mv_data);
		if (!m) {
			char hex[2 * STATE_ID_LEN + 1];

			crypto_hex(k.mv_data, STATE_ID_LEN, hex);
			rc = accord_fail(e, ACCORD_EPARSE, "the stored %s %s does not unpack: "
					 "the node's store is damaged", w->d->short_name, hex);
			goto out;
		}
		if (w->attach) {
			rc = envelope_attach(s, txn, k.mv_data, (state_outbox_item *)m, e);
			if (rc != 0) {
				protobuf_c_message_free_unpacked(m, NULL);
				goto out;
			}
		}
		stop = w->fn(&k, &m, w->ctx);
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
out_txn:
	if (!w->txn)
		mdb_txn_abort(txn);
	return rc;
}

/* Put id in index dbi, or take it out. */
static int index_set(MDB_txn *txn, MDB_dbi dbi, const uint8_t id[STATE_ID_LEN], bool in)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, none = { 0, NULL };
	int rc = in ? put_in_order(txn, dbi, &k, &none, 0) : mdb_del(txn, dbi, &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * An outbox item is kept without its envelope, which goes once into
 * outbox_envelopes: the item is rewritten at each attempt and at its
 * delivery, and small items make those rewrites touch a page or two of a
 * batch rather than one a item. An item written before this kept its
 * envelope inline; it is read as it is, and its next rewrite moves the
 * envelope out.
 */
static int envelope_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			const ProtobufCBinaryData *env, accord_error *e)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, v = { env->len, env->data };
	int rc;

	if (env->len > STATE_ITEM_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "an envelope of %zu bytes is too large",
				   env->len);
	/* Written once: an envelope never changes. */
	rc = put_in_order(txn, s->envelopes, &k, &v, MDB_NOOVERWRITE);
	return rc == 0 || rc == MDB_KEYEXIST ? 0 : store_fail(e, rc, "writing an envelope");
}

int state_outbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		     const state_outbox_item *item, accord_error *e)
{
	int ix = outbox_ix(item->state);
	state_outbox_item bare = *item;
	int rc = 0;

	if (item->envelope.len) {
		rc = envelope_put(s, txn, id, &item->envelope, e);
		bare.envelope = (ProtobufCBinaryData){ 0, NULL };
	}
	if (rc == 0)
		rc = put(txn, s->outbox, id, STATE_ID_LEN, &bare.base, e);

	/* The item is in the index of its state and in no other. */
	for (int i = IX_PENDING; rc == 0 && i <= IX_PAUSED; i++)
		if ((rc = index_set(txn, s->ix[i], id, i == ix)) != 0)
			return store_fail(e, rc, "indexing the outbox");
	return rc;
}

int state_inbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		    const state_inbox_item *item, accord_error *e)
{
	int rc = put(txn, s->inbox, id, STATE_ID_LEN, &item->base, e);

	if (rc == 0 && (rc = index_set(txn, s->ix[IX_UNACKED], id, !item->acked)) != 0)
		return store_fail(e, rc, "indexing the inbox");
	return rc;
}

/* Inbox item id as txn sees it (state_free it); absent: what, ENOTFOUND. */
static int inbox_get_txn(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			 const char *absent, state_inbox_item **out, accord_error *e)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, v;
	int rc = mdb_get(txn, s->inbox, &k, &v);

	if (rc == MDB_NOTFOUND)
		return accord_fail(e, ACCORD_ENOTFOUND, "%s", absent);
	if (rc != 0)
		return store_fail(e, rc, "reading the node's state");
	*out = accord__state__inbox_item__unpack(NULL, v.mv_size, v.mv_data);
	if (!*out)
		return accord_fail(e, ACCORD_EPARSE, "a stored InboxItem does not unpack");
	return 0;
}

/* A malloc'd copy of v's bytes in *out and *len. */
static int copy_bytes(const MDB_val *v, uint8_t **out, size_t *len, accord_error *e)
{
	*out = malloc(v->mv_size ? v->mv_size : 1);
	if (!*out)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	memcpy(*out, v->mv_data, v->mv_size);
	*len = v->mv_size;
	return 0;
}

int state_inbox_set_receipt(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			    const uint8_t *receipt, size_t len, accord_error *e)
{
	MDB_val k = { STATE_ID_LEN, (void *)id }, v = { len, (void *)receipt };
	int rc = put_in_order(txn, s->receipts, &k, &v, 0);

	return rc ? store_fail(e, rc, "keeping a receipt") : 0;
}

int state_inbox_receipt(state *s, const uint8_t id[STATE_ID_LEN], const state_inbox_item *it,
			uint8_t **out, size_t *len, accord_error *e)
{
	MDB_txn *txn;
	MDB_val k = { STATE_ID_LEN, (void *)id }, v = { it->receipt.len, it->receipt.data };
	int rc;

	*out = NULL;
	*len = 0;
	if (it->receipt.len)     /* kept inside the item, as format 2 did */
		return copy_bytes(&v, out, len, e);
	rc = store_read_begin(s->st, &txn, e);
	if (rc != 0)
		return rc;
	rc = mdb_get(txn, s->receipts, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = ACCORD_ENOTFOUND;
	else if (rc != 0)
		rc = store_fail(e, rc, "reading a receipt");
	else
		rc = copy_bytes(&v, out, len, e);
	mdb_txn_abort(txn);
	return rc;
}

int state_inbox_set_acked(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			  int64_t acked_ms, int64_t *was, accord_error *e)
{
	state_inbox_item *it = NULL;
	int rc = inbox_get_txn(s, txn, id, "no such inbox item", &it, e);

	if (rc != 0 || !it)
		return rc ? rc : ACCORD_EPARSE;
	if (it->acked) {
		*was = it->acked_ms;
	} else {
		it->acked = true;
		it->acked_ms = acked_ms;
		*was = acked_ms;
		rc = state_inbox_put(s, txn, id, it, e);
	}
	accord__state__inbox_item__free_unpacked(it, NULL);
	return rc;
}

/* ---- building missing indexes at open --------------------------------------- */

struct reindex {
	state *s;
	MDB_txn *txn;
	bool missing[IX_N];
};

static int reindex_outbox(const MDB_val *k, ProtobufCMessage **m, void *arg)
{
	struct reindex *r = arg;
	int ix = outbox_ix(((const state_outbox_item *)*m)->state);

	r->s->reindexed++;
	return ix >= 0 && r->missing[ix] ? index_set(r->txn, r->s->ix[ix], k->mv_data, true) : 0;
}

static int reindex_inbox(const MDB_val *k, ProtobufCMessage **m, void *arg)
{
	struct reindex *r = arg;

	r->s->reindexed++;
	return r->missing[IX_UNACKED] && !((const state_inbox_item *)*m)->acked ?
	       index_set(r->txn, r->s->ix[IX_UNACKED], k->mv_data, true) : 0;
}

/* Open the indexes; create and fill, from the items, those missing. One
 * transaction: a store has each index whole or not at all. */
static int reindex(MDB_txn *txn, void *arg, accord_error *e)
{
	struct reindex *r = arg;
	state *s = r->s;
	struct walk w = { .txn = txn, .limit = SIZE_MAX, .ctx = r };
	bool outbox = false;
	int rc = 0;

	r->txn = txn;
	s->reindexed = 0;
	for (int i = 0; rc == 0 && i < IX_N; i++) {
		rc = mdb_dbi_open(txn, index_name[i], 0, &s->ix[i]);
		r->missing[i] = rc == MDB_NOTFOUND;
		if (r->missing[i])
			rc = mdb_dbi_open(txn, index_name[i], MDB_CREATE, &s->ix[i]);
		if (rc != 0)
			return store_fail(e, rc, index_name[i]);
		outbox |= r->missing[i] && i != IX_UNACKED;
	}
	if (outbox) {
		w.dbi = s->outbox;
		w.d = &accord__state__outbox_item__descriptor;
		w.fn = reindex_outbox;
		rc = each(s, &w, e);
	}
	if (rc == 0 && r->missing[IX_UNACKED]) {
		w.dbi = s->inbox;
		w.d = &accord__state__inbox_item__descriptor;
		w.fn = reindex_inbox;
		rc = each(s, &w, e);
	}
	return rc;
}

static int open_indexes(state *s, accord_error *e)
{
	struct reindex r = { .s = s };
	int rc = 0;

	if (!store_read_only(s->st))
		return store_write(s->st, reindex, &r, e);
	for (int i = 0; rc == 0 && i < IX_N; i++)
		rc = store_db(s->st, index_name[i], 0, &s->ix[i], e);
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
	MDB_txn *txn;
	int rc = store_read_begin(s->st, &txn, e);

	if (rc != 0)
		return rc;
	/* The item and its envelope apart, from one snapshot. */
	rc = get_in(txn, s->outbox, id, STATE_ID_LEN, &accord__state__outbox_item__descriptor,
		    (void **)out, e);
	if (rc == 0 && (rc = envelope_attach(s, txn, id, *out, e)) != 0) {
		state_free(*out);
		*out = NULL;
	}
	mdb_txn_abort(txn);
	return rc;
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

	return c->skip(k->mv_data, c->ctx);
}

static int visit(const MDB_val *k, ProtobufCMessage **m, void *arg)
{
	struct each_ctx *c = arg;

	if (c->take)
		return c->take(k->mv_data, (state_outbox_item **)m, c->ctx);
	return c->ofn ? c->ofn(k->mv_data, (const state_outbox_item *)*m, c->ctx) :
			c->ifn(k->mv_data, (const state_inbox_item *)*m, c->ctx);
}

int state_outbox_each_pending(state *s, bool (*skip)(const uint8_t id[STATE_ID_LEN], void *ctx),
			      state_outbox_take_fn fn, void *ctx, accord_error *e)
{
	struct each_ctx c = { .take = fn, .skip = skip, .ctx = ctx };
	struct walk w = { .dbi = s->ix[IX_PENDING], .via = &s->outbox,
			  .d = &accord__state__outbox_item__descriptor, .limit = SIZE_MAX,
			  .skip = skip ? skip_id : NULL, .attach = true, .fn = visit,
			  .ctx = &c };

	return each(s, &w, e);
}

int state_outbox_page(state *s, int st, const uint8_t *after, size_t limit,
		      state_outbox_fn fn, void *ctx, bool *more, accord_error *e)
{
	struct each_ctx c = { .ofn = fn, .ctx = ctx };
	struct walk w = { .dbi = s->outbox, .d = &accord__state__outbox_item__descriptor,
			  .after = after, .limit = limit, .fn = visit, .ctx = &c };
	int ix = outbox_ix(st), rc;

	if (st != ACCORD__STATE__OUTBOX_ITEM__STATE__STATE_UNSPECIFIED) {
		if (ix < 0)
			return accord_fail(e, ACCORD_EINVAL, "no outbox state %d", st);
		w.dbi = s->ix[ix];
		w.via = &s->outbox;
	}
	rc = each(s, &w, e);
	*more = w.more;
	return rc;
}

int state_inbox_page(state *s, bool unacked, const uint8_t *after, size_t limit,
		     state_inbox_fn fn, void *ctx, bool *more, accord_error *e)
{
	struct each_ctx c = { .ifn = fn, .ctx = ctx };
	struct walk w = { .dbi = unacked ? s->ix[IX_UNACKED] : s->inbox,
			  .via = unacked ? &s->inbox : NULL,
			  .d = &accord__state__inbox_item__descriptor, .after = after,
			  .limit = limit, .fn = visit, .ctx = &c };
	int rc = each(s, &w, e);

	*more = w.more;
	return rc;
}

int state_count(state *s, state_counts *out, accord_error *e)
{
	const struct {
		MDB_dbi dbi;
		size_t *n;
	} t[] = {
		{ s->outbox, &out->outbox }, { s->ix[IX_PENDING], &out->pending },
		{ s->ix[IX_DELIVERED], &out->delivered }, { s->ix[IX_REFUSED], &out->refused },
		{ s->ix[IX_PAUSED], &out->paused }, { s->inbox, &out->inbox },
		{ s->ix[IX_UNACKED], &out->unacked },
	};
	MDB_txn *txn;
	MDB_stat st;
	int rc = store_read_begin(s->st, &txn, e);

	if (rc != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < sizeof t / sizeof t[0]; i++) {
		rc = mdb_stat(txn, t[i].dbi, &st);
		if (rc != 0)
			rc = store_fail(e, rc, "counting the node's state");
		else
			*t[i].n = st.ms_entries;
	}
	mdb_txn_abort(txn);
	return rc;
}
