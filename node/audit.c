/*
 * audit.c - the audit log over LMDB: open, group-committed appends, the
 * stored tree, proofs and checkpoints. Reading and the subject index are in
 * audit_read.c, whole-log verification in audit_verify.c.
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "audit.pb-c.h"

#include "accord/fs.h"
#include "audit_internal.h"

#define SECRET_LEN 32

struct pending {
	uint8_t *bytes;
	size_t len;
	uint8_t leaf[AUDIT_HASH_LEN];
	bool has_subject;
	uint8_t subject[AUDIT_HASH_LEN];
};

struct audit_batch {
	audit *a;
	uint64_t first;           /* the sequence of the first entry */
	struct pending *items;
	size_t n, cap;
	struct audit_subject_put *subjects; /* the subject index puts, in key order */
	size_t n_subjects;
	store_write_fn extra;
	void *extra_ctx;
};

/* Create the node's audit secret when it is missing. */
static int ensure_secret(audit *a, accord_error *e)
{
	char path[4096];
	uint8_t key[SECRET_LEN];
	int rc;

	if (fs_path(path, sizeof path, "%s/audit.key", store_dir(a->st)) != 0)
		return accord_fail(e, ACCORD_ETOOBIG, "%s: path too long", store_dir(a->st));
	if (access(path, F_OK) == 0)
		return 0;
	if (crypto_random(key, sizeof key) != 0)
		return accord_fail(e, ACCORD_ECRYPTO, "no random bytes for the audit secret");
	rc = fs_create_private(path, key, sizeof key, e);
	OPENSSL_cleanse(key, sizeof key);
	return rc == ACCORD_EEXIST ? 0 : rc;
}

int audit_open(store *st, audit **out, accord_error *e)
{
	audit *a = calloc(1, sizeof *a);
	int rc;

	if (!a)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	a->st = st;
	rc = merkle_hasher_init(&a->h);
	if (rc != 0) {
		free(a);
		return accord_fail(e, rc, "SHA-256 failed");
	}
	rc = store_db(st, "audit_entry", 0, &a->db.entry, e);
	if (rc == 0)
		rc = store_db(st, "audit_tree", 0, &a->db.tree, e);
	if (rc == 0)
		rc = store_db(st, "audit_checkpoint", 0, &a->db.checkpoint, e);
	if (rc == 0)
		rc = store_db(st, "audit_meta", 0, &a->db.meta, e);
	if (rc == 0 && !store_read_only(st))
		rc = ensure_secret(a, e);
	if (rc == 0)
		rc = audit_subject_open(a, e);
	if (rc != 0) {
		audit_close(a);
		return rc;
	}
	*out = a;
	return 0;
}

void audit_close(audit *a)
{
	if (!a)
		return;
	merkle_hasher_free(&a->h);
	EVP_MAC_CTX_free(a->pseudonym);
	free(a);
}

int audit_size_in(audit *a, MDB_txn *txn, uint64_t *size)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, a->db.entry, &c);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*size = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (k.mv_size != 8)
		return MDB_CORRUPTED;
	*size = audit_get_be64(k.mv_data) + 1;
	return 0;
}

