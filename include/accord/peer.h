/*
 * peer.h - the peer listener: HTTPS with mutual TLS 1.3, for other nodes.
 *
 * Every connection's client certificate must carry the TLS key of a partner
 * of the protocol in force (node.h), checked at the handshake and again at
 * each request, since the protocol may change between the two.
 *
 *   POST /v1/envelopes   an Envelope (protobuf) -> a signed Receipt
 *   POST /v1/deliveries  a Delivery of up to NODE_DELIVERY_MAX envelopes ->
 *                        a DeliveryAnswer: a status and receipt for each
 *   GET  /v1/protocol    the protocol in force: id, version, digest (JSON)
 *   GET  /v1/checkpoint  this node's latest signed audit checkpoint
 *
 * A body over the most the listener reads (NODE_DELIVERY_MAX_BYTES, or the
 * configured max_body_bytes when larger) is refused unread by libevent,
 * which answers 413 itself, as it answers 400 to a malformed request or
 * one whose headers are over 16 KiB; such refusals are audited all the
 * same (node_receive_refused_unread).
 */
#ifndef ACCORD_PEER_H
#define ACCORD_PEER_H

#include "accord/node.h"

typedef struct peer peer;

/* Listen on the configured host:port. */
int peer_open(node *n, peer **out, accord_error *e) ACCORD_MUST_CHECK;
void peer_close(peer *p);

/* Every partner's request taken has its answer written in full (or its
 * connection closed): a stopping node waits for this, so that a partner
 * gets the receipt for what this node committed. */
bool peer_idle(const peer *p);

#endif
