/*
 * local.h - the local API: HTTP and JSON on a Unix socket, for the agency's
 * own case-management system and the accord CLI. The socket file's mode
 * (0660) is the access control: whoever may open it may use the API.
 *
 *   GET /v1/status       the node: partner, protocol in force or why not
 *   GET /v1/outbox?state=S&limit=N&after=ID
 *   GET /v1/inbox?unacked=true&limit=N&after=ID
 *                        a page of a list (node_outbox_json, node_inbox_json)
 */
#ifndef ACCORD_LOCAL_H
#define ACCORD_LOCAL_H

#include "accord/node.h"

typedef struct local local;

int local_open(node *n, local **out, accord_error *e) ACCORD_MUST_CHECK;
void local_close(local *l);

/* Every request taken has its answer written in full (or its client gone):
 * a stopping node waits for this before its loop ends. */
bool local_idle(const local *l);

/*
 * The query string of GET /v1/outbox (outbox) or GET /v1/inbox into *pg
 * (query may be NULL: the first page of NODE_PAGE_DEFAULT items of every
 * state). ACCORD_EINVAL, with why naming the parameter and what it takes,
 * for an unknown or repeated parameter or a bad value.
 */
int local_page_query(const char *query, bool outbox, node_page *pg, char *why, size_t size)
	ACCORD_MUST_CHECK;

#endif