int audit_size(audit *a, uint64_t *size, accord_error *e)
{
	MDB_txn *txn;
	int rc = store_read_begin(a->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = audit_size_in(a, txn, size);
	mdb_txn_abort(txn);
	return rc ? store_fail(e, rc, "reading the audit log's size") : 0;
}

/* ---- packing ------------------------------------------------------------ */

static bool text_ok(const char *s)
{
	return !s || strnlen(s, AUDIT_TEXT_MAX + 1) <= AUDIT_TEXT_MAX;
}

static char *str(const char *s)
{
	return s ? (char *)s : (char *)protobuf_c_empty_string;
}

static ProtobufCBinaryData bin(bool has, const uint8_t *p, size_t n)
{
	return (ProtobufCBinaryData){ has ? n : 0, has ? (uint8_t *)p : NULL };
}

static int check_entry(const audit_entry *en, accord_error *e)
{
	const char *texts[] = { en->protocol_id, en->rule_id, en->purpose, en->from,
				en->to, en->record_type, en->message_id, en->actor,
				en->reason };

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (!text_ok(texts[i]))
			return accord_fail(e, ACCORD_EINVAL, "an audit entry's text field "
					   "is longer than %d bytes", AUDIT_TEXT_MAX);
	if (en->n_disclosed > AUDIT_PATHS_MAX || en->n_withheld > AUDIT_PATHS_MAX)
		return accord_fail(e, ACCORD_EINVAL, "an audit entry names more than %d "
				   "field paths", AUDIT_PATHS_MAX);
	for (size_t i = 0; i < en->n_disclosed; i++)
		if (!en->disclosed[i] || !text_ok(en->disclosed[i]))
			return accord_fail(e, ACCORD_EINVAL, "disclosed path %zu is missing "
					   "or too long", i);
	for (size_t i = 0; i < en->n_withheld; i++)
		if (!en->withheld[i] || !text_ok(en->withheld[i]))
			return accord_fail(e, ACCORD_EINVAL, "withheld path %zu is missing "
					   "or too long", i);
	if (en->event < 0 || en->event > 99 || en->outcome < 0 || en->outcome > 99)
		return accord_fail(e, ACCORD_EINVAL, "audit event %d or outcome %d is out "
				   "of range", en->event, en->outcome);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Pack en as entry seq into a new buffer. */
static int pack_entry(const audit_entry *en, uint64_t seq, uint8_t **out,
		      size_t *len, accord_error *e)
{
	Accord__Audit__AuditEntry m = ACCORD__AUDIT__AUDIT_ENTRY__INIT;
	size_t n;
	int rc = check_entry(en, e);

	if (rc != 0)
		return rc;
	m.sequence = seq;
	m.time_ms = en->time_ms ? en->time_ms : now_ms();
	m.event = (Accord__Audit__Event)en->event;
	m.protocol_id = str(en->protocol_id);
	m.protocol_version = en->protocol_version;
	m.protocol_digest = bin(en->has_protocol_digest, en->protocol_digest,
				CRYPTO_SHA256_LEN);
	m.rule_id = str(en->rule_id);
	m.purpose = str(en->purpose);
	m.from = str(en->from);
	m.to = str(en->to);
	m.record_type = str(en->record_type);
	m.n_disclosed = en->n_disclosed;
	m.disclosed = (char **)en->disclosed;
	m.n_withheld = en->n_withheld;
	m.withheld = (char **)en->withheld;
	m.record_sha256 = bin(en->has_record_sha256, en->record_sha256, CRYPTO_SHA256_LEN);
	m.message_id = str(en->message_id);
	m.subject = bin(en->has_subject, en->subject, AUDIT_HASH_LEN);
	m.peer_key = bin(en->has_peer_key, en->peer_key, CRYPTO_SHA256_LEN);
	m.actor = str(en->actor);
	m.outcome = (Accord__Audit__Outcome)en->outcome;
	m.reason = str(en->reason);
	n = accord__audit__audit_entry__get_packed_size(&m);
	if (n > AUDIT_ENTRY_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "an audit entry of %zu bytes is "
				   "larger than the limit of %zu", n, AUDIT_ENTRY_MAX);
	*out = malloc(n ? n : 1);
	if (!*out)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	*len = accord__audit__audit_entry__pack(&m, *out);
	return 0;
}

/* ---- batches ------------------------------------------------------------ */

int audit_batch_begin(audit *a, audit_batch **out, accord_error *e)
{
	audit_batch *b;
	int rc;

	if (a->batch_open)
		return accord_fail(e, ACCORD_EINVAL, "an audit batch is already open");
	if (store_full(a->st))
		return accord_fail(e, ACCORD_EFULL, "the audit log is full: nothing more "
				   "can be recorded, so nothing may be shared");
	b = calloc(1, sizeof *b);
	if (!b)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	rc = audit_size(a, &b->first, e);
	if (rc != 0) {
		free(b);
		return rc;
	}
	b->a = a;
	a->batch_open = true;
	*out = b;
	return 0;
}

int audit_batch_append(audit_batch *b, const audit_entry *entry, uint64_t *seq,
		       accord_error *e)
{
	struct pending *p;
	int rc;

	if (b->n == AUDIT_BATCH_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "an audit batch holds at most %d "
				   "entries", AUDIT_BATCH_MAX);
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct pending *items = reallocarray(b->items, cap, sizeof *items);

		if (!items)
			return accord_fail(e, ACCORD_ENOMEM, "out of memory");
		b->items = items;
		b->cap = cap;
	}
	p = &b->items[b->n];
	rc = pack_entry(entry, b->first + b->n, &p->bytes, &p->len, e);
	if (rc != 0)
		return rc;
	rc = merkle_leaf(&b->a->h, p->bytes, p->len, p->leaf);
	if (rc != 0) {
		free(p->bytes);
		return accord_fail(e, rc, "SHA-256 failed hashing an audit entry");
	}
	p->has_subject = entry->has_subject;
	memcpy(p->subject, entry->subject, AUDIT_HASH_LEN);
	if (seq)
		*seq = b->first + b->n;
	b->n++;
	return 0;
}

void audit_batch_abort(audit_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->items[i].bytes);
	free(b->items);
	free(b->subjects);
	b->a->batch_open = false;
	free(b);
}

