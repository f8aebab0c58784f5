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
 *   outbox_pending  message id -> (empty): the PENDING items
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

int state_open(store *st, state **out, accord_error *e) ACCORD_MUST_CHECK;
void state_close(state *s);

/* Free any message these functions returned (NULL is fine). */
void state_free(void *msg);

/* Put (insert or replace) inside the caller's write transaction. */
int state_outbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		     const state_outbox_item *item, accord_error *e) ACCORD_MUST_CHECK;
int state_inbox_put(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
		    const state_inbox_item *item, accord_error *e) ACCORD_MUST_CHECK;
int state_case_put(state *s, MDB_txn *txn, const state_case_item *item,
		   accord_error *e) ACCORD_MUST_CHECK;

/* Keep the receipt answered for inbox item id with the item as it is in
 * txn (an acknowledgement since is kept). ACCORD_ENOTFOUND: no such item. */
int state_inbox_set_receipt(state *s, MDB_txn *txn, const uint8_t id[STATE_ID_LEN],
			    const uint8_t *receipt, size_t len, accord_error *e)
	ACCORD_MUST_CHECK;

/* Get one (ACCORD_ENOTFOUND when there is none). */
int state_outbox_get(state *s, const uint8_t id[STATE_ID_LEN], state_outbox_item **out,
		     accord_error *e) ACCORD_MUST_CHECK;
int state_inbox_get(state *s, const uint8_t id[STATE_ID_LEN], state_inbox_item **out,
		    accord_error *e) ACCORD_MUST_CHECK;
int state_case_get(state *s, const char *referrer, const char *recipient,
		   const char *referral_id, state_case_item **out, accord_error *e)
	ACCORD_MUST_CHECK;

/* Visit every item in key order; fn returns 0 to go on, anything else to
 * stop (and that is returned). The item is valid during the call only. */
typedef int (*state_outbox_fn)(const uint8_t id[STATE_ID_LEN], const state_outbox_item *item,
			       void *ctx);
typedef int (*state_inbox_fn)(const uint8_t id[STATE_ID_LEN], const state_inbox_item *item,
			      void *ctx);
int state_outbox_each(state *s, state_outbox_fn fn, void *ctx, accord_error *e)
	ACCORD_MUST_CHECK;
int state_inbox_each(state *s, state_inbox_fn fn, void *ctx, accord_error *e)
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
