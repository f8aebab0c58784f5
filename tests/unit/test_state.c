/* test_state.c - the node's state: the indexes behind its counts follow
 * every put, a store without them gets them built at open, and pages of
 * every list give each item once, in id order. */
#include "accord/state.h"
#include "helper.h"

#define OB(s) ACCORD__STATE__OUTBOX_ITEM__STATE__##s

struct st {
	char *dir;
	store *st;
	state *s;
};

static void st_open(struct st *t)
{
	accord_error e = { 0 };

	if (!t->dir)
		t->dir = th_tmpdir();
	if (store_open(t->dir, NULL, &t->st, &e) != 0 || state_open(t->st, &t->s, &e) != 0)
		fail_msg("opening the state: %s", accord_error_msg(&e));
}

static void st_shut(struct st *t)
{
	state_close(t->s);
	store_close(t->st);
	t->s = NULL;
	t->st = NULL;
}

static void st_close(struct st *t)
{
	st_shut(t);
	th_rmdir(t->dir);
	t->dir = NULL;
}

/* Message id number i: a clock part, then i, so that ids sort by i. */
static void id_of(unsigned i, uint8_t id[STATE_ID_LEN])
{
	memset(id, 0, STATE_ID_LEN);
	id[0] = 0x01;
	id[5] = (uint8_t)(i >> 8);
	id[6] = (uint8_t)i;
	id[15] = 0x5a;
}

static unsigned num_of(const uint8_t id[STATE_ID_LEN])
{
	return (unsigned)id[5] << 8 | id[6];
}

