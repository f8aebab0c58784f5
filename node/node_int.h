/*
 * node_int.h - the node's state, shared by node.c (protocol),
 * node_commit.c (the group commit on the writer thread), node_send.c (local
 * API -> decide -> minimise -> audit -> outbox), node_outbox.c (deliver ->
 * receipt), node_recv.c (peer API -> check -> audit+store -> receipt) and
 * node_delivery.c (a Delivery's envelopes in, their answers out).
 * Internal to the library.
 */
#ifndef ACCORD_NODE_INT_H
#define ACCORD_NODE_INT_H

#include <event2/event.h>

#include "accord/audit.h"
#include "accord/courier.h"
#include "accord/node.h"
#include "accord/policy.h"
#include "accord/receipt.h"
#include "accord/state.h"
#include "accord/store.h"
#include "accord/witness.h"
#include "envelope.pb-c.h"

#define NODE_MAX_IN_FLIGHT 2048   /* envelopes posted and not yet settled */

/* Why an op is failed once a commit failed for good (n->broken). */
#define NODE_BROKEN_WHY "the audit log cannot be written, so the node shares nothing"

struct flight;
struct idset;

/* One audited change waiting for the loop turn's group commit. */
struct op {
	struct op *next;
	audit_entry entry;        /* strings point into the op's own copies */
	uint64_t seq;             /* given at append */
	double t0;                /* node_monotonic() when the request came */
	int seq_status;           /* a refusal's HTTP status */
	/* Writes into the commit's transaction besides the entry (may be NULL). */
	int (*put)(node *n, MDB_txn *txn, struct op *op, accord_error *e);
	/* Called once the commit is durable (rc 0) or failed. */
	void (*done)(node *n, struct op *op, int rc, const accord_error *e);
	bool wants_checkpoint;    /* a receipt will carry the checkpoint */
	const char *note;         /* that checkpoint, set before done */
	uint64_t witness_size;    /* the checkpoint of ours the sender holds */
	size_t receipt_index;     /* its receipt's place in n->receipts */
	bool unaudited;           /* a state change alone (an acknowledgement) */
	node_reply_fn reply;      /* the face's answer, and its argument */
	void *reply_arg;
	/* What the kinds of op carry. */
	uint8_t id[STATE_ID_LEN];
	char id_hex[2 * STATE_ID_LEN + 1];
	state_outbox_item *outbox;    /* owned */
	state_inbox_item *inbox;      /* owned */
	state_case_item *case_item;   /* owned, may be NULL */
	char *peer_note;              /* owned: a partner's checkpoint to hold from
	                               * this commit on (a delivery's outcome) */
	json_t *answer;               /* owned: a refusal's 403 body */
	char *answer_text;            /* owned: a disclosure's 202 body, written out */
	size_t answer_len;
	int64_t acked_ms;             /* an acknowledgement's time, then the one kept */
	int ack_status;               /* and its answer when not 200 */
	char *strings;                /* owned: the entry's strings */
	const char **paths;           /* owned: disclosed and withheld paths */
};

#define METRIC_SERIES 256
#define METRIC_BUCKETS 11

/* A Prometheus histogram of seconds, over node_views.c's bounds. */
struct histogram {
	uint64_t bucket[METRIC_BUCKETS];  /* cumulative counts per bound */
	double sum;
	uint64_t count;
};

struct metrics {
	uint64_t disclosed, refused, received, delivered, delivery_failures;
	/* disclosures by (partner, purpose, outcome), as the local API saw them */
	struct series {
		char partner[PROTOCOL_MAX_ID + 1], purpose[PROTOCOL_MAX_ID + 1];
		char outcome[16];
		uint64_t n;
	} series[METRIC_SERIES];
	size_t n_series;
	struct histogram latency;   /* from a local request to its durable answer */
	/* the group commits: how many, of how many audited changes, how long
	 * from the handover to the writer until durable */
	uint64_t commits, commits_failed, committed_ops;
	struct histogram commit;
};

/* Count one answered local request (node_views.c). */
void node_metric_disclosure(node *n, const char *partner, const char *purpose,
			    const char *outcome, double seconds);
/* Count one group commit of ops changes (node_views.c). */
void node_metric_commit(node *n, size_t ops, bool ok, double seconds);
double node_monotonic(void);

