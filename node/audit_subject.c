/*
 * audit_subject.c - the audit log's subject index: from a subject's
 * pseudonym to the sequence numbers of the entries about them.
 *
 * Pseudonyms are uniformly random HMACs, so an index ordered by pseudonym
 * alone puts each entry of a batch on its own leaf page: a durable commit
 * of 100 entries then writes some 100 scattered index pages beside a dozen
 * pages of entries and tree, and the disk's sync of those pages is most of
 * the commit's time. So the index is kept in sorted runs, each covering an
 * aligned range of sequence numbers, as a log-structured merge tree would:
 *
 *   key = start (BE64) | level (1 byte) | pseudonym (32) | seq (BE64)
 *
 * A run of level L covers the RUN_SIZE(L) entries from start, a multiple of
 * RUN_SIZE(L). New entries go to the level-0 run of their 256-entry block,
 * a few neighbouring pages. When the log's growth completes a block of
 * level L+1, its 16 runs of level L are merged into one run of level L+1;
 * the top level's runs are never merged. Which runs exist follows from the
 * log's size alone (see audit_subject_entries), so a query seeks each run
 * in turn: at 1M
 * entries about 20 seeks, against one for a single ordered index, and
 * a commit writes a handful of index pages instead of one an entry.
 *
 * Stores written before the runs kept the index in "audit_subject", ordered
 * by pseudonym with the sequences as duplicates; audit_subject_open moves
 * it into the runs at the first writable open and deletes it, so that an
 * older build fails to open the store's index rather than find it empty.
 */
#include <errno.h>

#include "audit_internal.h"

#define RUN_LEVELS 3                          /* 256, 4,096, 65,536 entries */
#define RUN_SIZE(l) ((uint64_t)256 << (4 * (l)))
#define KEY_LEN (8 + 1 + AUDIT_HASH_LEN + 8)
#define PREFIX_LEN (8 + 1 + AUDIT_HASH_LEN)

static void run_key(uint64_t start, unsigned level, const uint8_t p[AUDIT_HASH_LEN],
		    uint64_t seq, uint8_t key[KEY_LEN])
{
	audit_be64(start, key);
	key[8] = (uint8_t)level;
	memcpy(key + 9, p, AUDIT_HASH_LEN);
	audit_be64(seq, key + PREFIX_LEN);
}

/* The run that holds entry seq in a log of size entries: the highest level
 * whose block around seq is complete, else the level-0 block. */
static void run_of(uint64_t seq, uint64_t size, uint64_t *start, unsigned *level)
{
	for (unsigned l = RUN_LEVELS - 1; l > 0; l--) {
		uint64_t s = seq - seq % RUN_SIZE(l);

		if (s + RUN_SIZE(l) <= size) {
			*start = s;
			*level = l;
			return;
		}
	}
	*start = seq - seq % RUN_SIZE(0);
	*level = 0;
}

/* Pairs in a run's key order: pseudonym, then sequence. */
static int by_subject(const void *x, const void *y)
{
	const struct audit_subject_put *p = x, *q = y;
	int c = memcmp(p->subject, q->subject, AUDIT_HASH_LEN);

	return c ? c : (p->seq > q->seq) - (p->seq < q->seq);
}

/* Pairs in the order audit_subject_index puts them: level-0 block first. */
static int by_key(const void *x, const void *y)
{
	const struct audit_subject_put *p = x, *q = y;
	uint64_t bp = p->seq / RUN_SIZE(0), bq = q->seq / RUN_SIZE(0);

	return bp != bq ? (bp < bq ? -1 : 1) : by_subject(x, y);
}

void audit_subject_sort(struct audit_subject_put *p, size_t n)
{
	qsort(p, n, sizeof *p, by_key);
}

/* Room in the array at *arr (elements of size bytes, *cap of them) for
 * one more after n, doubling from first; ENOMEM. */
static int reserve(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	void **a = arr;
	size_t want = *cap ? *cap * 2 : first;
	void *m;

	if (n < *cap)
		return 0;
	m = reallocarray(*a, want, size);
	if (!m)
		return ENOMEM;
	*a = m;
	*cap = want;
	return 0;
}

/* Append the pair (subject, seq) to *out, of *n. */
static int push_pair(struct audit_subject_put **out, size_t *n, size_t *cap,
		     const uint8_t *subject, uint64_t seq)
{
	int rc = reserve(out, cap, *n, sizeof **out, 4096);

	if (rc == 0) {
		memcpy((*out)[*n].subject, subject, AUDIT_HASH_LEN);
		(*out)[(*n)++].seq = seq;
	}
	return rc;
}