/* The receipt state_inbox_receipt finds for item it: want, or none. */
static void receipt_is(struct st *t, const state_inbox_item *it, const char *want)
{
	uint8_t id[STATE_ID_LEN];
	uint8_t *got = NULL;
	size_t len = 0;
	accord_error e = { 0 };

	id_of((unsigned)(it->received_ms - 1000), id);
	if (!want) {
		assert_int_equal(state_inbox_receipt(t->s, id, it, &got, &len, &e),
				 ACCORD_ENOTFOUND);
		assert_null(got);
		return;
	}
	assert_int_equal(state_inbox_receipt(t->s, id, it, &got, &len, &e), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

/* One write: outbox item i in state ob, or inbox item i acknowledged or
 * not, or inbox item i's receipt kept. */
struct put {
	state *s;
	unsigned i;
	int ob;
	int acked;             /* -1: an outbox item */
	const char *receipt;   /* inbox: keep this receipt for the item */
	const char *inner;     /* inbox: an item holding its receipt (format 2) */
};

static int do_put(MDB_txn *txn, void *ctx, accord_error *e)
{
	const struct put *p = ctx;
	uint8_t id[STATE_ID_LEN];
	state_inbox_item in = ACCORD__STATE__INBOX_ITEM__INIT;
	state_outbox_item out = ACCORD__STATE__OUTBOX_ITEM__INIT;

	id_of(p->i, id);
	if (p->receipt)
		return state_inbox_set_receipt(p->s, txn, id, (const uint8_t *)p->receipt,
					       strlen(p->receipt), e);
	if (p->acked >= 0) {
		in.received_ms = 1000 + p->i;
		in.acked = p->acked;
		if (p->inner)
			in.receipt = (ProtobufCBinaryData){ strlen(p->inner),
							    (uint8_t *)p->inner };
		return state_inbox_put(p->s, txn, id, &in, e);
	}
	out.recipient = "council";
	out.state = p->ob;
	out.created_ms = 1000 + p->i;
	return state_outbox_put(p->s, txn, id, &out, e);
}

static void put(struct st *t, struct put p)
{
	accord_error e = { 0 };

	p.s = t->s;
	if (store_write(t->st, do_put, &p, &e) != 0)
		fail_msg("writing item %u: %s", p.i, accord_error_msg(&e));
}

static void put_outbox(struct st *t, unsigned i, int ob)
{
	put(t, (struct put){ .i = i, .ob = ob, .acked = -1 });
}

static void put_inbox(struct st *t, unsigned i, bool acked)
{
	put(t, (struct put){ .i = i, .acked = acked });
}

/* Fail unless the counts are these. */
static void counts_are(state *s, size_t outbox, size_t pending, size_t delivered,
		       size_t refused, size_t paused, size_t inbox, size_t unacked)
{
	state_counts c;

	memset(&c, 0xff, sizeof c);
	assert_int_equal(state_count(s, &c, NULL), 0);
	assert_int_equal(c.outbox, outbox);
	assert_int_equal(c.pending, pending);
	assert_int_equal(c.delivered, delivered);
	assert_int_equal(c.refused, refused);
	assert_int_equal(c.paused, paused);
	assert_int_equal(c.inbox, inbox);
	assert_int_equal(c.unacked, unacked);
}

static void test_counts_follow_puts(void **cm)
{
	struct st t = { 0 };
	state_inbox_item *it;
	uint8_t id[STATE_ID_LEN];

	st_open(&t);
	counts_are(t.s, 0, 0, 0, 0, 0, 0, 0);
	for (unsigned i = 0; i < 5; i++)
		put_outbox(&t, i, OB(PENDING));
	counts_are(t.s, 5, 5, 0, 0, 0, 0, 0);
	put_outbox(&t, 0, OB(DELIVERED));
	put_outbox(&t, 1, OB(REFUSED));
	put_outbox(&t, 2, OB(PAUSED));
	counts_are(t.s, 5, 2, 1, 1, 1, 0, 0);
	/* Paused, then pending again, then delivered: in one index at a time. */
	put_outbox(&t, 2, OB(PENDING));
	counts_are(t.s, 5, 3, 1, 1, 0, 0, 0);
	put_outbox(&t, 2, OB(DELIVERED));
	put_outbox(&t, 0, OB(DELIVERED));   /* the same state again */
	counts_are(t.s, 5, 2, 2, 1, 0, 0, 0);
	for (unsigned i = 0; i < 4; i++)
		put_inbox(&t, i, false);
	counts_are(t.s, 5, 2, 2, 1, 0, 4, 4);
	put_inbox(&t, 1, true);             /* acknowledged */
	put_inbox(&t, 1, true);
	counts_are(t.s, 5, 2, 2, 1, 0, 4, 3);
	/* Keeping a receipt leaves the item, and its acknowledgement, as
	 * they were: the receipt is kept beside it. */
	put(&t, (struct put){ .i = 1, .receipt = "receipt one" });
	put(&t, (struct put){ .i = 2, .receipt = "receipt two" });
	counts_are(t.s, 5, 2, 2, 1, 0, 4, 3);
	id_of(1, id);
	assert_int_equal(state_inbox_get(t.s, id, &it, NULL), 0);
	assert_true(it->acked);
	assert_int_equal(it->receipt.len, 0);
	receipt_is(&t, it, "receipt one");
	state_free(it);
	id_of(3, id);
	assert_int_equal(state_inbox_get(t.s, id, &it, NULL), 0);
	receipt_is(&t, it, NULL);
	state_free(it);
	/* An item as format 2 wrote it, its receipt inside, is read so. */
	put(&t, (struct put){ .i = 5, .acked = 0, .inner = "receipt five" });
	id_of(5, id);
	assert_int_equal(state_inbox_get(t.s, id, &it, NULL), 0);
	receipt_is(&t, it, "receipt five");
	state_free(it);
	counts_are(t.s, 5, 2, 2, 1, 0, 5, 4);
	/* Kept across a restart, with nothing to rebuild. */
	st_shut(&t);
	st_open(&t);
	assert_int_equal(state_reindexed(t.s), 0);
	counts_are(t.s, 5, 2, 2, 1, 0, 5, 4);
	st_close(&t);
}

/* Items written in id order, a few a transaction as the node's commits
 * write them, fill their pages: LMDB is asked to append each, and does
 * rather than split the last page in two. Written out of order (the pages
 * tests below) they are put as usual. */
static void test_ordered_pages(void **cm)
{
	enum { N = 300, PER_TXN = 10, BYTES = 500 };
	struct st t = { 0 };
	char inner[BYTES + 1];
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat ms;

	memset(inner, 'r', BYTES);
	inner[BYTES] = '\0';
	st_open(&t);
	for (unsigned i = 0; i < N; i++)
		put(&t, (struct put){ .i = i, .acked = (i / PER_TXN) % 2, .inner = inner });
	assert_int_equal(mdb_txn_begin(store_env(t.st), NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "inbox", 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &ms), 0);
	mdb_txn_abort(txn);
	assert_int_equal(ms.ms_entries, N);
	/* Seven of these items fill a 4 KiB page; split pages hold four. */
	if (ms.ms_leaf_pages > N / 7 + 2)
		fail_msg("%zu items in %zu leaf pages: not appended", (size_t)N,
			 (size_t)ms.ms_leaf_pages);
	counts_are(t.s, 0, 0, 0, 0, 0, N, N / 2);
	st_close(&t);
}

/* ---- pages ---------------------------------------------------------------- */

/* What a walk over pages saw. */
struct seen {
	unsigned ids[256];
	size_t n;
	size_t page;             /* items on the page being read */
	unsigned last;
};

/* Item id, made at ms, is the next one seen. */
static int saw(struct seen *s, const uint8_t id[STATE_ID_LEN], int64_t ms)
{
	assert_true(s->n < 256);
	assert_int_equal(ms, 1000 + num_of(id));
	s->ids[s->n++] = s->last = num_of(id);
	s->page++;
	return 0;
}

static int saw_outbox(const uint8_t id[STATE_ID_LEN], const state_outbox_item *it, void *ctx)
{
	return saw(ctx, id, it->created_ms);
}

static int saw_inbox(const uint8_t id[STATE_ID_LEN], const state_inbox_item *it, void *ctx)
{
	return saw(ctx, id, it->received_ms);
}

/* The items of the store the page tests read: N_OUT outbox items written
 * out of order, item i in state 1 + i % 4 but none paused among the first
 * ten; N_IN inbox items, every third acknowledged. */
#define N_OUT 41
#define N_IN 29

static int ob_state(unsigned i)
{
	int st = 1 + (int)(i % 4);

	return i < 10 && st == OB(PAUSED) ? OB(PENDING) : st;
}

static void fill(struct st *t)
{
	for (unsigned k = 0; k < N_OUT; k++) {
		unsigned i = k * 17 % N_OUT;   /* 17 and 41 are coprime: each once */

		put_outbox(t, i, OB(PENDING));
		if (ob_state(i) != OB(PENDING))
			put_outbox(t, i, ob_state(i));
	}
	for (unsigned k = 0; k < N_IN; k++) {
		unsigned i = k * 7 % N_IN;

		put_inbox(t, i, false);
		if (i % 3 == 0)
			put_inbox(t, i, true);
	}
}

/* A list: outbox (all when ob is 0, else one state) or inbox (unacked). */
struct list {
	bool inbox;
	int ob;
	bool unacked;
};

static bool in_list(const struct list *l, unsigned i)
{
	if (l->inbox)
		return i < N_IN && (!l->unacked || i % 3 != 0);
	return i < N_OUT && (!l->ob || ob_state(i) == l->ob);
}

/* Read list l page by page, limit a page, from after `from` (-1: from the
 * start), and fail unless every item in it came once, in id order, each
 * page full but the last, and `more` said so on every page but the last. */
static void pages_hold_all(state *s, const struct list *l, size_t limit, int from)
{
	struct seen seen = { 0 };
	uint8_t after[STATE_ID_LEN];
	bool more = true, started = from >= 0;
	size_t want = 0, pages = 0;

	if (started)
		id_of((unsigned)from, after);
	while (more) {
		seen.page = 0;
		assert_true(pages++ < 300);
		if (l->inbox)
			assert_int_equal(state_inbox_page(s, l->unacked, started ? after : NULL, limit,
							  saw_inbox, &seen, &more, NULL), 0);
		else
			assert_int_equal(state_outbox_page(s, l->ob, started ? after : NULL, limit,
							   saw_outbox, &seen, &more, NULL), 0);
		assert_true(seen.page <= limit);
		if (more)
			assert_int_equal(seen.page, limit);
		if (seen.page) {
			id_of(seen.last, after);
			started = true;
		}
		if (!more && seen.page == 0)
			assert_int_equal(pages, 1);   /* only an empty list has an empty page */
	}
	for (unsigned i = 0; i < 300; i++)
		if ((from < 0 || (int)i > from) && in_list(l, i)) {
			assert_true(want < seen.n);
			assert_int_equal(seen.ids[want], i);
			want++;
		}
	assert_int_equal(seen.n, want);
}

struct page_case {
	const char *name;
	struct list list;
};

static const struct page_case page_cases[] = {
	{ "pages: the whole outbox", { .ob = 0 } },
	{ "pages: the outbox, pending", { .ob = OB(PENDING) } },
	{ "pages: the outbox, delivered", { .ob = OB(DELIVERED) } },
	{ "pages: the outbox, refused", { .ob = OB(REFUSED) } },
	{ "pages: the outbox, paused", { .ob = OB(PAUSED) } },
	{ "pages: the whole inbox", { .inbox = true } },
	{ "pages: the inbox, unacknowledged", { .inbox = true, .unacked = true } },
};

static void test_pages(void **cm)
{
	const struct page_case *c = *cm;
	static const size_t limits[] = { 1, 2, 7, 10, 11, 100, 1000 };
	struct st t = { 0 };

	st_open(&t);
	fill(&t);
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		pages_hold_all(t.s, &c->list, limits[i], -1);
		pages_hold_all(t.s, &c->list, limits[i], 12);   /* after an id */
		pages_hold_all(t.s, &c->list, limits[i], 13);
		pages_hold_all(t.s, &c->list, limits[i], 299);  /* after the last */
	}
	st_close(&t);
}

static int stop_at_two(const uint8_t id[STATE_ID_LEN], const state_outbox_item *it, void *ctx)
{
	return ++*(int *)ctx == 2 ? 42 : 0;
}

static void test_page_edges(void **cm)
{
	struct st t = { 0 };
	struct seen seen = { 0 };
	uint8_t after[STATE_ID_LEN];
	accord_error e = { 0 };
	bool more = true;
	int n = 0;

	st_open(&t);
	/* An empty store: an empty page, nothing more. */
	assert_int_equal(state_outbox_page(t.s, 0, NULL, 10, saw_outbox, &seen, &more, NULL), 0);
	assert_int_equal(seen.n, 0);
	assert_false(more);
	fill(&t);
	/* An id that is no item's starts the page after where it would be. */
	id_of(3, after);
	after[15] = 0xff;
	assert_int_equal(state_inbox_page(t.s, false, after, 2, saw_inbox, &seen, &more, NULL), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], 4);
	assert_int_equal(seen.ids[1], 5);
	assert_true(more);
	/* A visitor's stop is returned. */
	assert_int_equal(state_outbox_page(t.s, 0, NULL, 10, stop_at_two, &n, &more, NULL), 42);
	/* No such state. */
	assert_int_equal(state_outbox_page(t.s, 9, NULL, 10, saw_outbox, &seen, &more, &e),
			 ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "no outbox state 9"));
	st_close(&t);
}