static int put(MDB_txn *txn, MDB_dbi db, const void *k, size_t kn, const void *v,
	       size_t vn, unsigned flags)
{
	MDB_val key = { kn, (void *)k }, val = { vn, (void *)v };

	return mdb_put(txn, db, &key, &val, flags);
}

/* The hashes of the complete subtrees that end the tree of size leaves, one
 * per set bit of size: frontier[L] covers ((size>>L)-1)<<L onwards. */
static int load_frontier(audit *a, MDB_txn *txn, uint64_t size,
			 uint8_t frontier[64][AUDIT_HASH_LEN])
{
	for (unsigned l = 0; l < 64; l++) {
		uint8_t key[AUDIT_TREE_KEY_LEN];
		MDB_val k = { sizeof key, key }, v;
		int rc;

		if (!(size >> l & 1))
			continue;
		audit_tree_key(l, (size >> l) - 1, key);
		rc = mdb_get(txn, a->db.tree, &k, &v);
		if (rc != 0)
			return rc;
		if (v.mv_size != AUDIT_HASH_LEN)
			return MDB_CORRUPTED;
		memcpy(frontier[l], v.mv_data, AUDIT_HASH_LEN);
	}
	return 0;
}

/* Append leaf seq with hash h: its level-0 hash and each subtree it
 * completes, in key order. */
static int put_leaf(audit *a, MDB_txn *txn, uint64_t seq, const uint8_t leaf[AUDIT_HASH_LEN],
		    uint8_t frontier[64][AUDIT_HASH_LEN])
{
	uint8_t h[AUDIT_HASH_LEN], key[AUDIT_TREE_KEY_LEN];
	uint64_t idx = seq;
	unsigned l = 0;
	int rc;

	memcpy(h, leaf, AUDIT_HASH_LEN);
	for (;;) {
		audit_tree_key(l, idx, key);
		rc = put(txn, a->db.tree, key, sizeof key, h, AUDIT_HASH_LEN, MDB_APPEND);
		if (rc != 0)
			return rc;
		if (!(idx & 1))
			break;
		rc = merkle_node(&a->h, frontier[l], h, h);
		if (rc != 0)
			return rc;
		idx >>= 1;
		l++;
	}
	memcpy(frontier[l], h, AUDIT_HASH_LEN);
	return 0;
}