static int put_key(MDB_txn *txn, MDB_dbi db, const uint8_t key[KEY_LEN])
{
	MDB_val k = { KEY_LEN, (void *)key }, v = { 0, NULL };

	return mdb_put(txn, db, &k, &v, 0);
}

/* Reverse the n elements of size bytes at p. */
static void reverse(void *p, size_t n, size_t size)
{
	uint8_t *a = p;

	for (size_t i = 0; i < n / 2; i++) {
		uint8_t *x = a + i * size, *y = a + (n - 1 - i) * size;

		for (size_t b = 0; b < size; b++) {
			uint8_t t = x[b];

			x[b] = y[b];
			y[b] = t;
		}
	}
}

/* Where each run begins in an array of pairs. */
struct run_starts {
	size_t *at, n, cap;
};

/* Take out every index key whose run starts in [from, to); the pairs
 * taken are appended to *out (grown as needed), in key order. With rs,
 * where each run begins among them is appended to rs. The range
 * is walked from its end, deleting as the cursor goes: a key deleted at
 * the end of its page moves no other, where one at the start would shift
 * every key after it. */
static int take_range(MDB_txn *txn, MDB_dbi db, uint64_t from, uint64_t to,
		      struct audit_subject_put **out, size_t *n, size_t *cap,
		      struct run_starts *rs)
{
	MDB_cursor *c;
	uint8_t end[8], run[9] = { 0 };
	MDB_val k = { sizeof end, end }, v;
	size_t first = *n, first_at = rs ? rs->n : 0;
	int rc = mdb_cursor_open(txn, db, &c);

	if (rc != 0)
		return rc;
	audit_be64(to, end);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		const uint8_t *key = k.mv_data;

		if (k.mv_size != KEY_LEN) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (audit_get_be64(key) < from || audit_get_be64(key) >= to)
			break;
		if (rs && (rs->n == first_at || memcmp(run, key, sizeof run) != 0)) {
			memcpy(run, key, sizeof run);
			rc = reserve(&rs->at, &rs->cap, rs->n, sizeof *rs->at, 32);
			if (rc == 0)
				rs->at[rs->n++] = *n - first;
		}
		if (rc == 0)
			rc = push_pair(out, n, cap, key + 9, audit_get_be64(key + PREFIX_LEN));
		if (rc == 0)
			rc = mdb_cursor_del(c, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	/* Taken from the end: put in key order. Of the m taken, a run taken
	 * from i up to the next run's j begins at m - j once turned round. */
	reverse(*out + first, *n - first, sizeof **out);
	if (rs && rs->n > first_at) {
		size_t m = *n - first;

		for (size_t i = first_at; i + 1 < rs->n; i++)
			rs->at[i] = m - rs->at[i + 1];
		rs->at[rs->n - 1] = 0;
		reverse(rs->at + first_at, rs->n - first_at, sizeof *rs->at);
	}
	return 0;
}

/*
 * The r runs in p, each in by_subject order (run i from at[i] to at[i + 1];
 * at[r] is the count), merged into one: neighbours two by two, pass by
 * pass, between p and tmp, so about n log2(r) comparisons where a sort of
 * the whole takes n log2(n). Returns whichever of p and tmp holds it.
 */
static struct audit_subject_put *merge_runs(struct audit_subject_put *p,
					    struct audit_subject_put *tmp, size_t *at, size_t r)
{
	while (r > 1) {
		size_t k = 0;
		struct audit_subject_put *swap;

		for (size_t i = 0; i < r; i += 2) {
			size_t x = at[i], mid = at[i + 1], end = i + 1 < r ? at[i + 2] : mid;
			size_t y = mid, o = x;

			while (x < mid && y < end)
				tmp[o++] = by_subject(&p[x], &p[y]) <= 0 ? p[x++] : p[y++];
			while (x < mid)
				tmp[o++] = p[x++];
			while (y < end)
				tmp[o++] = p[y++];
			at[k++] = at[i];
		}
		at[k] = at[r];
		r = k;
		swap = p;
		p = tmp;
		tmp = swap;
	}
	return p;
}

static int by_bytes(const void *x, const void *y)
{
	return memcmp(x, y, KEY_LEN);
}

/* Put n keys (KEY_LEN bytes each, ascending, none twice) into db. When
 * the first comes after every key there, as a merged run's do, they go in
 * by MDB_APPEND, with no search from the root for each; else one at a
 * time. */
static int put_sorted(MDB_txn *txn, MDB_dbi db, const uint8_t *keys, size_t n)
{
	MDB_cursor *c;
	MDB_val k, v = { 0, NULL };
	unsigned flags = MDB_APPEND;
	int rc;

	if (n == 0)
		return 0;
	rc = mdb_cursor_open(txn, db, &c);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && (k.mv_size != KEY_LEN || memcmp(k.mv_data, keys, KEY_LEN) >= 0))
		flags = 0;
	if (rc == MDB_NOTFOUND)
		rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		k = (MDB_val){ KEY_LEN, (void *)(keys + i * KEY_LEN) };
		v = (MDB_val){ 0, NULL };
		rc = mdb_cursor_put(c, &k, &v, flags);
	}
	mdb_cursor_close(c);
	return rc;
}

