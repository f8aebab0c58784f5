/*
 * audit_verify.c - check the whole log as a DPO or an auditor would.
 *
 * One pass in key order over audit_entry and, in step, over audit_tree:
 * the tree keys (last leaf, level) come out in exactly the order appends
 * write them, so every stored hash is compared as it is recomputed, with
 * O(log n) memory. Stored checkpoints are met in size order along the way.
 *
 * The leaf hashes, most of the work, are shared with a second thread, a
 * batch ahead of the check (see struct leaves), which pages the log in
 * ahead of the check when it has nothing to hash (see struct ahead); the
 * check itself, every comparison and every report, stays on the calling
 * thread, in order.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "audit_internal.h"

/* What bad() returns to stop the walk: neither an LMDB code (positive) nor
 * an ACCORD_E* code. */
#define VERIFY_STOP (-1000)

/*
 * Leaf hashes on two threads. The check reads entries in batches and hands
 * each batch (pointers into LMDB's map, valid until the read transaction
 * ends) to a hasher thread; while the hasher works, the check reads the
 * next batch, then hashes what the hasher has not yet claimed, then folds
 * the hashed batch into the tree as the hasher starts on the next. Each
 * thread hashes with its own merkle_hasher; only the check touches the
 * cursors, the frontier and the report. Two batches: O(batch) memory.
 */
#define LEAF_BATCH 512
#define LEAF_CHUNK 16              /* leaves a thread claims at a time */

struct leaves {
	size_t n;                   /* entries read into the batch */
	int end;                    /* the cursor's code after them: 0 when full */
	atomic_size_t next;         /* the first leaf not yet claimed */
	uint64_t ticket;            /* its place in the hasher's queue */
	MDB_val k[LEAF_BATCH], v[LEAF_BATCH];
	int rc[LEAF_BATCH];         /* each leaf hash's outcome */
	uint8_t h[LEAF_BATCH][AUDIT_HASH_LEN];
};

struct vstate {
	audit *a;
	audit_report *r;
	MDB_cursor *tree, *ckpt;
	const uint8_t *pub;
	uint8_t frontier[64][AUDIT_HASH_LEN];
	uint64_t size;              /* entries checked so far */
	bool more_ckpt;             /* ckpt cursor sits on an unchecked one */
	MDB_val ck, cv;
	const audit_note *ext;
	bool ext_checked;
	struct leaves batch[2];
};

static int bad(struct vstate *s, bool has_seq, uint64_t seq, const char *fmt, ...)
	ACCORD_PRINTF(4, 5);

static int bad(struct vstate *s, bool has_seq, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	s->r->ok = false;
	s->r->bad_has_seq = has_seq;
	s->r->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(s->r->why, sizeof s->r->why, fmt, ap);
	va_end(ap);
	return VERIFY_STOP;
}

/* The root of the s->size entries seen so far, from the frontier. */
static int frontier_root(struct vstate *s, uint8_t out[AUDIT_HASH_LEN])
{
	bool have = false;
	int rc;

	/* RFC 9162: the hash of an empty tree is SHA-256 of nothing. */
	static const uint8_t empty[AUDIT_HASH_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
		0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};

	if (s->size == 0) {
		memcpy(out, empty, AUDIT_HASH_LEN);
		return 0;
	}
	for (unsigned l = 0; l < 64; l++) {
		if (!(s->size >> l & 1))
			continue;
		if (!have)
			memcpy(out, s->frontier[l], AUDIT_HASH_LEN);
		else if ((rc = merkle_node(&s->a->h, s->frontier[l], out, out)) != 0)
			return rc;
		have = true;
	}
	return 0;
}

/* Whether entry bytes begin with sequence = seq (field 1, varint), as a
 * proto3 encoder writes it: absent for 0. */
static bool seq_field_ok(const uint8_t *p, size_t len, uint64_t seq)
{
	size_t i = 1;

	if (seq == 0)
		return len == 0 || p[0] != 0x08;
	if (len < 2 || p[0] != 0x08)
		return false;
	while (seq >= 0x80) {
		if (i >= len || p[i++] != (uint8_t)(seq | 0x80))
			return false;
		seq >>= 7;
	}
	return i < len ? p[i] == seq : false;
}