/* The batch's subject index puts, made and ordered once per batch (a
 * retried transaction reuses them). */
static int put_subjects(audit_batch *b, MDB_txn *txn)
{
	if (!b->subjects) {
		b->subjects = reallocarray(NULL, b->n ? b->n : 1, sizeof *b->subjects);
		if (!b->subjects)
			return ENOMEM;
		b->n_subjects = 0;
		for (size_t i = 0; i < b->n; i++) {
			struct audit_subject_put *s = &b->subjects[b->n_subjects];

			if (!b->items[i].has_subject)
				continue;
			memcpy(s->subject, b->items[i].subject, AUDIT_HASH_LEN);
			s->seq = b->first + i;
			b->n_subjects++;
		}
		audit_subject_sort(b->subjects, b->n_subjects);
	}
	return audit_subject_index(b->a, txn, b->subjects, b->n_subjects, b->first,
				   b->first + b->n);
}

static int batch_write(MDB_txn *txn, void *ctx, accord_error *e)
{
	audit_batch *b = ctx;
	audit *a = b->a;
	uint8_t frontier[64][AUDIT_HASH_LEN];
	uint64_t size;
	int rc = audit_size_in(a, txn, &size);

	if (rc != 0)
		return rc;
	if (size != b->first)
		return accord_fail(e, ACCORD_EIO, "the audit log grew from %llu to %llu "
				   "entries while a batch was open: only one writer may "
				   "append", (unsigned long long)b->first,
				   (unsigned long long)size);
	rc = load_frontier(a, txn, size, frontier);
	for (size_t i = 0; rc == 0 && i < b->n; i++) {
		struct pending *p = &b->items[i];
		uint8_t key[8];

		audit_be64(b->first + i, key);
		rc = put(txn, a->db.entry, key, sizeof key, p->bytes, p->len, MDB_APPEND);
		if (rc == 0)
			rc = put_leaf(a, txn, b->first + i, p->leaf, frontier);
	}
	if (rc == 0)
		rc = put_subjects(b, txn);
	if (rc == 0 && b->extra)
		rc = b->extra(txn, b->extra_ctx, e);
	return rc;
}

int audit_batch_commit(audit_batch *b, store_write_fn extra, void *ctx,
		       accord_error *e)
{
	int rc = 0;

	b->extra = extra;
	b->extra_ctx = ctx;
	if (b->n || extra)
		rc = store_write(b->a->st, batch_write, b, e);
	audit_batch_abort(b);
	return rc;
}

int audit_append(audit *a, const audit_entry *entry, uint64_t *seq, accord_error *e)
{
	audit_batch *b;
	int rc = audit_batch_begin(a, &b, e);

	if (rc != 0)
		return rc;
	rc = audit_batch_append(b, entry, seq, e);
	if (rc != 0) {
		audit_batch_abort(b);
		return rc;
	}
	return audit_batch_commit(b, NULL, NULL, e);
}

/* ---- the tree ----------------------------------------------------------- */

struct tree_src {
	audit *a;
	MDB_txn *txn;
};

static int get_subtree(void *ctx, unsigned level, uint64_t index,
		       uint8_t out[AUDIT_HASH_LEN])
{
	struct tree_src *t = ctx;
	uint8_t key[AUDIT_TREE_KEY_LEN];
	MDB_val k = { sizeof key, key }, v;
	int rc;

	audit_tree_key(level, index, key);
	rc = mdb_get(t->txn, t->a->db.tree, &k, &v);
	if (rc != 0 || v.mv_size != AUDIT_HASH_LEN)
		return rc == MDB_NOTFOUND || rc == 0 ? ACCORD_ETAMPER : ACCORD_EIO;
	memcpy(out, v.mv_data, AUDIT_HASH_LEN);
	return 0;
}

