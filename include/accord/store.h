/*
 * store.h - the node's one LMDB environment.
 *
 * A node keeps everything it must not lose in one LMDB environment in its
 * data directory: the audit log and, as later modules add them, the inbox,
 * outbox, cases and seen message ids. One write transaction can therefore
 * cover an audit entry and the state change it records.
 *
 * The data directory holds data.mdb and lock.mdb (LMDB's files, 0600) and
 * the audit secret audit.key. It is created 0700 when missing, and refused
 * (ACCORD_EPERM) when its group or others may access it, or when it is not
 * ours: it holds the HMAC secret behind the subject pseudonyms.
 *
 * Durability: a write that store_write reports done has reached the disk
 * (LMDB's default synchronous commit; MDB_NOSYNC, MDB_NOMETASYNC and
 * MDB_WRITEMAP are never used). A crash leaves the last committed state.
 *
 * Growth: the map starts at map_size and doubles when a write finds it full,
 * up to map_max. The write is then run again from its beginning, so a batch
 * lands whole or not at all. Past map_max the write fails with ACCORD_EFULL.
 *
 * One thread uses a store. One process at a time opens it to write
 * (writer.lock in the directory, flock'd); other processes (the DPO's
 * command line) may read it at the same time, as LMDB allows.
 */
#ifndef ACCORD_STORE_H
#define ACCORD_STORE_H

#include <lmdb.h>

#include "accord/error.h"

typedef struct store store;

#define STORE_MAX_DBS 32

/*
 * The store's layout, kept in the database "store" under the key "format"
 * (4 bytes, big-endian). A store without it is format 1. 2: the audit's
 * subject index in sorted runs (audit_subject_runs). 3: the receipts the
 * inbox answered kept beside its items (inbox_receipts), not in them; the
 * items of older stores keep theirs, and are read as they are. A writable
 * open marks an older store with this format; any open refuses a newer
 * one.
 */
#define STORE_FORMAT 3
#define STORE_DEFAULT_MAP_SIZE (64ull << 20)   /* 64 MiB to start */
#define STORE_DEFAULT_MAP_MAX (64ull << 30)    /* 64 GiB at most */

typedef struct store_options {
	uint64_t map_size;   /* initial map size in bytes; 0: the default */
	uint64_t map_max;    /* the size limit in bytes; 0: the default */
	bool read_only;      /* open for reading only (never creates) */
} store_options;

/*
 * Open (creating when missing, unless read_only) the environment in dir.
 * opt may be NULL for the defaults. Errors: ACCORD_EPERM (unsafe
 * directory), ACCORD_ENOTFOUND (read_only and no store there), ACCORD_EBUSY
 * (open to write in another process, whose pid the message names),
 * ACCORD_EIO,
 * ACCORD_EINVAL (a store of a format newer than STORE_FORMAT, or a
 * damaged format marker).
 */
int store_open(const char *dir, const store_options *opt, store **out,
	       accord_error *e) ACCORD_MUST_CHECK;
void store_close(store *s);

/* The data directory the store was opened in. */
const char *store_dir(const store *s);
MDB_env *store_env(store *s);
bool store_read_only(const store *s);

/*
 * Open the named database (creating it unless read only) with LMDB flags
 * (MDB_DUPSORT, ...). ACCORD_ENOTFOUND when read only and it does not exist.
 */
int store_db(store *s, const char *name, unsigned flags, MDB_dbi *out,
	     accord_error *e) ACCORD_MUST_CHECK;
/* The same, never creating it: ACCORD_ENOTFOUND when it does not exist. */
int store_db_find(store *s, const char *name, unsigned flags, MDB_dbi *out,
		  accord_error *e) ACCORD_MUST_CHECK;

/*
 * The work of one write transaction. It returns 0, an ACCORD_E* code
 * (filling e), or what an mdb_* call returned (store_mdb_code); MDB_MAP_FULL
 * makes store_write grow the map and call it again with a fresh
 * transaction, so it must not keep effects outside the transaction from an
 * earlier call.
 */
typedef int (*store_write_fn)(MDB_txn *txn, void *ctx, accord_error *e);

/*
 * Run fn in a write transaction and commit it durably. Any failure aborts
 * the transaction: nothing fn did is kept. ACCORD_EFULL past map_max;
 * after it the store refuses every write until it is reopened with a
 * larger limit.
 */
int store_write(store *s, store_write_fn fn, void *ctx, accord_error *e)
	ACCORD_MUST_CHECK;

/* A read transaction (a snapshot); end it with mdb_txn_abort. */
int store_read_begin(store *s, MDB_txn **txn, accord_error *e) ACCORD_MUST_CHECK;

/* True after store_write failed with ACCORD_EFULL. */
bool store_full(const store *s);

/* The current map size in bytes. */
uint64_t store_map_size(const store *s);

/* Whether rc came from LMDB (its own codes, MDB_KEYEXIST..MDB_LAST_ERRCODE,
 * or a positive errno) rather than being 0 or an ACCORD_E* code. */
static inline bool store_mdb_code(int rc)
{
	return rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE);
}

/* An ACCORD_E* code, and a message naming `what`, for an LMDB code. */
int store_fail(accord_error *e, int mdb_rc, const char *what);

#endif
