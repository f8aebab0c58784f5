/*
 * node.h - the daemon's state, and the data path its faces call.
 *
 * A node holds its configuration, the protocol in force (or none: then it
 * shares and accepts nothing), its TLS identity and the pins of its
 * partners. The faces (peer: the HTTPS listener; local: the Unix-socket
 * API; outbox: deliveries) call into it; it never calls them back except
 * through the callbacks they register.
 */
#ifndef ACCORD_NODE_H
#define ACCORD_NODE_H

#include <event2/event.h>
#include <jansson.h>

#include "accord/config.h"
#include "accord/protocol.h"
#include "accord/tls.h"

typedef struct node node;

/*
 * Open a node for cf on base: load the TLS identity and the protocol. A
 * protocol that is not in force is not an error here (the node starts and
 * refuses to share; node_protocol returns NULL, node_refusal says why).
 */
int node_open(const config *cf, struct event_base *base, node **out, accord_error *e)
	ACCORD_MUST_CHECK;
void node_close(node *n);

/*
 * Load the protocol file again (SIGHUP). A new version is taken only when
 * it is valid, fully signed, in force and lists this node; otherwise the
 * old one stays and e says why. Returns 0 when the new version was taken
 * or was the same.
 */
int node_reload(node *n, accord_error *e) ACCORD_MUST_CHECK;

const config *node_config(const node *n);
struct event_base *node_base(const node *n);
tls *node_server_tls(node *n);
tls *node_client_tls(node *n);

/* The protocol in force now, or NULL (and why, in node_refusal). The
 * pointer stays valid until the next node_reload. */
const protocol *node_protocol(node *n);
const char *node_refusal(const node *n);

/* The partner of the protocol in force whose TLS key is spki, or NULL. */
const protocol_partner *node_partner_by_spki(node *n, const uint8_t spki[CRYPTO_SHA256_LEN]);

/*
 * The data path. Each call answers through fn exactly once, perhaps from
 * inside the call (a refusal that needs no audit), usually after the loop
 * turn's group commit made its audit entry durable. The answer is an HTTP
 * status and a body: JSON (json, which fn must decref) or bytes.
 */
typedef struct node_reply {
	int status;
	json_t *json;
	const void *bytes;
	size_t len;
	const char *content_type;
} node_reply;
typedef void (*node_reply_fn)(const node_reply *r, void *arg);

/*
 * The local API's POST /v1/disclosures: body is JSON {to, purpose,
 * record_type, record, actor?}. Parse, decide, minimise, audit DISCLOSED
 * and queue the envelope in the outbox (one transaction), then answer 202
 * {message_id, rule, shared, withheld}; or 403 with the reason (audited
 * REFUSED), 422 for bad input, 503 when the audit cannot be written.
 */
void node_submit(node *n, const char *body, size_t len, node_reply_fn fn, void *arg);

/*
 * The peer API's POST /v1/envelopes from the partner whose TLS key is spki:
 * check the envelope, audit RECEIVED and store it in the inbox (one
 * transaction), and answer 200 with a signed Receipt carrying our
 * checkpoint; a repeated message id is answered with the first receipt.
 * Refusals are audited (REFUSED) and answered 403/409/422 with the reason.
 */
void node_receive(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], const void *body,
		  size_t len, node_reply_fn fn, void *arg);

/*
 * The refusal of a POST /v1/envelopes (batch false) or /v1/deliveries
 * body of len bytes, over the node's limit cap, without reading it:
 * audited REFUSED with what is known (the partner by its TLS key spki, the
 * size) and answered 413; or 403/503 as node_receive would answer before.
 */
void node_receive_too_big(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], bool batch,
			  size_t len, size_t cap, node_reply_fn fn, void *arg);

/*
 * A request from the partner whose TLS key is spki that the HTTP layer
 * refused unread and answered itself with status (413: a body over the
 * most it reads; 400: malformed, or headers over its limit; ...), why
 * saying so: audited REFUSED with what is known, once the loop turn's
 * group commit makes it durable. Nothing is answered here. Not audited
 * when node_receive would answer 403 or 503 before reading.
 */
void node_receive_refused_unread(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], int status,
				 const char *why);

/*
 * The peer API's POST /v1/deliveries: a Delivery of envelopes from one
 * partner (envelope.proto), each checked, audited and answered as
 * node_receive would, all in the loop turn's one commit, their receipts
 * signed as one batch. Answers 200 with a DeliveryAnswer holding each
 * envelope's result in order; or, for the whole request, 403 (not a
 * partner), 413 (more than NODE_DELIVERY_MAX envelopes), 422 (not a
 * Delivery) or 503 (stopping, or the audit cannot be written).
 */
#define NODE_DELIVERY_MAX 1024
#define NODE_DELIVERY_MAX_BYTES ((size_t)8 * 1024 * 1024)
void node_receive_batch(node *n, const uint8_t spki[CRYPTO_SHA256_LEN], const void *body,
			size_t len, node_reply_fn fn, void *arg);

/* The local API's reads: JSON documents (NULL when out of memory), and
 * the Prometheus text of GET /metrics (malloc'd). The counts in them come
 * from the sizes of the store's indexes: none of these reads every item. */
json_t *node_status_json(node *n);

/*
 * One page of the outbox or inbox (GET /v1/outbox, GET /v1/inbox): the
 * counts, "items" in message id order (time order: ids start with a
 * millisecond clock), and "next", the id to start the next page after,
 * when items remain. *status 200, or 500 with {"error"} when the store
 * cannot be read.
 */
#define NODE_PAGE_DEFAULT 100
#define NODE_PAGE_MAX 1000
typedef struct node_page {
	size_t limit;         /* 1..NODE_PAGE_MAX items */
	bool has_after;       /* start after the message id `after` */
	uint8_t after[16];
	int state;            /* outbox: only items in this OutboxItem state; 0: all */
	bool unacked;         /* inbox: only the items not acknowledged */
} node_page;
json_t *node_outbox_json(node *n, const node_page *pg, int *status);
json_t *node_inbox_json(node *n, const node_page *pg, int *status);
/* One inbox item (with its record as JSON); *status 200, 404 or 500. */
json_t *node_inbox_item_json(node *n, const char *id_hex, int *status);
/* Acknowledge an inbox item (in the next group commit): fn gets 200
 * {id, acked, acked_ms}, 404, or 503. Acknowledging twice keeps the first
 * time. */
void node_inbox_ack(node *n, const char *id_hex, node_reply_fn fn, void *arg);
char *node_metrics_text(node *n);
/* The latest signed checkpoint of our audit log (malloc'd); non-zero when
 * there is none yet. */
int node_latest_checkpoint(node *n, char **note) ACCORD_MUST_CHECK;

/*
 * Stopping (SIGTERM): from node_stop on, new requests are answered 503 and
 * no new delivery starts; node_idle says when the audited changes of the
 * loop turn are committed and no delivery is in flight.
 */
void node_stop(node *n);
bool node_idle(const node *n);

/* Log a line to stderr with the time and the node's partner id; the
 * message escaped as record_term_escape does (record.h), cut short after
 * 2,047 bytes with "...". */
void node_log(const node *n, const char *fmt, ...) ACCORD_PRINTF(2, 3);

#endif
