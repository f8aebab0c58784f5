/*
 * audit.h - the tamper-evident, append-only audit log.
 *
 * Every disclosure, receipt and refusal is one entry (proto/audit.proto):
 * who disclosed what (field paths, never values) about whom (an HMAC
 * pseudonym, never a direct identifier), to whom, when and why. The
 * entries are the leaves of a Merkle tree as in Certificate Transparency
 * (RFC 9162 section 2.1): leaf hash = SHA-256(0x00 || entry bytes), interior
 * node = SHA-256(0x01 || left || right). Signed checkpoints (C2SP signed
 * notes) fix a size and root; inclusion and consistency proofs show an
 * entry is in the log and that a later log extends an earlier one.
 *
 * The log lives in the node's store (store.h), in these LMDB databases:
 *
 *   audit_entry       key BE64 sequence -> the packed AuditEntry (MDB_APPEND)
 *   audit_tree        key BE64 last-leaf || level byte -> 32-byte hash
 *                     (MDB_APPEND): every complete subtree, level 0 being
 *                     the leaf hashes. The subtree at (level L, index i)
 *                     covers leaves i*2^L .. (i+1)*2^L - 1 and is keyed by
 *                     its last leaf, so appending leaf n writes (n, 0),
 *                     (n, 1), ... in key order: O(log n) appends. The root
 *                     and every proof are O(log n) lookups of these.
 *   audit_subject_runs  the subject index: key BE64 run start || level
 *                     byte || 32-byte pseudonym || BE64 sequence, empty
 *                     values, in sorted runs of 256, 4,096 and 65,536
 *                     entries merged as the log grows (audit_subject.c)
 *   audit_subject     the index of stores before the runs; moved into them
 *                     at the first writable open, then deleted
 *   audit_checkpoint  key BE64 tree size -> the signed note (MDB_APPEND)
 *   audit_meta        "origin", "signer": fixed at the first checkpoint
 *
 * Nothing here updates or deletes an entry, a hash or a checkpoint; only
 * the subject index, which holds nothing the entries do not, is reordered
 * by its merges. The sequence in the key is authoritative; audit_verify checks each entry's `sequence` against it.
 */
#ifndef ACCORD_AUDIT_H
#define ACCORD_AUDIT_H

#include "accord/crypto.h"
#include "accord/store.h"

typedef struct audit audit;
typedef struct audit_batch audit_batch;
typedef struct audit_record audit_record;

#define AUDIT_HASH_LEN 32
#define AUDIT_ENTRY_MAX ((size_t)64 * 1024)    /* one packed entry, at most */
#define AUDIT_TEXT_MAX 1024            /* one text field, at most */
#define AUDIT_PATHS_MAX 256            /* disclosed or withheld paths */
#define AUDIT_BATCH_MAX 100000         /* entries in one batch */
#define AUDIT_PROOF_MAX 66             /* hashes in any proof */
#define AUDIT_NOTE_MAX 8192            /* a checkpoint note, bytes */
#define AUDIT_NOTE_SIGS_MAX 16         /* signature lines in a note */
#define AUDIT_NAME_MAX 256             /* origin and key names */

/* Values of proto/audit.proto's Event and Outcome. */
typedef enum audit_event {
	AUDIT_EVENT_UNSPECIFIED = 0,
	AUDIT_DISCLOSED = 1,
	AUDIT_RECEIVED = 2,
	AUDIT_REFUSED = 3,
	AUDIT_DELIVERED = 4,
	AUDIT_PURGED = 5,
	AUDIT_CONSENT_WITHDRAWN = 6,
	AUDIT_PROTOCOL_LOADED = 7,
	AUDIT_PROTOCOL_REFUSED = 8,
	AUDIT_PEER_INCONSISTENT = 9,
} audit_event;

typedef enum audit_outcome {
	AUDIT_OUTCOME_UNSPECIFIED = 0,
	AUDIT_SUCCESS = 1,
	AUDIT_FAILURE = 2,
	AUDIT_DENIED = 3,
} audit_outcome;

/* "DISCLOSED", "SUCCESS", ...; NULL for an unknown value. */
const char *audit_event_name(int ev);
const char *audit_outcome_name(int oc);
/* The value named (case-insensitive), or -1. */
int audit_event_parse(const char *name);
int audit_outcome_parse(const char *name);

/*
 * One entry. Strings may be NULL (absent); the has_* flags say whether a
 * hash is present. Entries read back point into their audit_record.
 */