/* Compare the next stored tree hash with (level, index) and h. */
static int check_node(struct vstate *s, unsigned l, uint64_t idx,
		      const uint8_t h[AUDIT_HASH_LEN], uint64_t seq)
{
	uint8_t key[AUDIT_TREE_KEY_LEN];
	MDB_val k, v;
	int rc = mdb_cursor_get(s->tree, &k, &v, MDB_NEXT);

	audit_tree_key(l, idx, key);
	if (rc == MDB_NOTFOUND || (rc == 0 && (k.mv_size != sizeof key ||
					       memcmp(k.mv_data, key, sizeof key) != 0)))
		return bad(s, true, seq, "the stored tree hash at level %u for entry %llu "
			   "is missing or out of place", l, (unsigned long long)seq);
	if (rc != 0)
		return rc;
	if (v.mv_size != AUDIT_HASH_LEN || memcmp(v.mv_data, h, AUDIT_HASH_LEN) != 0)
		return bad(s, true, seq, l == 0 ?
			   "the entry's bytes do not match its stored leaf hash: the "
			   "entry or its hash was changed after it was written" :
			   "a stored subtree hash (level %u) ending at this entry does "
			   "not match the entries below it", l);
	return 0;
}

/* Fold the next entry's leaf hash h into the frontier, checking the stored
 * hashes of the leaf and of each subtree it completes. */
static int add_leaf(struct vstate *s, const uint8_t leaf[AUDIT_HASH_LEN])
{
	uint8_t h[AUDIT_HASH_LEN];
	uint64_t idx = s->size;
	unsigned l = 0;
	int rc;

	memcpy(h, leaf, AUDIT_HASH_LEN);
	for (;;) {
		rc = check_node(s, l, idx, h, s->size);
		if (rc != 0)
			return rc;
		if (!(idx & 1))
			break;
		rc = merkle_node(&s->a->h, s->frontier[l], h, h);
		if (rc != 0)
			return rc;
		idx >>= 1;
		l++;
	}
	memcpy(s->frontier[l], h, AUDIT_HASH_LEN);
	s->size++;
	return 0;
}

/* Check every stored checkpoint of size s->size, and the external one. */
static int at_size(struct vstate *s)
{
	uint8_t root[AUDIT_HASH_LEN];
	audit_note note;
	accord_error e;
	uint64_t size;
	bool need;
	int rc;

	need = (s->ext && s->ext->size == s->size) ||
		    (s->more_ckpt && s->ck.mv_size == 8 &&
		     audit_get_be64(s->ck.mv_data) == s->size);

	/* The root costs O(log n) hashes: only where a checkpoint needs it. */
	if (!need)
		return 0;
	rc = frontier_root(s, root);
	if (rc != 0)
		return rc;
	while (s->more_ckpt && s->ck.mv_size == 8 &&
	       (size = audit_get_be64(s->ck.mv_data)) == s->size) {
		if (!s->pub)
			rc = audit_note_parse(s->cv.mv_data, s->cv.mv_size, &note, &e);
		else
			rc = audit_note_verify(s->cv.mv_data, s->cv.mv_size, s->pub,
					       &note, &e);
		if (rc != 0)
			return bad(s, false, 0, "the stored checkpoint of size %llu is bad: %s",
				   (unsigned long long)size, accord_error_msg(&e));
		if (note.size != size || memcmp(note.root, root, AUDIT_HASH_LEN) != 0)
			return bad(s, size > 0, size ? size - 1 : 0, "the stored checkpoint "
				   "of size %llu does not match the log's first %llu entries",
				   (unsigned long long)size, (unsigned long long)size);
		s->r->checkpoints++;
		rc = mdb_cursor_get(s->ckpt, &s->ck, &s->cv, MDB_NEXT);
		if (rc == MDB_NOTFOUND)
			s->more_ckpt = false;
		else if (rc != 0)
			return rc;
	}
	if (s->ext && s->ext->size == s->size) {
		s->ext_checked = true;
		if (memcmp(s->ext->root, root, AUDIT_HASH_LEN) != 0)
			return bad(s, false, 0, "the log's first %llu entries do not match "
				   "the checkpoint held elsewhere: entries were changed, "
				   "removed or reordered after it was signed",
				   (unsigned long long)s->size);
	}
	return 0;
}