/* An item that no longer unpacks (a damaged store) stops a walk with an
 * error that names it. */
static void test_damaged_item(void **cm)
{
	struct st t = { 0 };
	struct seen seen = { 0 };
	uint8_t id[STATE_ID_LEN], junk[] = { 0xff, 0xff, 0xff };
	char want[80];
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { STATE_ID_LEN, id }, v = { sizeof junk, junk };
	accord_error e = { 0 };
	bool more;

	st_open(&t);
	fill(&t);
	id_of(7, id);
	assert_int_equal(mdb_txn_begin(store_env(t.st), NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(state_outbox_page(t.s, 0, NULL, 100, saw_outbox, &seen, &more, &e),
			 ACCORD_EPARSE);
	snprintf(want, sizeof want, "the stored OutboxItem 0100000000%02x%02x00000000000000005a "
		 "does not unpack", id[5], id[6]);
	if (!strstr(e.msg, want))
		fail_msg("%s", e.msg);
	st_close(&t);
}

/* ---- envelopes kept apart ------------------------------------------------------- */

struct put_item {
	state *s;
	const state_outbox_item *it;
};

/* Put it as outbox item (created_ms - 1000), through state_outbox_put. */
static int put_item(MDB_txn *txn, void *ctx, accord_error *e)
{
	const struct put_item *p = ctx;
	uint8_t id[STATE_ID_LEN];

	id_of((unsigned)(p->it->created_ms - 1000), id);
	return state_outbox_put(p->s, txn, id, p->it, e);
}

struct took {
	unsigned n;
	char env[4][16];
};

static int take_pending(const uint8_t id[STATE_ID_LEN], state_outbox_item **item, void *ctx)
{
	struct took *t = ctx;

	if (t->n < 4)
		snprintf(t->env[t->n++], sizeof t->env[0], "%.*s", (int)(*item)->envelope.len,
			 (*item)->envelope.data ? (const char *)(*item)->envelope.data : "");
	return 0;
}

/* The raw value of key id in the named database, or 0 bytes when none. */
static size_t raw_size(struct st *t, const char *db, const uint8_t id[STATE_ID_LEN])
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { STATE_ID_LEN, (void *)id }, v = { 0, NULL };

	assert_int_equal(mdb_txn_begin(store_env(t->st), NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (mdb_get(txn, dbi, &k, &v) != 0)
		v.mv_size = 0;
	mdb_txn_abort(txn);
	return v.mv_size;
}

/* An outbox item is stored without its envelope, which is kept once apart
 * and given back with the item; an item written with its envelope inside
 * (as before) reads the same, and its next rewrite moves it apart; an item
 * whose envelope is gone is an error naming it. */
static void test_envelopes_apart(void **cm)
{
	struct st t = { 0 };
	state_outbox_item it = ACCORD__STATE__OUTBOX_ITEM__INIT, *got = NULL;
	uint8_t id[STATE_ID_LEN], packed[256];
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { STATE_ID_LEN, id }, v;
	struct took took = { 0 };
	accord_error e = { 0 };

	st_open(&t);
	/* Item 1, written now: the envelope apart, the item without it. */
	it.recipient = "council";
	it.state = OB(PENDING);
	it.created_ms = 1001;
	it.envelope = (ProtobufCBinaryData){ 9, (uint8_t *)"envelope1" };
	assert_int_equal(store_write(t.st, put_item, &(struct put_item){ t.s, &it }, &e), 0);
	id_of(1, id);
	assert_int_equal(raw_size(&t, "outbox_envelopes", id), 9);
	it.envelope = (ProtobufCBinaryData){ 0, NULL };
	assert_int_equal(raw_size(&t, "outbox", id), protobuf_c_message_get_packed_size(&it.base));
	assert_int_equal(state_outbox_get(t.s, id, &got, &e), 0);
	assert_int_equal(got->envelope.len, 9);
	assert_memory_equal(got->envelope.data, "envelope1", 9);
	/* Rewritten as read, envelope and all (as settling does): the
	 * envelope apart is kept, the item stays without it. */
	got->attempts = 1;
	assert_int_equal(store_write(t.st, put_item, &(struct put_item){ t.s, got }, &e), 0);
	assert_int_equal(raw_size(&t, "outbox_envelopes", id), 9);
	got->envelope.len = 0;
	assert_int_equal(raw_size(&t, "outbox", id), protobuf_c_message_get_packed_size(&got->base));
	got->envelope.len = 9;
	state_free(got);
	got = NULL;

	/* Item 2, as an earlier version wrote it: the envelope inside. */
	it.created_ms = 1002;
	it.envelope = (ProtobufCBinaryData){ 9, (uint8_t *)"envelope2" };
	id_of(2, id);
	assert_true(protobuf_c_message_get_packed_size(&it.base) <= sizeof packed);
	v = (MDB_val){ protobuf_c_message_pack(&it.base, packed), packed };
	assert_int_equal(mdb_txn_begin(store_env(t.st), NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_dbi_open(txn, "outbox_pending", 0, &dbi), 0);
	v = (MDB_val){ 0, NULL };
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(raw_size(&t, "outbox_envelopes", id), 0);
	assert_int_equal(state_outbox_each_pending(t.s, NULL, take_pending, &took, &e), 0);
	assert_int_equal(took.n, 2);
	assert_string_equal(took.env[0], "envelope1");
	assert_string_equal(took.env[1], "envelope2");
	/* Its next rewrite moves the envelope apart. */
	assert_int_equal(store_write(t.st, put_item, &(struct put_item){ t.s, &it }, &e), 0);
	assert_int_equal(raw_size(&t, "outbox_envelopes", id), 9);
	it.envelope = (ProtobufCBinaryData){ 0, NULL };
	assert_int_equal(raw_size(&t, "outbox", id), protobuf_c_message_get_packed_size(&it.base));

	/* Item 1's envelope gone: reading it says which item and why. */
	id_of(1, id);
	assert_int_equal(mdb_txn_begin(store_env(t.st), NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "outbox_envelopes", 0, &dbi), 0);
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(state_outbox_get(t.s, id, &got, &e), ACCORD_EPARSE);
	assert_null(got);
	if (!strstr(e.msg, "the outbox item 0100000000000100000000000000005a has no envelope"))
		fail_msg("%s", e.msg);
	took.n = 0;
	assert_int_equal(state_outbox_each_pending(t.s, NULL, take_pending, &took, &e),
			 ACCORD_EPARSE);
	st_close(&t);
}

/* ---- a store written before the indexes ------------------------------------- */

static const char *const all_indexes[] = {
	"outbox_pending", "outbox_delivered", "outbox_refused", "outbox_paused",
	"inbox_unacked", NULL,
};

/* Delete the named indexes from the store in dir, as LMDB sees it: the
 * store as an earlier version left it. */
static void drop_indexes(const char *dir, const char *const *names)
{
	store *st;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(store_open(dir, NULL, &st, NULL), 0);
	assert_int_equal(mdb_txn_begin(store_env(st), NULL, 0, &txn), 0);
	for (; *names; names++) {
		assert_int_equal(mdb_dbi_open(txn, *names, 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	store_close(st);
}

struct reindex_case {
	const char *name;
	const char *drop[6];
	size_t reindexed;     /* items read to build them */
};

static const struct reindex_case reindex_cases[] = {
	{ "reindex: a store with no index", { "outbox_pending", "outbox_delivered",
	  "outbox_refused", "outbox_paused", "inbox_unacked" }, N_OUT + N_IN },
	{ "reindex: a store with only the pending index", { "outbox_delivered",
	  "outbox_refused", "outbox_paused", "inbox_unacked" }, N_OUT + N_IN },
	{ "reindex: a store without the inbox's index", { "inbox_unacked" }, N_IN },
	{ "reindex: a store without the refused items' index", { "outbox_refused" }, N_OUT },
	{ "reindex: a store with every index", { NULL }, 0 },
};

static void test_reindex(void **cm)
{
	const struct reindex_case *c = *cm;
	struct st t = { 0 };
	size_t pending = 0, delivered = 0, refused = 0, paused = 0, unacked = 0;

	for (unsigned i = 0; i < N_OUT; i++) {
		pending += ob_state(i) == OB(PENDING);
		delivered += ob_state(i) == OB(DELIVERED);
		refused += ob_state(i) == OB(REFUSED);
		paused += ob_state(i) == OB(PAUSED);
	}
	for (unsigned i = 0; i < N_IN; i++)
		unacked += i % 3 != 0;
	st_open(&t);
	fill(&t);
	st_shut(&t);
	drop_indexes(t.dir, c->drop);
	st_open(&t);
	assert_int_equal(state_reindexed(t.s), c->reindexed);
	counts_are(t.s, N_OUT, pending, delivered, refused, paused, N_IN, unacked);
	for (size_t i = 0; i < sizeof page_cases / sizeof page_cases[0]; i++)
		pages_hold_all(t.s, &page_cases[i].list, 5, -1);
	/* Built once: the next open finds them all. */
	st_shut(&t);
	st_open(&t);
	assert_int_equal(state_reindexed(t.s), 0);
	counts_are(t.s, N_OUT, pending, delivered, refused, paused, N_IN, unacked);
	st_close(&t);
}

/* A read-only store cannot build an index: it says which one is missing. */
static void test_reindex_read_only(void **cm)
{
	struct st t = { 0 };
	store_options ro = { .read_only = true };
	accord_error e = { 0 };

	st_open(&t);
	fill(&t);
	st_shut(&t);
	drop_indexes(t.dir, all_indexes + 4);
	assert_int_equal(store_open(t.dir, &ro, &t.st, NULL), 0);
	assert_int_equal(state_open(t.st, &t.s, &e), ACCORD_ENOTFOUND);
	assert_non_null(strstr(e.msg, "'inbox_unacked'"));
	st_close(&t);
}

/* ---- the store's format marker -------------------------------------------- */

/* Set the marker in dir's store to bytes (NULL: delete the "store"
 * database, as a store written before the marker), under LMDB's API. */
static MDB_env *raw_env(const char *dir)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, STORE_MAX_DBS), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	return env;
}

static void set_format(const char *dir, const void *bytes, size_t len)
{
	MDB_env *env = raw_env(dir);
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v = { len, (void *)bytes };

	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "store", 0, &dbi), 0);
	if (bytes)
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static uint32_t get_format(const char *dir)
{
	MDB_env *env = raw_env(dir);
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v;
	uint32_t f = 0;

	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	if (mdb_dbi_open(txn, "store", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &v) == 0) {
		const uint8_t *b = v.mv_data;

		assert_int_equal(v.mv_size, 4);
		f = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return f;
}

/* A new store is marked; an unmarked (older) one is read as it is and
 * marked at its first writable open; a newer or damaged one is refused by
 * every open, saying why, and left as it was. */
static void test_store_format(void **cm)
{
	struct st t = { 0 };
	store_options ro = { .read_only = true };
	static const uint8_t newer[4] = { 0, 0, 0, STORE_FORMAT + 1 };
	static const uint8_t damaged[5] = { 0, 0, 0, STORE_FORMAT, 0 };
	accord_error e = { 0 };
	store *st = NULL;

	st_open(&t);
	fill(&t);
	st_shut(&t);
	assert_int_equal(get_format(t.dir), STORE_FORMAT);

	set_format(t.dir, NULL, 0);
	assert_int_equal(get_format(t.dir), 0);
	assert_int_equal(store_open(t.dir, &ro, &st, &e), 0);
	store_close(st);
	assert_int_equal(get_format(t.dir), 0);      /* a reader changes nothing */
	st_open(&t);
	st_shut(&t);
	assert_int_equal(get_format(t.dir), STORE_FORMAT);

	set_format(t.dir, newer, sizeof newer);
	for (int read_only = 0; read_only < 2; read_only++) {
		store_options o = { .read_only = read_only };

		st = NULL;
		assert_int_equal(store_open(t.dir, &o, &st, &e), ACCORD_EINVAL);
		assert_null(st);
		assert_non_null(strstr(e.msg, "the store is in format 4, written by a "
					"newer version of Accord; this version reads formats "
					"up to 3"));
	}
	assert_int_equal(get_format(t.dir), STORE_FORMAT + 1);

	set_format(t.dir, damaged, sizeof damaged);
	assert_int_equal(store_open(t.dir, NULL, &st, &e), ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "the store's format marker is 5 bytes, not 4: the "
				"store is damaged"));
	set_format(t.dir, (const uint8_t[]){ 0, 0, 0, STORE_FORMAT }, 4);
	st_open(&t);
	st_close(&t);
}

int main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_store_format),
		cmocka_unit_test(test_counts_follow_puts),
		cmocka_unit_test(test_ordered_pages),
		cmocka_unit_test(test_page_edges),
		cmocka_unit_test(test_damaged_item),
		cmocka_unit_test(test_envelopes_apart),
		cmocka_unit_test(test_reindex_read_only),
	};
	const th_table tables[] = {
		TH_TABLE(page_cases, test_pages),
		TH_TABLE(reindex_cases, test_reindex),
	};

	return th_run("state", fixed, sizeof fixed / sizeof fixed[0], tables,
		      sizeof tables / sizeof tables[0], NULL, NULL);
}
