/*
 * receipt.h - the receiver's signed receipts for delivered envelopes, and
 * the sender's check of them (proto/envelope.proto gives the format and the
 * exact bytes signed).
 *
 * The receiver commits a turn's RECEIVED entries, signs a checkpoint of its
 * audit log, and signs the receipts of everything that commit received as
 * one batch: one Ed25519 signature over the root of a small Merkle tree of
 * (message id, record digest) leaves. Each receipt carries its leaf's
 * inclusion proof, so it stands on its own. The envelope told the receiver
 * which of its checkpoints the sender holds (witness_size), so it adds the
 * consistency proof between that one and the new one (receipt_consistency).
 * The sender checks each receipt with receipt_check against the checkpoint
 * it holds of the receiver (witness.h), verifying a batch's signature and
 * checkpoint once (receipt_cache), and holds the new checkpoint:
 *
 *   receiver                                   sender
 *   audit_batch_commit(RECEIVED, inbox)
 *   audit_checkpoint(&note)
 *   receipt_batch_add(b, id, digest) ...
 *   receipt_batch_sign(b, ..., note)
 *   receipt_consistency(audit, env->witness_size, note, &proof)
 *   receipt_batch_make(b, i, &proof, &bytes)  ->
 *                                              witness_get(w, receiver, &held)
 *                                              receipt_check(bytes, &expect,
 *                                                            &cache, &info)
 *                                              audit_batch_commit(DELIVERED,
 *                                                witness_put_txn(info.checkpoint.note))
 *
 * Both sides keep receipts without their consistency proof, which served
 * only the check above (receipt_info.kept; receipt_batch_make with no
 * proof): it is about two fifths of a receipt's bytes. A message delivered
 * again is answered with its first receipt, its proof made anew for the
 * new envelope's witness_size (receipt_reprove).
 */
#ifndef ACCORD_RECEIPT_H
#define ACCORD_RECEIPT_H

#include "accord/audit.h"
#include "accord/crypto.h"
#include "accord/witness.h"

#define RECEIPT_MAX ((size_t)16 * 1024)   /* a packed receipt, bytes */
#define RECEIPT_ID_MAX 64                 /* a message id, bytes */

/* The receipts of one commit, signed together. */
typedef struct receipt_batch receipt_batch;

#define RECEIPT_BATCH_MAX ((size_t)65536)  /* receipts in one batch */

int receipt_batch_new(receipt_batch **out, accord_error *e) ACCORD_MUST_CHECK;

/*
 * Add the message message_id (id_len bytes, 1..RECEIPT_ID_MAX) whose record
 * bytes hash to record_digest; *index is its place, for receipt_batch_make.
 * Errors: ACCORD_EINVAL (an id out of bounds, the batch signed already or
 * full), ACCORD_ENOMEM.
 */
int receipt_batch_add(receipt_batch *b, const uint8_t *message_id, size_t id_len,
		      const uint8_t record_digest[CRYPTO_SHA256_LEN], size_t *index,
		      accord_error *e) ACCORD_MUST_CHECK;

/*
 * Sign every receipt added: received by partner receiver at received_at
 * (Unix seconds), carrying the receiver's checkpoint_note; signed by signer
 * (the receiver's signing key). Errors: ACCORD_EINVAL (an empty batch, a
 * partner id or note out of bounds), ACCORD_ECRYPTO, ACCORD_ENOMEM.
 */
int receipt_batch_sign(receipt_batch *b, const crypto_signer *signer,
		       const char *receiver, int64_t received_at,
		       const char *checkpoint_note, accord_error *e) ACCORD_MUST_CHECK;

/*
 * The packed Receipt of the message at index of a signed batch, with its
 * inclusion proof and (when consistency is not NULL) the consistency
 * proof. *out is malloc'd, *out_len bytes. Errors: ACCORD_EINVAL (not
 * signed, no such index), ACCORD_ENOMEM.
 */
int receipt_batch_make(const receipt_batch *b, size_t index,
		       const audit_proof *consistency, uint8_t **out, size_t *out_len,
		       accord_error *e) ACCORD_MUST_CHECK;

void receipt_batch_free(receipt_batch *b);

/* One receipt alone: a batch of one. Arguments and errors as above. */
int receipt_make(const crypto_signer *signer, const uint8_t *message_id,
		 size_t id_len, const uint8_t record_digest[CRYPTO_SHA256_LEN],
		 const char *receiver, int64_t received_at,
		 const char *checkpoint_note, const audit_proof *consistency,
		 uint8_t **out, size_t *out_len, accord_error *e) ACCORD_MUST_CHECK;