/*
 * Paging in ahead. The first touch of each page of LMDB's map in a process
 * costs about as much as hashing the page on some virtual machines (a fresh
 * mapping, page tables filled on demand): a third of a cold verification
 * here, and all of it on the checking thread, whose cursors reach each page
 * first. So the hasher, whenever it has no batch to hash, walks both
 * databases ahead of the check in a read transaction of its own (LMDB
 * allows one a thread), a few entries at a time. It reads only, gives up
 * on any error, and the check does not rely on it.
 */
#define AHEAD_STEP 64                /* entries paged in between looks at the queue */

struct ahead {
	MDB_txn *txn;
	MDB_cursor *ent, *tree;
	int re, rt;                 /* each cursor's last code */
	volatile uint8_t sink;      /* what the touches read, so they stay */
};

static void ahead_open(struct ahead *w, audit *a)
{
	MDB_val k, v;

	w->re = w->rt = MDB_NOTFOUND;
	if (mdb_txn_begin(store_env(a->st), NULL, MDB_RDONLY, &w->txn) != 0) {
		w->txn = NULL;
		return;
	}
	if (mdb_cursor_open(w->txn, a->db.entry, &w->ent) != 0 ||
	    mdb_cursor_open(w->txn, a->db.tree, &w->tree) != 0)
		return;
	w->re = mdb_cursor_get(w->ent, &k, &v, MDB_FIRST);
	w->rt = mdb_cursor_get(w->tree, &k, &v, MDB_FIRST);
}

/* LMDB's close and abort take NULL. */
static void ahead_close(struct ahead *w)
{
	mdb_cursor_close(w->tree);
	mdb_cursor_close(w->ent);
	mdb_txn_abort(w->txn);
}

static bool ahead_more(const struct ahead *w)
{
	return w->re == 0 || w->rt == 0;
}

/* Page in the next AHEAD_STEP entries and their tree hashes (two an entry,
 * on average). The cursors touch each page they step onto; a value longer
 * than a page lies on pages of its own, touched here. */
static void ahead_step(struct ahead *w)
{
	MDB_val k, v;
	uint8_t x = 0;

	for (int n = 0; n < AHEAD_STEP && ahead_more(w); n++) {
		if (w->re == 0)
			w->re = mdb_cursor_get(w->ent, &k, &v, MDB_NEXT);
		if (w->re == 0) {
			const volatile uint8_t *p = v.mv_data;

			for (size_t off = 4096; off < v.mv_size; off += 4096)
				x ^= p[off];
		}
		for (int i = 0; i < 2 && w->rt == 0; i++)
			w->rt = mdb_cursor_get(w->tree, &k, &v, MDB_NEXT);
	}
	w->sink = x;
}

/* The hasher thread and the batches it was handed. */
struct hasher {
	audit *a;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started;
	bool quit;                  /* under mu */
	struct leaves *queue[2];    /* under mu: handed over, in order */
	uint64_t given, done;       /* under mu: batches handed over, finished */
};

/* LMDB fills a page from its end, so a page's entries lie at falling
 * addresses, which the hardware prefetcher does not follow: ask for the
 * next entry (up to a page of it) while hashing this one. Without this,
 * hashing the entries in place took 1.5 times as long as hashing the same
 * bytes copied out. */
static void prefetch(const MDB_val *v)
{
	const char *p = v->mv_data;
	size_t len = v->mv_size < 4096 ? v->mv_size : 4096;

	for (size_t off = 0; off < len; off += 64)
		__builtin_prefetch(p + off);
}

/* Hash the leaves of b not yet claimed, LEAF_CHUNK at a time. Entries
 * larger than any entry may be are left unhashed: the check refuses them
 * before it would use the hash. */
static void leaves_hash(merkle_hasher *h, struct leaves *b)
{
	size_t i, end;

	while ((i = atomic_fetch_add(&b->next, LEAF_CHUNK)) < b->n) {
		end = b->n - i < LEAF_CHUNK ? b->n : i + LEAF_CHUNK;
		for (; i < end; i++) {
			const MDB_val *v = &b->v[i];

			if (i + 1 < end)
				prefetch(&b->v[i + 1]);
			b->rc[i] = v->mv_size > AUDIT_ENTRY_MAX ? 0 :
				   merkle_leaf(h, v->mv_data, v->mv_size, b->h[i]);
		}
	}
}

/* Hash each batch handed over; between them, page in ahead. The SHA-256
 * state lives on this thread's stack: kept in struct hasher, on the
 * checking thread's stack, it shared cache lines with the check's own
 * stack in some runs, and those ran a third slower. A hasher that cannot
 * hash leaves every leaf to the check (see hasher_finish). */
