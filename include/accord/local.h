/*
 * local.h - the local API: HTTP and JSON on a Unix socket, for the agency's
 * own case-management system and the accord CLI. The socket file's mode
 * (0660) is the access control: whoever may open it may use the API.
 *
 *   GET /v1/status       the node: partner, protocol in force or why not
 */
#ifndef ACCORD_LOCAL_H
#define ACCORD_LOCAL_H

#include "accord/node.h"

typedef struct local local;

int local_open(node *n, local **out, accord_error *e) ACCORD_MUST_CHECK;
void local_close(local *l);

#endif
