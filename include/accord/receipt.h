/*
 * receipt.h - the receiver's signed receipt for a delivered envelope, and
 * the sender's check of it (proto/envelope.proto gives the format and the
 * exact bytes signed).
 *
 * The receiver appends its RECEIVED entry, signs a checkpoint of its audit
 * log, and answers with receipt_make. The envelope told it which of its
 * checkpoints the sender holds (witness_size), so it adds the consistency
 * proof between that one and the new one (receipt_consistency). The sender
 * checks the receipt with receipt_check against the checkpoint it holds of
 * the receiver (witness.h), and holds the new one when the check passes:
 *
 *   receiver                                   sender
 *   audit_batch_commit(RECEIVED, inbox)
 *   audit_checkpoint(&note)
 *   receipt_consistency(audit, env->witness_size, note, &proof)
 *   receipt_make(..., note, &proof, &bytes)  ->
 *                                              witness_get(w, receiver, &held)
 *                                              receipt_check(bytes, &expect, &info)
 *                                              audit_batch_commit(DELIVERED,
 *                                                witness_put_txn(info.checkpoint.note))
 *
 * A message delivered again is answered with its first receipt, its proof
 * made anew for the new envelope's witness_size (receipt_reprove).
 */
#ifndef ACCORD_RECEIPT_H
#define ACCORD_RECEIPT_H

#include "accord/audit.h"
#include "accord/crypto.h"
#include "accord/witness.h"

#define RECEIPT_MAX ((size_t)16 * 1024)   /* a packed receipt, bytes */
#define RECEIPT_ID_MAX 64                 /* a message id, bytes */

/*
 * Make the packed Receipt for message_id (id_len bytes, 1..RECEIPT_ID_MAX)
 * whose record bytes hash to record_digest, received by partner receiver
 * at received_at (Unix seconds), carrying the receiver's checkpoint_note
 * and (when consistency is not NULL) its consistency proof; signed by
 * signer (the receiver's signing key). *out is malloc'd, *out_len bytes.
 * Errors: ACCORD_EINVAL (an id, partner id or note out of bounds),
 * ACCORD_ECRYPTO, ACCORD_ENOMEM.
 */
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

/* A receipt that passed receipt_check. */
typedef struct receipt_info {
	int64_t received_at;           /* Unix seconds, the receiver's clock */
	witness_checkpoint checkpoint; /* the receiver's, note owned */
	bool advances;                 /* newer than held: hold it (witness_put_txn) */
} receipt_info;

/*
 * Check the packed receipt bytes (at most RECEIPT_MAX) against x: it must
 * parse; name x's message id, record digest and receiver; carry a
 * signature by x->receiver_key over the bytes envelope.proto gives; carry
 * a checkpoint note of x's origin signed by that key; and, when x->held is
 * set, prove that checkpoint consistent with the held one (the same root at
 * the same size; otherwise a valid consistency proof, whichever is older).
 *
 * Errors: ACCORD_ETOOBIG (too long), ACCORD_EINVAL (malformed, or for
 * another message, record, receiver or log), ACCORD_ESIG (the receipt's or
 * the checkpoint's signature does not verify under the receiver's key),
 * ACCORD_EINCONSISTENT (the receiver's log shrank or forked since the held
 * checkpoint: record it, PEER_INCONSISTENT, and keep the held one),
 * ACCORD_ENOMEM. Each fills e with a sentence naming the receiver. On
 * success free *out with receipt_info_free; on failure it is zeroed.
 */
int receipt_check(const uint8_t *bytes, size_t len, const receipt_expect *x,
		  receipt_info *out, accord_error *e) ACCORD_MUST_CHECK;

void receipt_info_free(receipt_info *r);

#endif