static void *hasher_run(void *arg)
{
	struct hasher *t = arg;
	struct ahead w = { 0 };
	struct leaves *b;
	merkle_hasher h;
	bool can_hash = merkle_hasher_init(&h) == 0;

	ahead_open(&w, t->a);
	pthread_mutex_lock(&t->mu);
	while (!t->quit) {
		if (t->done < t->given) {
			b = t->queue[t->done % 2];
			pthread_mutex_unlock(&t->mu);
			if (can_hash)
				leaves_hash(&h, b);
			pthread_mutex_lock(&t->mu);
			t->done++;
			pthread_cond_signal(&t->cv);
		} else if (ahead_more(&w)) {
			pthread_mutex_unlock(&t->mu);
			ahead_step(&w);
			pthread_mutex_lock(&t->mu);
		} else {
			pthread_cond_wait(&t->cv, &t->mu);
		}
	}
	pthread_mutex_unlock(&t->mu);
	ahead_close(&w);
	merkle_hasher_free(&h);
	return NULL;
}

/* Without the thread the check hashes every leaf itself, only slower. */
static void hasher_start(struct hasher *t, audit *a)
{
	t->a = a;
	if (pthread_mutex_init(&t->mu, NULL) != 0)
		return;
	if (pthread_cond_init(&t->cv, NULL) != 0) {
		pthread_mutex_destroy(&t->mu);
		return;
	}
	t->started = pthread_create(&t->thread, NULL, hasher_run, t) == 0;
	if (!t->started) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
	}
}

