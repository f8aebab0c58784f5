/*
 * witness.c - the partners' checkpoints a node holds, in one LMDB database.
 *
 * A stored value is read back as carefully as one from outside: its note
 * is parsed again (not verified: the partner's key is the protocol's,
 * which may have changed since), so a damaged store gives ACCORD_EIO, not
 * a wrong witness.
 */
#include <time.h>

#include "accord/protocol.h"
#include "accord/witness.h"

#define STAMP_LEN 8
#define VALUE_MAX (STAMP_LEN + AUDIT_NOTE_MAX)

struct witness {
	store *st;
	MDB_dbi db;
};

void witness_checkpoint_free(witness_checkpoint *c)
{
	if (!c)
		return;
	free(c->note);
	memset(c, 0, sizeof *c);
}

int witness_open(store *st, witness **out, accord_error *e)
{
	witness *w = calloc(1, sizeof *w);
	int rc;

	if (!w)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	w->st = st;
	rc = store_db(st, "witness", 0, &w->db, e);
	if (rc != 0) {
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void witness_close(witness *w)
{
	free(w);
}

static void put_be64(uint64_t v, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

/* Decode a stored value of partner into *out (note copied). */
static int decode(const char *partner, const MDB_val *v, bool want_note,
		  witness_checkpoint *out, accord_error *e)
{
	const char *text = (const char *)v->mv_data + STAMP_LEN;
	audit_note n;

	memset(out, 0, sizeof *out);
	if (v->mv_size <= STAMP_LEN || v->mv_size > VALUE_MAX ||
	    audit_note_parse(text, v->mv_size - STAMP_LEN, &n, NULL) != 0)
		return accord_fail(e, ACCORD_EIO, "the checkpoint held of '%s' is "
				   "corrupt in the store", partner);
	out->size = n.size;
	memcpy(out->root, n.root, AUDIT_HASH_LEN);
	out->stored_at = (int64_t)get_be64(v->mv_data);
	out->note_len = v->mv_size - STAMP_LEN;
	if (want_note) {
		out->note = strndup(text, out->note_len);
		if (!out->note)
			return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	return 0;
}

static int partner_key(const char *partner, MDB_val *k, accord_error *e)
{
	if (!partner || !protocol_id_ok(partner))
		return accord_fail(e, ACCORD_EINVAL, "'%s' is not a partner id",
				   partner ? partner : "(null)");
	k->mv_size = strlen(partner);
	k->mv_data = (void *)partner;
	return 0;
}

int witness_get(witness *w, const char *partner, witness_checkpoint *out,
		accord_error *e)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	memset(out, 0, sizeof *out);
	rc = partner_key(partner, &k, e);
	if (rc != 0)
		return rc;
	rc = store_read_begin(w->st, &txn, e);
	if (rc != 0)
		return rc;
	rc = mdb_get(txn, w->db, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = accord_fail(e, ACCORD_ENOTFOUND, "no checkpoint of '%s' is held "
				 "yet", partner);
	else if (rc != 0)
		rc = store_fail(e, rc, "reading a held checkpoint");
	else
		rc = decode(partner, &v, true, out, e);
	mdb_txn_abort(txn);
	if (rc != 0)
		witness_checkpoint_free(out);
	return rc;
}

/* Whether the held value (if any) should give way to a checkpoint of
 * (size, root): 0 and *keep, 0 and !*keep, or an error. */
static int held_gives_way(witness *w, MDB_txn *txn, const char *partner,
			  MDB_val *k, const audit_note *n, bool *keep,
			  accord_error *e)
{
	witness_checkpoint held;
	MDB_val v;
	int rc = mdb_get(txn, w->db, k, &v);

	*keep = false;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	rc = decode(partner, &v, false, &held, e);
	if (rc != 0)
		return rc;
	if (held.size == n->size && memcmp(held.root, n->root, AUDIT_HASH_LEN) != 0)
		return accord_fail(e, ACCORD_EINCONSISTENT, "the audit log of '%s' forked: "
				   "the checkpoint held and the new one are both of "
				   "size %llu with different roots", partner,
				   (unsigned long long)n->size);
	*keep = held.size > n->size;
	return 0;
}

int witness_put_txn(witness *w, MDB_txn *txn, const char *partner,
		    const char *note, accord_error *e)
{
	char origin[AUDIT_NAME_MAX];
	uint8_t *buf;
	audit_note n;
	MDB_val k, v;
	size_t len;
	bool keep;
	int rc = partner_key(partner, &k, e);

	if (rc != 0)
		return rc;
	len = note ? strnlen(note, AUDIT_NOTE_MAX + 1) : 0;
	if (!note || audit_note_parse(note, len, &n, NULL) != 0)
		return accord_fail(e, ACCORD_EINVAL, "the checkpoint to hold of '%s' is "
				   "not a checkpoint note", partner);
	if (audit_origin(partner, origin) != 0 || strcmp(origin, n.origin) != 0)
		return accord_fail(e, ACCORD_EINVAL, "the checkpoint to hold of '%s' is "
				   "of the log '%s'", partner, n.origin);
	rc = held_gives_way(w, txn, partner, &k, &n, &keep, e);
	if (rc != 0 || keep)
		return rc;
	buf = malloc(STAMP_LEN + len);
	if (!buf)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	put_be64((uint64_t)time(NULL), buf);
	memcpy(buf + STAMP_LEN, note, len);
	v.mv_size = STAMP_LEN + len;
	v.mv_data = buf;
	rc = mdb_put(txn, w->db, &k, &v, 0);
	free(buf);
	return rc;
}

int witness_put_fn(MDB_txn *txn, void *ctx, accord_error *e)
{
	const witness_put_args *a = ctx;

	return witness_put_txn(a->w, txn, a->partner, a->note, e);
}

int witness_put(witness *w, const char *partner, const char *note,
		accord_error *e)
{
	witness_put_args a = { w, partner, note };

	return store_write(w->st, witness_put_fn, &a, e);
}

/* Visit the value at k, v; the callback's result in *stop. */
static int visit(const MDB_val *k, const MDB_val *v, witness_visit_fn fn, void *ctx,
		 int *stop, accord_error *e)
{
	char partner[PROTOCOL_MAX_ID + 1];
	witness_checkpoint c;
	int rc;

	if (k->mv_size == 0 || k->mv_size > PROTOCOL_MAX_ID)
		return accord_fail(e, ACCORD_EIO, "a held checkpoint has a corrupt "
				   "partner id in the store");
	memcpy(partner, k->mv_data, k->mv_size);
	partner[k->mv_size] = '\0';
	rc = decode(partner, v, true, &c, e);
	if (rc == 0)
		*stop = fn(partner, &c, ctx);
	witness_checkpoint_free(&c);
	return rc;
}

int witness_list(witness *w, witness_visit_fn fn, void *ctx, accord_error *e)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	MDB_cursor_op op = MDB_FIRST;
	int stop = 0, rc = store_read_begin(w->st, &txn, e);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, w->db, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_fail(e, rc, "listing the held checkpoints");
	}
	while (stop == 0 && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		rc = visit(&k, &v, fn, ctx, &stop, e);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc != 0)
		return store_mdb_code(rc) ? store_fail(e, rc, "listing the held checkpoints")
					  : rc;
	return stop;
}
