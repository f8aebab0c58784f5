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

/* Log a line to stderr with the time and the node's partner id. */
void node_log(const node *n, const char *fmt, ...) ACCORD_PRINTF(2, 3);

#endif