/* Merge the runs inside [start, start + RUN_SIZE(level)) into one run of
 * that level. */
static int merge(MDB_txn *txn, MDB_dbi db, uint64_t start, unsigned level)
{
	struct audit_subject_put *all = NULL, *tmp = NULL, *sorted;
	struct run_starts rs = { 0 };
	uint8_t *keys = NULL;
	size_t n = 0, cap = 0;
	int rc = take_range(txn, db, start, start + RUN_SIZE(level), &all, &n, &cap, &rs);

	if (rc != 0 || n == 0)
		goto out;
	tmp = reallocarray(NULL, n, sizeof *tmp);
	keys = reallocarray(NULL, n, KEY_LEN);
	if (!tmp || !keys || reserve(&rs.at, &rs.cap, rs.n, sizeof *rs.at, 32) != 0) {
		rc = ENOMEM;
		goto out;
	}
	rs.at[rs.n] = n;
	sorted = merge_runs(all, tmp, rs.at, rs.n);
	for (size_t i = 0; i < n; i++)
		run_key(start, level, sorted[i].subject, sorted[i].seq, keys + i * KEY_LEN);
	rc = put_sorted(txn, db, keys, n);
out:
	free(keys);
	free(tmp);
	free(rs.at);
	free(all);
	return rc;
}

/* A level-0 block at a time (p is in that order, audit_subject_sort): its
 * pairs, then the merges its end completes, smallest level first (a
 * level's merge finds only complete runs of the level below). No key of a
 * later block is there yet, so a merged run's keys are the index's last
 * and go in by MDB_APPEND. */
int audit_subject_index(audit *a, MDB_txn *txn, const struct audit_subject_put *p,
			size_t n, uint64_t from, uint64_t to)
{
	uint8_t key[KEY_LEN];
	size_t i = 0;
	int rc = 0;

	for (uint64_t b = from - from % RUN_SIZE(0); rc == 0 && b < to; b += RUN_SIZE(0)) {
		uint64_t end = b + RUN_SIZE(0);

		for (; rc == 0 && i < n && p[i].seq < end; i++) {
			run_key(b, 0, p[i].subject, p[i].seq, key);
			rc = put_key(txn, a->db.subject_runs, key);
		}
		for (unsigned l = 1; rc == 0 && l < RUN_LEVELS && end <= to &&
				     end % RUN_SIZE(l) == 0; l++)
			rc = merge(txn, a->db.subject_runs, end - RUN_SIZE(l), l);
	}
	return rc;
}

/* Append the sequences under key prefix (start, level, p) to out. */
static int read_run(MDB_cursor *c, uint64_t start, unsigned level,
		    const uint8_t p[AUDIT_HASH_LEN], uint64_t **out, size_t *n,
		    size_t *cap)
{
	uint8_t prefix[KEY_LEN];
	MDB_val k = { PREFIX_LEN, prefix }, v;
	int rc;

	run_key(start, level, p, 0, prefix);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != KEY_LEN || memcmp(k.mv_data, prefix, PREFIX_LEN) != 0)
			return 0;
		if (reserve(out, cap, *n, sizeof **out, 16) != 0)
			return ENOMEM;
		(*out)[(*n)++] = audit_get_be64((const uint8_t *)k.mv_data + PREFIX_LEN);
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The index of a store not yet upgraded (read-only opens of an old store):
 * pseudonym -> sequences, MDB_DUPSORT | MDB_DUPFIXED. */
