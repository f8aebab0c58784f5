/*
 * witness.h - the checkpoints a node holds of its partners' audit logs.
 *
 * Every receipt a partner returns carries its signed audit checkpoint
 * (receipt.h). The sender keeps the latest one from each partner, and checks
 * every later one against it with a consistency proof, so a partner that
 * truncates or rewrites its log is caught: "partners witness each other".
 *
 * The checkpoints live in the node's store (store.h), in one database:
 *
 *   witness   key partner id -> i64be stored_at (Unix seconds, UTC)
 *                               || the checkpoint note text
 *
 * A held checkpoint only moves forward: storing one no larger than the one
 * held keeps the held one. Whether the new checkpoint is consistent with
 * the held one is receipt_check's question, asked before storing it.
 */
#ifndef ACCORD_WITNESS_H
#define ACCORD_WITNESS_H

#include "accord/audit.h"
#include "accord/store.h"

typedef struct witness witness;

/* One checkpoint of a partner's log: its size and root, and the signed
 * note they come from. */
typedef struct witness_checkpoint {
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	char *note;              /* NUL-terminated note text, malloc'd */
	size_t note_len;         /* strlen(note) */
	int64_t stored_at;       /* Unix seconds it was stored; 0 if never */
} witness_checkpoint;

/* Free c->note and zero c (c may be NULL). */
void witness_checkpoint_free(witness_checkpoint *c);

/*
 * Open the witness database in st (which must outlive it), creating it
 * unless the store is read only. Errors as store_db: ACCORD_ENOTFOUND when
 * read only and no checkpoint was ever stored.
 */
int witness_open(store *st, witness **out, accord_error *e) ACCORD_MUST_CHECK;
void witness_close(witness *w);

/*
 * The checkpoint held of partner into *out (free with
 * witness_checkpoint_free). ACCORD_ENOTFOUND when none is held,
 * ACCORD_EINVAL for a malformed partner id, ACCORD_EIO when the stored
 * value is corrupt. On failure *out is zeroed.
 */
int witness_get(witness *w, const char *partner, witness_checkpoint *out,
		accord_error *e) ACCORD_MUST_CHECK;

/*
 * Hold note (a checkpoint note of partner's log, already checked with
 * receipt_check) in the caller's write transaction txn, so it lands in the
 * same commit as the DELIVERED entry that records it. When the held
 * checkpoint is larger, it is kept and this does nothing. Errors:
 * ACCORD_EINVAL (malformed partner id or note, or a note of another log
 * than audit_origin(partner)), ACCORD_EINCONSISTENT (the same size as the
 * held one with another root: a fork receipt_check should have caught),
 * ACCORD_EIO, or an LMDB code (a store_write_fn may return one).
 */
int witness_put_txn(witness *w, MDB_txn *txn, const char *partner,
		    const char *note, accord_error *e) ACCORD_MUST_CHECK;

/* witness_put_txn as a store_write_fn: pass witness_put_fn and a
 * witness_put_args to store_write or audit_batch_commit. */
typedef struct witness_put_args {
	witness *w;
	const char *partner;
	const char *note;
} witness_put_args;
int witness_put_fn(MDB_txn *txn, void *ctx, accord_error *e) ACCORD_MUST_CHECK;

/* witness_put_txn in a durable write transaction of its own. */
int witness_put(witness *w, const char *partner, const char *note,
		accord_error *e) ACCORD_MUST_CHECK;

/* Called for each held checkpoint, in partner id order; a non-zero return
 * stops the walk and is returned. c and its note are valid during the call
 * only. */
typedef int (*witness_visit_fn)(const char *partner, const witness_checkpoint *c,
				void *ctx);

/* Every checkpoint held, for `accord status`. Errors as witness_get. */
int witness_list(witness *w, witness_visit_fn fn, void *ctx, accord_error *e)
	ACCORD_MUST_CHECK;

#endif