/*
 * The consistency proof the receiver owes a sender that holds its
 * checkpoint of witness_size: between that tree and the tree of
 * checkpoint_note (a checkpoint of a's log), the older first. Empty when
 * witness_size is 0 or the note's size. ACCORD_EINCONSISTENT when
 * witness_size is larger than the log: the sender holds a checkpoint of
 * entries this log no longer has, so it lost entries. ACCORD_EINVAL for a
 * malformed note; errors of audit_consistency_proof.
 */
int receipt_consistency(audit *a, uint64_t witness_size, const char *checkpoint_note,
			audit_proof *out, accord_error *e) ACCORD_MUST_CHECK;

/*
 * A receipt given again (the message was delivered before): the stored
 * receipt bytes with their consistency proof made anew for witness_size,
 * as the sender may hold a newer checkpoint than it did the first time.
 * The signed fields are unchanged. *out is malloc'd. Errors as
 * receipt_consistency; ACCORD_ETOOBIG or ACCORD_EINVAL for stored bytes
 * that are not a receipt.
 */
int receipt_reprove(audit *a, const uint8_t *receipt, size_t len,
		    uint64_t witness_size, uint8_t **out, size_t *out_len,
		    accord_error *e) ACCORD_MUST_CHECK;

/* What the sender expects of a receipt. */
typedef struct receipt_expect {
	const uint8_t *message_id;    /* the envelope's */
	size_t id_len;
	const uint8_t *record_digest; /* CRYPTO_SHA256_LEN bytes */
	const char *receiver;         /* the recipient's partner id */
	const uint8_t *receiver_key;  /* its Ed25519 signing key (the protocol's) */
	const char *origin;           /* its log's origin; NULL: audit_origin(receiver) */
	const witness_checkpoint *held; /* the checkpoint held of it; NULL: none */
} receipt_expect;

/*
 * A receipt that passed receipt_check. kept is the receipt as the sender
 * keeps it: the bytes checked less their consistency proof, which only
 * tied the receiver's checkpoint to the one held then, and has been
 * checked. What the receiver signed is all there, and still verifies.
 */
typedef struct receipt_info {
	int64_t received_at;           /* Unix seconds, the receiver's clock */
	witness_checkpoint checkpoint; /* the receiver's, note owned */
	bool advances;                 /* newer than held: hold it (witness_put_txn) */
	uint8_t *kept;                 /* malloc'd, owned; take it or leave it */
	size_t kept_len;
} receipt_info;

/*
 * What a sender learnt from the receipts it checked last: the batch whose
 * signature and checkpoint verified, and the checkpoint held then. The
 * receipts of one batch answer share these, so only the first of them
 * costs the two Ed25519 verifications. Zero it before the first use.
 */
typedef struct receipt_cache {
	bool valid;
	uint8_t header[CRYPTO_SHA256_LEN];   /* the signed bytes' SHA-256 */
	uint8_t key[CRYPTO_ED25519_PUB_LEN]; /* the key that verified them */
	uint8_t sig[CRYPTO_ED25519_SIG_LEN]; /* the signature it verified */
	bool consistent;                     /* with the held checkpoint below */
	uint64_t held_size;                  /* 0: none held */
	uint8_t held_root[AUDIT_HASH_LEN];
} receipt_cache;

/*
 * Check the packed receipt bytes (at most RECEIPT_MAX) against x: it must
 * parse, and pack back to exactly those bytes (record_exact: no string cut
 * short at a NUL byte); name x's message id, record digest and receiver; prove its leaf
 * in its batch; carry a signature by x->receiver_key over the batch's
 * bytes envelope.proto gives; carry a checkpoint note of x's origin signed
 * by that key; and, when x->held is set, prove that checkpoint consistent
 * with the held one (the same root at the same size; otherwise a valid
 * consistency proof, whichever is older). cache (may be NULL) skips the
 * signature checks for a batch already verified, and the consistency check
 * for a pair of checkpoints already found consistent.
 *
 * Errors: ACCORD_ETOOBIG (too long), ACCORD_EINVAL (malformed, or for
 * another message, record, receiver or log, or not in its batch),
 * ACCORD_ESIG (the receipt's or the checkpoint's signature does not verify
 * under the receiver's key), ACCORD_EINCONSISTENT (the receiver's log
 * shrank or forked since the held checkpoint: record it, PEER_INCONSISTENT,
 * and keep the held one), ACCORD_ENOMEM. Each fills e with a sentence
 * naming the receiver. On success free *out with receipt_info_free; on
 * failure it is zeroed.
 */
int receipt_check(const uint8_t *bytes, size_t len, const receipt_expect *x,
		  receipt_cache *cache, receipt_info *out, accord_error *e)
	ACCORD_MUST_CHECK;

void receipt_info_free(receipt_info *r);

#endif