/* Hand b to the hasher, behind at most one other batch; NULL: no more. */
static void hasher_give(struct hasher *t, struct leaves *b)
{
	if (!t->started)
		return;
	pthread_mutex_lock(&t->mu);
	if (b) {
		t->queue[t->given % 2] = b;
		b->ticket = ++t->given;
	} else {
		t->quit = true;
	}
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Stop the thread; a batch it holds is finished first, so no pointer into
 * the map is read after this returns. */
static void hasher_stop(struct hasher *t)
{
	if (!t->started)
		return;
	hasher_give(t, NULL);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	t->started = false;
}

/* Hash, on the checking thread, what the hasher has left of b, then wait
 * until the hasher is done with it: every leaf of b is hashed. */
static void hasher_finish(struct hasher *t, merkle_hasher *own, struct leaves *b)
{
	leaves_hash(own, b);
	if (!t->started)
		return;
	pthread_mutex_lock(&t->mu);
	while (t->done < b->ticket)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

/* Read up to LEAF_BATCH entries, the first with op. */
static void leaves_read(struct leaves *b, MDB_cursor *ent, MDB_cursor_op op)
{
	int rc = 0;

	for (b->n = 0; b->n < LEAF_BATCH; b->n++, op = MDB_NEXT) {
		rc = mdb_cursor_get(ent, &b->k[b->n], &b->v[b->n], op);
		if (rc != 0)
			break;
	}
	b->end = rc;
	atomic_store(&b->next, 0);
}

/* Check a hashed batch's entries in order, as if read one at a time. */
static int leaves_fold(struct vstate *s, const struct leaves *b)
{
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		const MDB_val *k = &b->k[i], *v = &b->v[i];
		uint64_t seq = s->size;

		if (k->mv_size != 8 || audit_get_be64(k->mv_data) != seq)
			return bad(s, true, seq, "entry %llu is missing (the next key is "
				   "%llu): entries were removed", (unsigned long long)seq,
				   k->mv_size == 8 ? (unsigned long long)audit_get_be64(k->mv_data)
				   : 0ULL);
		if (v->mv_size > AUDIT_ENTRY_MAX)
			return bad(s, true, seq, "the entry is larger than any entry may be");
		if (!seq_field_ok(v->mv_data, v->mv_size, seq))
			return bad(s, true, seq, "the entry's own sequence number differs "
				   "from its place in the log");
		rc = b->rc[i];
		if (rc == 0)
			rc = add_leaf(s, b->h[i]);
		if (rc == 0)
			rc = at_size(s);
		if (rc != 0)
			return rc;
	}
	return b->end == MDB_NOTFOUND ? 0 : b->end;
}

/* Each batch goes to the hasher as soon as it is read, so the hasher has
 * the next one while the check finishes and folds the current one. On
 * return the hasher may still be at work: stop it before the transaction
 * ends. */
static int walk(struct vstate *s, MDB_cursor *ent, struct hasher *t)
{
	struct leaves *cur = &s->batch[0], *next = &s->batch[1], *tmp;
	int rc = at_size(s);

	if (rc != 0)
		return rc;
	leaves_read(cur, ent, MDB_FIRST);
	hasher_give(t, cur);
	for (;;) {
		bool more = cur->end == 0;

		if (more) {
			leaves_read(next, ent, MDB_NEXT);
			hasher_give(t, next);
		}
		hasher_finish(t, &s->a->h, cur);
		rc = leaves_fold(s, cur);
		if (rc != 0 || !more)
			return rc;
		tmp = cur;
		cur = next;
		next = tmp;
	}
}

/* What is left after the last entry: stray hashes, checkpoints or an
 * external checkpoint of a longer log mean a cut-off tail. */
static void after_walk(struct vstate *s)
{
	MDB_val k, v;
	unsigned long long n = (unsigned long long)s->size;

	if (s->ext && !s->ext_checked)
		bad(s, true, s->size, "the log ends after %llu entries, but a checkpoint "
		    "held elsewhere shows %llu: entries %llu onwards were cut off", n,
		    (unsigned long long)s->ext->size, n);
	else if (s->more_ckpt)
		bad(s, true, s->size, "the log ends after %llu entries, but its own "
		    "checkpoint shows %llu: entries %llu onwards were cut off", n,
		    s->ck.mv_size == 8 ? (unsigned long long)audit_get_be64(s->ck.mv_data) : 0ULL,
		    n);
	else if (mdb_cursor_get(s->tree, &k, &v, MDB_NEXT) == 0)
		bad(s, true, s->size, "tree hashes are stored for entries after the last "
		    "one (%llu): entries were cut off", n);
}

static int open_cursors(struct vstate *s, MDB_txn *txn, MDB_cursor **ent)
{
	int rc = mdb_cursor_open(txn, s->a->db.entry, ent);

	if (rc == 0)
		rc = mdb_cursor_open(txn, s->a->db.tree, &s->tree);
	if (rc == 0)
		rc = mdb_cursor_open(txn, s->a->db.checkpoint, &s->ckpt);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(s->ckpt, &s->ck, &s->cv, MDB_FIRST);
	s->more_ckpt = rc == 0;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int audit_verify(audit *a, const uint8_t *pub, const char *external,
		 size_t external_len, audit_report *r, accord_error *e)
{
	struct vstate *s = calloc(1, sizeof *s);
	struct hasher hasher = { 0 };
	audit_note ext;
	uint8_t meta_pub[CRYPTO_ED25519_PUB_LEN];
	char origin[AUDIT_NAME_MAX];
	MDB_txn *txn = NULL;
	MDB_cursor *ent = NULL;
	int rc;

	if (!s)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	memset(r, 0, sizeof *r);
	r->ok = true;
	s->a = a;
	s->r = r;
	s->pub = pub;
	if (!pub && audit_identity(a, origin, meta_pub, NULL) == 0)
		s->pub = meta_pub;
	if (external) {
		rc = s->pub ? audit_note_verify(external, external_len, s->pub, &ext, e)
			    : accord_fail(e, ACCORD_EINVAL, "the log records no signer "
					  "key yet: give the signer's public key");
		if (rc != 0)
			goto out;
		s->ext = &ext;
	}
	rc = store_read_begin(a->st, &txn, e);
	if (rc != 0)
		goto out;
	rc = open_cursors(s, txn, &ent);
	if (rc == 0) {
		hasher_start(&hasher, a);
		rc = walk(s, ent, &hasher);
		hasher_stop(&hasher);
	}
	if (rc == 0)
		after_walk(s);
	r->size = s->size;
	if (store_mdb_code(rc))
		rc = store_fail(e, rc, "reading the audit log");
	else if (rc == VERIFY_STOP)
		rc = 0;
	else if (rc != 0)
		rc = accord_fail(e, rc, "SHA-256 failed");
out:
	mdb_cursor_close(ent);
	if (s->tree)
		mdb_cursor_close(s->tree);
	if (s->ckpt)
		mdb_cursor_close(s->ckpt);
	if (txn)
		mdb_txn_abort(txn);
	free(s);
	return rc;
}