enum tree_op { TREE_ROOT, TREE_INCLUSION, TREE_CONSISTENCY };

/* Run one tree computation in a read snapshot; x < y <= size checked. */
static int tree_op(audit *a, enum tree_op op, uint64_t x, uint64_t y, uint8_t *root,
		   audit_proof *p, accord_error *e)
{
	struct tree_src t = { a, NULL };
	uint64_t size;
	int rc = store_read_begin(a->st, &t.txn, e);

	if (rc != 0)
		return rc;
	rc = audit_size_in(a, t.txn, &size);
	if (rc != 0) {
		mdb_txn_abort(t.txn);
		return store_fail(e, rc, "reading the audit log");
	}
	if (y > size || x > y || (op == TREE_INCLUSION && x == y)) {
		mdb_txn_abort(t.txn);
		return accord_fail(e, ACCORD_ENOTFOUND, "the audit log has %llu entries; "
				   "%llu and %llu are out of range",
				   (unsigned long long)size, (unsigned long long)x,
				   (unsigned long long)y);
	}
	if (op == TREE_ROOT)
		rc = merkle_root(get_subtree, &t, y, root);
	else if (op == TREE_INCLUSION)
		rc = merkle_inclusion(get_subtree, &t, x, y, p);
	else
		rc = merkle_consistency(get_subtree, &t, x, y, p);
	mdb_txn_abort(t.txn);
	if (rc != 0)
		return accord_fail(e, rc, "a stored tree hash is missing or malformed: "
				   "run 'accord audit verify'");
	return 0;
}

int audit_root(audit *a, uint64_t size, uint8_t root[AUDIT_HASH_LEN], accord_error *e)
{
	return tree_op(a, TREE_ROOT, 0, size, root, NULL, e);
}

int audit_inclusion_proof(audit *a, uint64_t index, uint64_t size, audit_proof *p,
			  accord_error *e)
{
	return tree_op(a, TREE_INCLUSION, index, size, NULL, p, e);
}

int audit_consistency_proof(audit *a, uint64_t m, uint64_t n, audit_proof *p,
			    accord_error *e)
{
	return tree_op(a, TREE_CONSISTENCY, m, n, NULL, p, e);
}

/* ---- checkpoints -------------------------------------------------------- */

int audit_meta_get(audit *a, MDB_txn *txn, const char *name, void *buf, size_t cap,
		   size_t *len)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	int rc = mdb_get(txn, a->db.meta, &k, &v);

	if (rc != 0)
		return rc;
	if (v.mv_size > cap)
		return MDB_CORRUPTED;
	memcpy(buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return 0;
}

struct ckpt {
	audit *a;
	const crypto_signer *signer;
	const char *origin;
	char *note;
};

/* Fix the log's origin and signer at the first checkpoint; refuse others. */
static int meta_identity(struct ckpt *c, MDB_txn *txn, char origin[AUDIT_NAME_MAX],
			 accord_error *e)
{
	uint8_t pub[CRYPTO_ED25519_PUB_LEN], have[CRYPTO_ED25519_PUB_LEN];
	size_t n;
	int rc = audit_meta_get(c->a, txn, "origin", origin, AUDIT_NAME_MAX - 1, &n);

	crypto_signer_public(c->signer, pub);
	if (rc == MDB_NOTFOUND) {
		if (!c->origin)
			return accord_fail(e, ACCORD_EINVAL, "the first checkpoint needs an "
					   "origin (the partner id)");
		snprintf(origin, AUDIT_NAME_MAX, "%s", c->origin);
		rc = put(txn, c->a->db.meta, "origin", 6, origin, strlen(origin),
			 MDB_NOOVERWRITE);
		return rc ? rc : put(txn, c->a->db.meta, "signer", 6, pub, sizeof pub,
				     MDB_NOOVERWRITE);
	}
	if (rc != 0)
		return rc;
	origin[n] = '\0';
	if (c->origin && strcmp(c->origin, origin) != 0)
		return accord_fail(e, ACCORD_EINVAL, "this audit log's origin is '%s', "
				   "not '%s'", origin, c->origin);
	rc = audit_meta_get(c->a, txn, "signer", have, sizeof have, &n);
	if (rc != 0)
		return rc;
	if (n != sizeof have || memcmp(have, pub, sizeof pub) != 0)
		return accord_fail(e, ACCORD_EINVAL, "this audit log's checkpoints are "
				   "signed by another key than the one given");
	return 0;
}

