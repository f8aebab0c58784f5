/*
 * state.h - the node's working state: outbox, inbox and cases.
 *
 * Three LMDB databases in the node's one environment (store.h), each
 * mapping a key to a packed message of proto/state.proto. Writes take the
 * caller's write transaction, so that a state change and the audit entry
 * recording it commit together (audit_batch_commit's `extra`); reads open
 * their own read transaction. Messages returned are protobuf-c's unpacked
 * messages: free them with state_free.
 *
 *   outbox  message id (16 bytes)                  -> OutboxItem
 *   inbox   message id (16 bytes)                  -> InboxItem
 *   cases   referrer \0 recipient \0 referral_id   -> CaseItem
 *
 * An outbox item's envelope is kept apart, written once, in
 *
 *   outbox_envelopes  message id -> the packed Envelope
 *
 * so that the item, rewritten at each attempt and at its delivery, stays
 * small: state_outbox_put moves it there, and the reads that deliver
 * (state_outbox_get, state_outbox_each_pending) give it back in the item.
 * An item an earlier version wrote with its envelope inside reads the
 * same. A page of the list (state_outbox_page) does not read it.
 *
 * and indexes, each message id -> (empty), written by the puts in the same
 * transaction as the item, so that their sizes are counts (state_count)
 * and a list of one state reads only its items (state_outbox_page):
 *
 *   outbox_pending, outbox_delivered, outbox_refused, outbox_paused
 *           the outbox items in that state (one index each)
 *   inbox_unacked   the inbox items not acknowledged
 *
 * Message ids start with a millisecond clock, so key order is time order,
 * and a new item's key mostly sorts after every other: the puts then ask
 * LMDB to append it, which fills pages rather than leave them half full.
 */
#ifndef ACCORD_STATE_H
#define ACCORD_STATE_H

#include <lmdb.h>

#include "accord/error.h"
#include "accord/store.h"
#include "state.pb-c.h"

#define STATE_ID_LEN 16

typedef struct state state;
typedef Accord__State__OutboxItem state_outbox_item;
typedef Accord__State__InboxItem state_inbox_item;
typedef Accord__State__CaseItem state_case_item;

/*
 * Open the state in st. A writable store that lacks an index (one written
 * before the index existed) gets it built from the items, once, in one
 * write transaction; state_reindexed tells how many items that read.
 * Errors: those of store_db and store_write; ACCORD_EPARSE when an item
 * to index does not unpack; ACCORD_ENOTFOUND when st is read only and a
 * database or index is missing.
 */
int state_open(store *st, state **out, accord_error *e) ACCORD_MUST_CHECK;
void state_close(state *s);
size_t state_reindexed(const state *s);

/* Free any message these functions returned (NULL is fine). */
void state_free(void *msg);

/* Put (insert or replace) inside the caller's write transaction; the
 * item's indexes follow its state (outbox) or acknowledgement (inbox). */
int state_outbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		     const state_outbox_item *item, accord_error *e) ACCORD_MUST_CHECK;
int state_inbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		    const state_inbox_item *item, accord_error *e) ACCORD_MUST_CHECK;
int state_case_put(state *s, MDB_txn *txn, const state_case_item *item,
		   accord_error *e) ACCORD_MUST_CHECK;

/* Keep the receipt answered for inbox item id, beside the item (in
 * inbox_receipts, so that the item, its envelope and record with it, is
 * written once, as received). */
int state_inbox_set_receipt(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			    const uint8_t *receipt, size_t len, accord_error *e)
	ACCORD_MUST_CHECK;
/* The receipt kept for inbox item id (it, as read): a copy in *out (free
 * it), from the item itself when a store of format 2 or older kept it
 * there. ACCORD_ENOTFOUND when none was kept (the node stopped between
 * the item's commit and its receipt's). */
int state_inbox_receipt(state *s, const uint8_t id[STATE_ID_LEN], const state_inbox_item *it,
			uint8_t **out, size_t *len, accord_error *e) ACCORD_MUST_CHECK;
/* Mark inbox item id acknowledged at acked_ms, reading it in txn; *was:
 * when it was acknowledged, acked_ms or an earlier time. ACCORD_ENOTFOUND
 * when there is no such item. */
int state_inbox_set_acked(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			  int64_t acked_ms, int64_t *was, accord_error *e) ACCORD_MUST_CHECK;

/* Get one (ACCORD_ENOTFOUND when there is none). */
int state_outbox_get(state *s, const uint8_t id[STATE_ID_LEN], state_outbox_item **out,
		     accord_error *e) ACCORD_MUST_CHECK;
int state_inbox_get(state *s, const uint8_t id[STATE_ID_LEN], state_inbox_item **out,
		    accord_error *e) ACCORD_MUST_CHECK;
int state_case_get(state *s, const char *referrer, const char *recipient,
		   const char *referral_id, state_case_item **out, accord_error *e)
	ACCORD_MUST_CHECK;

/* The number of items in each table and index, from their sizes: no
 * item is read. */
typedef struct state_counts {
	size_t outbox, pending, delivered, refused, paused;
	size_t inbox, unacked;
} state_counts;
int state_count(state *s, state_counts *out, accord_error *e) ACCORD_MUST_CHECK;

/*
 * Visit one page of items in id order: those after the id `after` (NULL:
 * from the first; it need not be an item's), at most limit of them. *more
 * says whether items remain after the last one visited. The outbox page
 * holds the items in state st, or every item for STATE_UNSPECIFIED (0);
 * the inbox page only the unacknowledged ones when unacked. A list of one
 * state walks its index, not the table.
 *
 * fn returns 0 to go on, anything else to stop (and that is returned); the
 * item is valid during the call only. ACCORD_EINVAL: st is no state.
 */
typedef int (*state_outbox_fn)(const uint8_t id[STATE_ID_LEN], const state_outbox_item *item,
			       void *ctx);
typedef int (*state_inbox_fn)(const uint8_t id[STATE_ID_LEN], const state_inbox_item *item,
			      void *ctx);
int state_outbox_page(state *s, int st, const uint8_t *after, size_t limit,
		      state_outbox_fn fn, void *ctx, bool *more, accord_error *e)
	ACCORD_MUST_CHECK;
int state_inbox_page(state *s, bool unacked, const uint8_t *after, size_t limit,
		     state_inbox_fn fn, void *ctx, bool *more, accord_error *e)
	ACCORD_MUST_CHECK;

/* Visit only the outbox items still PENDING (an index kept by
 * state_outbox_put in the same transaction): the deliveries' hot path.
 * Ids for which skip (may be NULL) says true are passed over unread. The
 * visitor may keep an item: it sets *item to NULL and state_frees it
 * later; otherwise the item is valid during the call only. */
typedef int (*state_outbox_take_fn)(const uint8_t id[STATE_ID_LEN], state_outbox_item **item,
				    void *ctx);
int state_outbox_each_pending(state *s, bool (*skip)(const uint8_t id[STATE_ID_LEN], void *ctx),
			      state_outbox_take_fn fn, void *ctx, accord_error *e)
	ACCORD_MUST_CHECK;

#endif