static int read_old(MDB_cursor *c, const uint8_t p[AUDIT_HASH_LEN], uint64_t **out,
		    size_t *n, size_t *cap)
{
	MDB_val k = { AUDIT_HASH_LEN, (void *)p }, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET);

	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_MULTIPLE);
	/* DUPFIXED: whole pages of sequences at a time. */
	while (rc == 0) {
		for (size_t i = 0; i < v.mv_size / 8; i++) {
			if (reserve(out, cap, *n, sizeof **out, 16) != 0)
				return ENOMEM;
			(*out)[(*n)++] = audit_get_be64((const uint8_t *)v.mv_data + 8 * i);
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_MULTIPLE);
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int audit_subject_entries(audit *a, const uint8_t pseudonym[AUDIT_HASH_LEN],
			  uint64_t **seqs, size_t *n, accord_error *e)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	uint64_t *out = NULL, size = 0, pos = 0;
	size_t have = 0, cap = 0;
	int rc = store_read_begin(a->st, &txn, e);

	if (rc != 0)
		return rc;
	if (a->has_old_subject) {
		rc = mdb_cursor_open(txn, a->db.subject, &c);
		if (rc == 0)
			rc = read_old(c, pseudonym, &out, &have, &cap);
		mdb_cursor_close(c);
		c = NULL;
	}
	if (rc == 0 && a->has_subject_runs) {
		rc = audit_size_in(a, txn, &size);
		if (rc == 0)
			rc = mdb_cursor_open(txn, a->db.subject_runs, &c);
	}
	/* The runs of a log of this size, in sequence order (see run_of). */
	for (unsigned l = RUN_LEVELS; rc == 0 && c && l-- > 0;)
		for (; rc == 0 && pos + (l ? RUN_SIZE(l) : 1) <= size; pos += RUN_SIZE(l))
			rc = read_run(c, pos, l, pseudonym, &out, &have, &cap);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (rc != 0) {
		free(out);
		return store_fail(e, rc, "reading the subject index");
	}
	*seqs = out;
	*n = have;
	return 0;
}

/* Every index pair of the old index and of the runs, put back where a log
 * of size entries keeps them; the old index deleted. When it holds no pair
 * (a store an older node opened only to create it), only the latter. */
static int rebuild(MDB_txn *txn, void *ctx, accord_error *e)
{
	audit *a = ctx;
	struct audit_subject_put *all = NULL;
	size_t n = 0, cap = 0;
	uint64_t size;
	uint8_t *keys = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc = a->has_old_subject ? audit_size_in(a, txn, &size) : MDB_NOTFOUND;

	if (rc == 0)
		rc = take_range(txn, a->db.subject_runs, 0, UINT64_MAX, &all, &n, &cap, NULL);
	if (rc == 0)
		rc = mdb_cursor_open(txn, a->db.subject, &c);
	for (rc = rc ? rc : mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != AUDIT_HASH_LEN || v.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		rc = push_pair(&all, &n, &cap, k.mv_data, audit_get_be64(v.mv_data));
		if (rc != 0)
			break;
	}
	if (c)
		mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	/* Gone, not emptied: an older build then fails to open the store's
	 * index instead of finding nobody in it. */
	if (rc == 0)
		rc = mdb_drop(txn, a->db.subject, 1);
	/* In key order: the runs fill their pages one after another. */
	if (rc == 0 && n > 0) {
		keys = reallocarray(NULL, n, KEY_LEN);
		rc = keys ? 0 : ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t start;
		unsigned level;

		run_of(all[i].seq, size, &start, &level);
		run_key(start, level, all[i].subject, all[i].seq, keys + i * KEY_LEN);
	}
	if (rc == 0 && n > 0) {
		qsort(keys, n, KEY_LEN, by_bytes);
		rc = put_sorted(txn, a->db.subject_runs, keys, n);
	}
	free(keys);
	free(all);
	return rc ? store_fail(e, rc, "moving the subject index into runs") : 0;
}

int audit_subject_open(audit *a, accord_error *e)
{
	MDB_txn *txn;
	MDB_stat st;
	accord_error why = { 0 };
	int rc = store_db(a->st, "audit_subject_runs", 0, &a->db.subject_runs, &why);

	if (rc == 0)
		a->has_subject_runs = true;
	else if (rc == ACCORD_ENOTFOUND && store_read_only(a->st))
		rc = 0; /* an older store, read only: its old index serves */
	if (rc != 0) {
		if (e)
			*e = why;
		return rc;
	}
	rc = store_db_find(a->st, "audit_subject", MDB_DUPSORT | MDB_DUPFIXED,
			   &a->db.subject, &why);
	if (rc == ACCORD_ENOTFOUND)
		return 0;
	if (rc != 0) {
		if (e)
			*e = why;
		return rc;
	}
	rc = store_read_begin(a->st, &txn, e);
	if (rc != 0)
		return rc;
	rc = mdb_stat(txn, a->db.subject, &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return store_fail(e, rc, "reading the old subject index");
	a->has_old_subject = st.ms_entries > 0;
	if (store_read_only(a->st))
		return 0;
	rc = store_write(a->st, rebuild, a, e);
	a->has_old_subject = false;
	return rc;
}