typedef struct audit_entry {
	uint64_t sequence;       /* assigned by append */
	int64_t time_ms;         /* Unix ms; 0 at append means now */
	int event;               /* audit_event */
	const char *protocol_id;
	int64_t protocol_version;
	bool has_protocol_digest;
	uint8_t protocol_digest[CRYPTO_SHA256_LEN];
	const char *rule_id;
	const char *purpose;
	const char *from;
	const char *to;
	const char *record_type;
	const char *const *disclosed;
	size_t n_disclosed;
	const char *const *withheld;
	size_t n_withheld;
	bool has_record_sha256;
	uint8_t record_sha256[CRYPTO_SHA256_LEN];
	const char *message_id;
	bool has_subject;
	uint8_t subject[AUDIT_HASH_LEN];
	bool has_peer_key;
	uint8_t peer_key[CRYPTO_SHA256_LEN];
	const char *actor;
	int outcome;             /* audit_outcome */
	const char *reason;
} audit_entry;

/* A proof: n hashes, in the order RFC 9162 gives them. */
typedef struct audit_proof {
	size_t n;
	uint8_t hash[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
} audit_proof;

/* ---- the log ------------------------------------------------------------ */

/*
 * Open the audit log in st (which must outlive it), creating its databases
 * and the node's audit secret (audit.key, 32 random bytes, 0600) when the
 * store is writable and they are missing. Errors as store_db, and
 * ACCORD_EPERM for an unsafe audit.key.
 */
int audit_open(store *st, audit **out, accord_error *e) ACCORD_MUST_CHECK;
void audit_close(audit *a);

/* The number of entries (the next sequence number). */
int audit_size(audit *a, uint64_t *size, accord_error *e) ACCORD_MUST_CHECK;

/*
 * Group commit: begin a batch, append entries to it, commit once. An
 * append checks and packs the entry and gives it its sequence number (in
 * *seq, may be NULL); nothing is written until audit_batch_commit, which
 * writes every entry, its tree hashes and its subject index in one durable
 * transaction, together with whatever `extra` (may be NULL) puts into the
 * same transaction (the inbox or outbox item an entry records). When the
 * store must grow, the whole transaction, extra included, runs again.
 * On failure nothing of the batch is kept and the sequence numbers it gave
 * are given again. Commit and abort free the batch. One batch at a time.
 *
 * Errors: ACCORD_EINVAL (a field too long, a malformed hash),
 * ACCORD_ETOOBIG (batch too big), ACCORD_EFULL (store full: the log refuses
 * every append from then on), ACCORD_EIO.
 */
int audit_batch_begin(audit *a, audit_batch **out, accord_error *e) ACCORD_MUST_CHECK;
int audit_batch_append(audit_batch *b, const audit_entry *entry, uint64_t *seq,
		       accord_error *e) ACCORD_MUST_CHECK;
int audit_batch_commit(audit_batch *b, store_write_fn extra, void *ctx,
		       accord_error *e) ACCORD_MUST_CHECK;
void audit_batch_abort(audit_batch *b);

/* One entry in a batch of its own. */
int audit_append(audit *a, const audit_entry *entry, uint64_t *seq,
		 accord_error *e) ACCORD_MUST_CHECK;

/* ---- reading ------------------------------------------------------------ */

/* Read entry seq (ACCORD_ENOTFOUND past the end; ACCORD_EPARSE when its
 * bytes do not decode). Free with audit_record_free. */
int audit_read(audit *a, uint64_t seq, audit_record **out, accord_error *e)
	ACCORD_MUST_CHECK;
/* Decode packed entry bytes from elsewhere (a proof) into a new record;
 * the bytes are copied. ACCORD_ETOOBIG, ACCORD_EPARSE, ACCORD_ENOMEM. */
int audit_record_parse(const void *bytes, size_t len, audit_record **out)
	ACCORD_MUST_CHECK;
const audit_entry *audit_record_entry(const audit_record *r);
const uint8_t *audit_record_bytes(const audit_record *r, size_t *len);
void audit_record_free(audit_record *r);

/* ---- the forms a DPO's tools read ---------------------------------------- */

typedef struct json_t json_t;

/* time_ms as RFC 3339 in UTC with milliseconds ("2026-09-21T10:13:20.000Z"),
 * or in decimal when the calendar cannot show it. */
void audit_time_format(int64_t ms, char out[static 32]);

/*
 * en as the JSON object `accord audit list --json`, `show --json` and
 * `export --format jsonl` print: a key for every member, null when absent;
 * times as audit_time_format, hashes in lower-case hex, event and outcome
 * by name. A new value (json_decref it), NULL only when out of memory.
 *
 * Nothing is left out. Text that is not UTF-8 (an entry written before the
 * receiver refused such envelope strings may hold some) is written as
 * record_utf8_escape writes it, each stray byte as \xNN, and its exact
 * bytes go into the last member, "not_utf8": an object from the member's
 * name ("from", "reason", "disclosed[2]") to those bytes in lower-case hex;
 * null when every text is UTF-8. Only "not_utf8" tells an escape from text
 * that holds a backslash.
 */
json_t *audit_entry_json(const audit_entry *en);

/* The CSV export (RFC 4180): the header line, and en's row, the JSON form
 * flattened: lists joined with ';', "not_utf8" as "from=ff;reason=c3",
 * nulls empty. The row is written whole or not at all: 0, ACCORD_ENOMEM,
 * or ACCORD_EIO when f reports an error. */
int audit_csv_header(FILE *f) ACCORD_MUST_CHECK;
int audit_entry_csv(FILE *f, const audit_entry *en) ACCORD_MUST_CHECK;

/* What audit_iterate passes; every set member must match. */
typedef struct audit_filter {
	int64_t since_ms, until_ms;  /* time_ms in [since, until); 0: open */
	const char *partner;         /* equals from or to */
	const char *purpose;
	int event;                   /* an audit_event; 0 any */
	const char *rule_id;
	uint64_t first, last;        /* sequence range; last 0: to the end */
} audit_filter;

/* Called for each matching entry in sequence order; a non-zero return stops
 * the iteration and is returned. */
typedef int (*audit_visit_fn)(const audit_entry *entry, void *ctx);

int audit_iterate(audit *a, const audit_filter *f, audit_visit_fn fn, void *ctx,
		  accord_error *e) ACCORD_MUST_CHECK;

/*
 * The subject pseudonym: HMAC-SHA256 under the node's audit secret over
 *   "accord-subject-v1" 0x1F given 0x1F family 0x1F birth_date
 * where given and family names are normalised: leading and trailing
 * whitespace (space, tab, CR, LF) removed, each inner run of it replaced by
 * one space, ASCII letters lower-cased (other bytes, such as UTF-8 letters,
 * are kept as they are); birth_date must be a valid YYYY-MM-DD. Names must
 * be non-empty after normalisation and at most AUDIT_TEXT_MAX bytes.
 */
int audit_subject_pseudonym(audit *a, const char *given, const char *family,
			    const char *birth_date, uint8_t out[AUDIT_HASH_LEN],
			    accord_error *e) ACCORD_MUST_CHECK;

/* The sequences of every entry about a pseudonym, ascending (malloc'd in
 * *seqs, *n of them; free()). */
int audit_subject_entries(audit *a, const uint8_t pseudonym[AUDIT_HASH_LEN],
			  uint64_t **seqs, size_t *n, accord_error *e)
	ACCORD_MUST_CHECK;

/* ---- the tree ----------------------------------------------------------- */

/* The root hash of the first size entries (size <= audit_size). The root
 * of the empty tree is SHA-256 of nothing. */
int audit_root(audit *a, uint64_t size, uint8_t root[AUDIT_HASH_LEN],
	       accord_error *e) ACCORD_MUST_CHECK;

/* RFC 9162 2.1.3.1: the inclusion proof of leaf index in the tree of size. */
int audit_inclusion_proof(audit *a, uint64_t index, uint64_t size,
			  audit_proof *p, accord_error *e) ACCORD_MUST_CHECK;

/* RFC 9162 2.1.4.1: the consistency proof from size m to size n. */
int audit_consistency_proof(audit *a, uint64_t m, uint64_t n, audit_proof *p,
			    accord_error *e) ACCORD_MUST_CHECK;

/*
 * Sign the current tree head as a checkpoint note (see below), keep it in
 * audit_checkpoint, and return it (malloc'd NUL-terminated text) in *note.
 * origin may be NULL after the first checkpoint; the first one fixes the
 * log's origin and signer, and a later one with another is refused
 * (ACCORD_EINVAL).
 */
int audit_checkpoint(audit *a, const crypto_signer *signer, const char *origin,
		     char **note, accord_error *e) ACCORD_MUST_CHECK;

/* The latest stored checkpoint (malloc'd text), ACCORD_ENOTFOUND if none. */
int audit_latest_checkpoint(audit *a, char **note, accord_error *e) ACCORD_MUST_CHECK;

/* The origin and signer key fixed by the first checkpoint. */
int audit_identity(audit *a, char origin[AUDIT_NAME_MAX],
		   uint8_t pub[CRYPTO_ED25519_PUB_LEN], accord_error *e)
	ACCORD_MUST_CHECK;

/* ---- verification of the whole log -------------------------------------- */

typedef struct audit_report {
	uint64_t size;            /* entries read */
	uint64_t checkpoints;     /* stored checkpoints checked */
	bool ok;
	uint64_t bad_seq;         /* the first bad sequence (when !ok) */
	bool bad_has_seq;         /* false when the fault is not one entry's */
	char why[400];
} audit_report;

/*
 * Recompute the tree from the entries: every entry's leaf hash and every
 * stored subtree hash, each entry's sequence against its key, every stored
 * checkpoint's root and signature (against pub, or the log's recorded
 * signer when pub is NULL), and, when external (a checkpoint note held
 * elsewhere, may be NULL) is given, that it verifies under pub and that the
 * log contains its tree: the same root at its size, so a cut-off tail or a
 * rewritten past shows. Returns 0 when the check ran (see r->ok), an error
 * when it could not (unreadable store, malformed external note).
 */
int audit_verify(audit *a, const uint8_t *pub, const char *external,
		 size_t external_len, audit_report *r, accord_error *e)
	ACCORD_MUST_CHECK;

/* ---- pure functions: no store needed ------------------------------------ */

/* SHA-256(0x00 || data) and SHA-256(0x01 || left || right). */
int audit_leaf_hash(const void *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
	ACCORD_MUST_CHECK;
int audit_node_hash(const uint8_t left[AUDIT_HASH_LEN],
		    const uint8_t right[AUDIT_HASH_LEN], uint8_t out[AUDIT_HASH_LEN])
	ACCORD_MUST_CHECK;

/*
 * A tree over leaf hashes held in memory (a batch of receipts is signed as
 * one): every complete subtree's hash computed once (2n hashes for n
 * leaves), so that the root and each leaf's inclusion proof cost no more
 * hashing. At most AUDIT_MEMTREE_MAX leaves.
 */
#define AUDIT_MEMTREE_MAX ((size_t)1 << 20)
typedef struct audit_memtree audit_memtree;
int audit_memtree_build(const uint8_t (*leaves)[AUDIT_HASH_LEN], size_t n,
			audit_memtree **out) ACCORD_MUST_CHECK;
void audit_memtree_root(const audit_memtree *t, uint8_t out[AUDIT_HASH_LEN]);
int audit_memtree_inclusion(const audit_memtree *t, uint64_t index, audit_proof *p)
	ACCORD_MUST_CHECK;
void audit_memtree_free(audit_memtree *t);

/* RFC 9162 2.1.3.2: true when p proves leaf (a leaf hash) is at index in
 * the tree of size with root. */
bool audit_inclusion_verify(const uint8_t leaf[AUDIT_HASH_LEN], uint64_t index,
			    uint64_t size, const audit_proof *p,
			    const uint8_t root[AUDIT_HASH_LEN]);

/* RFC 9162 2.1.4.2: true when p proves the tree (n, root_n) extends the tree
 * (m, root_m). For m == n the proof must be empty and the roots equal; for
 * m == 0 the proof must be empty (every tree extends the empty one). */
bool audit_consistency_verify(uint64_t m, const uint8_t root_m[AUDIT_HASH_LEN],
			      uint64_t n, const uint8_t root_n[AUDIT_HASH_LEN],
			      const audit_proof *p);

/*
 * A checkpoint note (C2SP tlog-checkpoint in a C2SP signed note):
 *
 *   <origin>\n<size, decimal>\n<root hash, base64>\n
 *   \n
 *   \u2014 <key name> <base64(key hash[4] || Ed25519 signature[64])>\n
 *
 * The signature is over the three body lines; the key hash is the first 4
 * bytes of SHA-256(key name || 0x0A || 0x01 || public key). Accord's origin
 * (and key name) is "accord.audit/<partner-id>".
 */
typedef struct audit_note {
	char origin[AUDIT_NAME_MAX];
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	size_t body_len;          /* bytes of the text that are signed */
	size_t n_sigs;
	struct {
		char name[AUDIT_NAME_MAX];
		uint8_t key_hash[4];
		uint8_t sig[CRYPTO_ED25519_SIG_LEN];
	} sigs[AUDIT_NOTE_SIGS_MAX];
} audit_note;

/* The origin Accord uses for a partner's log, into out. */
int audit_origin(const char *partner_id, char out[AUDIT_NAME_MAX]) ACCORD_MUST_CHECK;

/* Make a note for (origin, size, root) signed by signer under key name
 * origin; malloc'd in *out. */
int audit_note_sign(const char *origin, uint64_t size,
		    const uint8_t root[AUDIT_HASH_LEN], const crypto_signer *signer,
		    char **out, accord_error *e) ACCORD_MUST_CHECK;

/* Parse a note strictly (size, line and signature caps; canonical decimal
 * and base64), checking no signature. ACCORD_EPARSE with the reason. */
int audit_note_parse(const char *text, size_t len, audit_note *out,
		     accord_error *e) ACCORD_MUST_CHECK;

/* Parse, then require a signature line named after the note's origin whose
 * key hash matches pub and whose signature verifies: ACCORD_ESIG if not. */
int audit_note_verify(const char *text, size_t len,
		      const uint8_t pub[CRYPTO_ED25519_PUB_LEN], audit_note *out,
		      accord_error *e) ACCORD_MUST_CHECK;

#endif
