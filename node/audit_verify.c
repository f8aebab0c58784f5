/*
 * audit_verify.c - check the whole log as a DPO or an auditor would.
 *
 * One pass in key order over audit_entry and, in step, over audit_tree:
 * the tree keys (last leaf, level) come out in exactly the order appends
 * write them, so every stored hash is compared as it is recomputed, with
 * O(log n) memory. Stored checkpoints are met in size order along the way.
 *
 * A second thread reads the same databases ahead of the check, touching
 * each page once (see ahead_run); the check itself is single-threaded and
 * does not depend on it.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "audit_internal.h"

/* What bad() returns to stop the walk: neither an LMDB code (positive) nor
 * an ACCORD_E* code. */
#define VERIFY_STOP (-1000)

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
		if (have && merkle_node(&s->a->h, s->frontier[l], out, out) != 0)
			return ACCORD_ENOMEM;
		if (!have)
			memcpy(out, s->frontier[l], AUDIT_HASH_LEN);
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

static int add_leaf(struct vstate *s, const uint8_t *bytes, size_t len)
{
	uint8_t h[AUDIT_HASH_LEN];
	uint64_t idx = s->size;
	unsigned l = 0;
	int rc;

	rc = merkle_leaf(&s->a->h, bytes, len, h);
	if (rc != 0)
		return rc;
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

static int walk(struct vstate *s, MDB_cursor *ent)
{
	MDB_val k, v;
	int rc = at_size(s);

	for (rc = rc ? rc : mdb_cursor_get(ent, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(ent, &k, &v, MDB_NEXT)) {
		uint64_t seq = s->size;

		if (k.mv_size != 8 || audit_get_be64(k.mv_data) != seq)
			return bad(s, true, seq, "entry %llu is missing (the next key is "
				   "%llu): entries were removed", (unsigned long long)seq,
				   k.mv_size == 8 ? (unsigned long long)audit_get_be64(k.mv_data)
				   : 0ULL);
		if (v.mv_size > AUDIT_ENTRY_MAX)
			return bad(s, true, seq, "the entry is larger than any entry may be");
		if (!seq_field_ok(v.mv_data, v.mv_size, seq))
			return bad(s, true, seq, "the entry's own sequence number differs "
				   "from its place in the log");
		rc = add_leaf(s, v.mv_data, v.mv_size);
		if (rc == 0)
			rc = at_size(s);
		if (rc != 0)
			return rc;
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Paging in ahead. The first touch of each page of LMDB's map in a process
 * costs about as much as hashing the page on some virtual machines (a fresh
 * mapping, page tables filled on demand): a third of a cold verification
 * here. A reader thread walking both databases ahead of the check, one byte
 * a page, takes that cost off the hashing thread. It has its own read
 * transaction (LMDB allows one a thread), reads only, and gives up on any
 * error: the check does not rely on it.
 */
struct ahead {
	audit *a;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	volatile uint8_t sink;      /* what the touches read, so they stay */
};

/* Touch every page of v. */
static uint8_t touch(const MDB_val *v)
{
	const volatile uint8_t *p = v->mv_data;
	uint8_t x = 0;

	for (size_t off = 0; off < v->mv_size; off += 4096)
		x ^= p[off];
	return v->mv_size ? (uint8_t)(x ^ p[v->mv_size - 1]) : x;
}

static void *ahead_run(void *arg)
{
	struct ahead *h = arg;
	MDB_txn *txn;
	MDB_cursor *ent = NULL, *tree = NULL;
	MDB_val k, v;
	int re, rt;
	uint8_t x = 0;

	if (mdb_txn_begin(store_env(h->a->st), NULL, MDB_RDONLY, &txn) != 0)
		return NULL;
	if (mdb_cursor_open(txn, h->a->db.entry, &ent) != 0 ||
	    mdb_cursor_open(txn, h->a->db.tree, &tree) != 0)
		goto out;
	/* Two tree hashes are written for each entry, on average. */
	re = mdb_cursor_get(ent, &k, &v, MDB_FIRST);
	rt = mdb_cursor_get(tree, &k, &v, MDB_FIRST);
	while ((re == 0 || rt == 0) &&
	       !atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		if (re == 0) {
			x ^= touch(&v);
			re = mdb_cursor_get(ent, &k, &v, MDB_NEXT);
		}
		for (int i = 0; i < 2 && rt == 0; i++)
			rt = mdb_cursor_get(tree, &k, &v, MDB_NEXT);
	}
out:
	if (tree)
		mdb_cursor_close(tree);
	if (ent)
		mdb_cursor_close(ent);
	mdb_txn_abort(txn);
	h->sink = x;
	return NULL;
}

static void ahead_start(struct ahead *h, audit *a)
{
	h->a = a;
	atomic_init(&h->stop, false);
	/* Without the thread the check runs as well, only slower. */
	h->started = pthread_create(&h->thread, NULL, ahead_run, h) == 0;
}

static void ahead_stop(struct ahead *h)
{
	if (!h->started)
		return;
	atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
	h->started = false;
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
	struct ahead ahead = { 0 };
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
		ahead_start(&ahead, a);
		rc = walk(s, ent);
		ahead_stop(&ahead);
	}
	if (rc == 0)
		after_walk(s);
	r->size = s->size;
	if (store_mdb_code(rc))
		rc = store_fail(e, rc, "reading the audit log");
	else if (rc == VERIFY_STOP)
		rc = 0;
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