struct node {
	config cf;
	struct event_base *base;
	tls *server, *client;
	crypto_signer *signer;
	protocol *proto;            /* the protocol in force, or NULL */
	protocol_sigs *sigs;
	policy *pol;                /* compiled for proto */
	accord_date proto_day;      /* the day it was last found in force */
	char refusal[512];
	store *st;
	audit *au;
	state *sb;
	char origin[AUDIT_NAME_MAX];
	courier *cr;
	struct event *flush_ev;     /* hands the queued ops to the writer */
	struct committer *cw;       /* the writer thread (node_commit.c) */
	struct op *ops, **ops_tail;
	size_t n_ops;
	witness *wit;               /* the checkpoints we hold of partners */
	struct event *deliver_ev;   /* wakes the outbox */
	int64_t wake_at_ms;         /* when it is set to */
	struct flight *flights;     /* posts in flight (node_outbox.c) */
	size_t in_flight;           /* the envelopes they carry */
	struct idset *busy;         /* their ids, and those settling */
	bool broken;                /* the audit cannot be written: share nothing
				     * (NODE_BROKEN_WHY, to each later op) */
	bool stopping;              /* SIGTERM: finish, take nothing new */
	int64_t ckpt_stored_ms;     /* when a checkpoint was last stored */
	/* The receipts of the commit being answered, signed as one batch, and
	 * the last consistency proof made for them (senders of one batch
	 * mostly hold the same checkpoint of ours). */
	receipt_batch *receipts;
	struct {
		bool valid;
		uint64_t witness_size;
		audit_proof proof;
	} consistency;
	struct kept_receipt {       /* receipts to store with the next commit */
		uint8_t id[STATE_ID_LEN];
		uint8_t *bytes;
		size_t len;
	} *rcpt;
	size_t n_rcpt, cap_rcpt;
	uint8_t id_pool[4000];      /* random bytes for message ids (node_send.c) */
	size_t id_pool_used;
	struct metrics m;
};

/* A signed checkpoint of the log's head for receipts (malloc'd). With
 * keep (the writer thread only), it is stored (a transaction of its own) at
 * most once a second; in between it is only signed: any note is as good a
 * witness. */
int node_sign_head(node *n, bool keep, char **note, accord_error *e) ACCORD_MUST_CHECK;

/* Keep a receipt answered for inbox item id, to store with the next
 * commit; takes bytes (malloc'd, len bytes). */
void node_keep_receipt(node *n, const uint8_t id[STATE_ID_LEN], uint8_t *bytes, size_t len);

/* Queue op for the next group commit (takes ownership); its done runs on
 * the loop once the commit is durable or failed (node_commit.c). */
void node_enqueue(node *n, struct op *op);
void node_op_free(struct op *op);

/* The writer thread and its events; stopping commits what is queued. */
int node_commit_start(node *n, accord_error *e) ACCORD_MUST_CHECK;
void node_commit_stop(node *n);
/* Commit what is queued now and wait for it (reload, close). */
void node_commit_now(node *n);
/* The ops the writer is committing (NULL when none): the loop may read
 * them, not change them. */
const struct op *node_commit_ops(const node *n);
/* Nothing queued, nothing being committed. */
bool node_commit_idle(const node *n);

/* Copy the strings an entry points to into op->strings (one block). */
int node_op_own_strings(struct op *op);

/* Format into out (size bytes; at most 1,024 are used) as snprintf does,
 * then escape with record_utf8_escape: text that echoes a peer's bytes or
 * is cut inside a character comes out UTF-8, fit for JSON and the audit. */
void node_vtext(char *out, size_t size, const char *fmt, va_list ap) ACCORD_PRINTF(3, 0);
void node_text(char *out, size_t size, const char *fmt, ...) ACCORD_PRINTF(3, 4);

/* {"error": msg}, or NULL when out of memory. A reason may echo what a
 * client or a peer sent, or be cut short inside a character: it is escaped
 * with record_utf8_escape, or jansson would refuse it and the answer would
 * carry no reason at all. */
json_t *node_error_json(const char *msg);

/* An audit entry's common fields from the protocol in force. */
void node_entry_protocol(node *n, audit_entry *en);