static int ckpt_write(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct ckpt *c = ctx;
	struct tree_src t = { c->a, txn };
	char origin[AUDIT_NAME_MAX];
	uint8_t root[AUDIT_HASH_LEN], key[8];
	uint64_t size;
	MDB_val k = { sizeof key, key }, v;
	int rc = meta_identity(c, txn, origin, e);

	if (rc == 0)
		rc = audit_size_in(c->a, txn, &size);
	if (rc != 0)
		return rc;
	free(c->note);
	c->note = NULL;
	audit_be64(size, key);
	if (mdb_get(txn, c->a->db.checkpoint, &k, &v) == 0) {
		/* Nothing appended since: the stored checkpoint stands. */
		c->note = strndup(v.mv_data, v.mv_size);
		return c->note ? 0 : accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	rc = merkle_root(get_subtree, &t, size, root);
	if (rc != 0)
		return accord_fail(e, rc, "a stored tree hash is missing: run 'accord "
				   "audit verify'");
	rc = audit_note_sign(origin, size, root, c->signer, &c->note, e);
	if (rc != 0)
		return rc;
	return put(txn, c->a->db.checkpoint, key, sizeof key, c->note,
		   strlen(c->note), MDB_APPEND);
}

int audit_checkpoint(audit *a, const crypto_signer *signer, const char *origin,
		     char **note, accord_error *e)
{
	struct ckpt c = { a, signer, origin, NULL };
	int rc = store_write(a->st, ckpt_write, &c, e);

	if (rc != 0) {
		free(c.note);
		return rc;
	}
	*note = c.note;
	return 0;
}

int audit_latest_checkpoint(audit *a, char **note, accord_error *e)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = store_read_begin(a->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, a->db.checkpoint, &c);
	if (rc == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		mdb_cursor_close(c);
	}
	if (rc == 0 && v.mv_size > AUDIT_NOTE_MAX)
		rc = MDB_CORRUPTED;
	if (rc == 0) {
		*note = strndup(v.mv_data, v.mv_size);
		if (!*note)
			rc = ENOMEM;
	}
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return accord_fail(e, ACCORD_ENOTFOUND, "the audit log has no checkpoint "
				   "yet: make one with 'accord audit checkpoint'");
	return rc ? store_fail(e, rc, "reading the latest checkpoint") : 0;
}

int audit_identity(audit *a, char origin[AUDIT_NAME_MAX],
		   uint8_t pub[CRYPTO_ED25519_PUB_LEN], accord_error *e)
{
	MDB_txn *txn;
	size_t n, m = 0;
	int rc = store_read_begin(a->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = audit_meta_get(a, txn, "origin", origin, AUDIT_NAME_MAX - 1, &n);
	if (rc == 0)
		rc = audit_meta_get(a, txn, "signer", pub, CRYPTO_ED25519_PUB_LEN, &m);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return accord_fail(e, ACCORD_ENOTFOUND, "the audit log has no checkpoint "
				   "yet, so no signer is recorded");
	if (rc != 0)
		return store_fail(e, rc, "reading the audit log's identity");
	if (m != CRYPTO_ED25519_PUB_LEN)
		return accord_fail(e, ACCORD_ETAMPER, "the recorded signer key is malformed");
	origin[n] = '\0';
	return 0;
}