int64_t node_now_ms(void);

/* An envelope received from a partner (node_recv.c). */
struct inbound {
	const protocol_partner *from;   /* whose TLS key the peer showed */
	const uint8_t *spki;            /* that key's SHA-256 */
	Accord__Envelope__Envelope *env;
	const protocol_rule *rule;      /* set by node_envelope_check */
	ProtobufCMessage *record;       /* likewise; the caller record_frees it */
	bool id_taken;                  /* the inbox holds its id from another partner */
	bool inexact;                   /* env lost bytes unpacking: no string is whole */
};

/*
 * An envelope's strings, the first of the receiving side's checks, on
 * in->env as unpacked from the len bytes at body: it must pack back to
 * exactly those bytes (record_exact: no string cut short at a NUL byte),
 * and each string must be UTF-8 text (protobuf-c checks neither), or
 * nothing else about the envelope is compared or echoed. Returns 0, or
 * 422 with a sentence in why naming the field (a string's start shown
 * escaped); in->inexact is set when the envelope did not pack back, and
 * then none of its strings is audited either.
 */
int node_envelope_text_check(struct inbound *in, const void *body, size_t len, char *why,
			     size_t size);

/*
 * The receiving side's checks that need no store, on an envelope that
 * passed node_envelope_text_check, for the node whose partner id is self
 * under protocol p and its compiled policy pol: the message id's length,
 * the protocol digest, the sender against the TLS identity in->from, the
 * recipient, the rule, and the record (unpacked into in->record and
 * checked against the rule's fields). Returns 0 with in->rule set, or the
 * refusal's HTTP status with a sentence in why. The in-case condition of
 * a rule is the caller's to check.
 */
int node_envelope_check(const protocol *p, const policy *pol, const char *self,
			struct inbound *in, char *why, size_t size);

/*
 * A Delivery (node_delivery.c), the part of node_receive_batch that needs
 * no node. node_delivery_unpack unpacks len bytes of body and checks the
 * envelope count: 0 with *out set (the caller frees it with
 * accord__envelope__delivery__free_unpacked), or the refusal of the whole
 * request with a sentence in why and *out NULL: 422 (not a Delivery, or
 * not all of the bytes: record_exact) or 413 (more than
 * NODE_DELIVERY_MAX envelopes).
 */
int node_delivery_unpack(const void *body, size_t len, Accord__Envelope__Delivery **out,
			 char *why, size_t size) ACCORD_MUST_CHECK;
/* Envelope i of a Delivery (b) against the node's body limit cap: 0, or
 * its own refusal, 413, with a sentence in why. */
int node_delivery_envelope_check(const ProtobufCBinaryData *b, size_t i, size_t cap,
				 char *why, size_t size) ACCORD_MUST_CHECK;

/*
 * The answers to a Delivery of n envelopes (NULL when out of memory): each
 * envelope i is answered once, in any order, by node_delivery_collect as
 * the node_reply_fn with node_delivery_slot(d, i) as its argument. When
 * node_delivery_close was called and every envelope is answered, fn gets
 * 200 with the packed DeliveryAnswer (the results in the envelopes' order)
 * or 503 when out of memory, and d is freed.
 */
struct delivery;
struct delivery *node_delivery_new(size_t n, node_reply_fn fn, void *arg);
void *node_delivery_slot(struct delivery *d, size_t i);
void node_delivery_collect(const node_reply *r, void *slot);
void node_delivery_close(struct delivery *d);

/* The local API's submit request, parsed (node_send.c). */
struct node_submit_req {
	const char *to, *purpose, *type, *actor;
	const cJSON *record;          /* borrowed from the request */
};

/* Check the request's keys, their types, and the lengths of the ids and the
 * actor (no longer than an id, or than an audit entry keeps); a sentence
 * in e when wrong. */
int node_submit_parse(const cJSON *req, struct node_submit_req *s, accord_error *e)
	ACCORD_MUST_CHECK;

/* The outbox: schedule deliveries (node_send.c). */
void node_outbox_kick(node *n, long delay_ms);
int node_outbox_start(node *n, accord_error *e) ACCORD_MUST_CHECK;
/* Forget the posts in flight (after courier_close cancelled them). */
void node_outbox_stop(node *n);

#endif
