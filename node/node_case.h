/* node_case.h - records' cases and subjects, for the data path. Internal. */
#ifndef ACCORD_NODE_CASE_H
#define ACCORD_NODE_CASE_H

#include "node_int.h"

/* The record's referral_id, or NULL when empty or absent. */
const char *node_referral_id(const ProtobufCMessage *m);

/* The audit pseudonym of a Referral's subject; false for other records or
 * when the subject's names or birth date are missing. */
bool node_subject(node *n, const ProtobufCMessage *m, uint8_t out[AUDIT_HASH_LEN]);

/* The case between partners a and b about rid, either way round (state_free
 * it), or NULL. */
state_case_item *node_case_find(node *n, const char *a, const char *b, const char *rid);
policy_case_state node_case_state(const state_case_item *c);
ProtobufCMessage *node_case_consent(const state_case_item *c);

/* The case as it will be once record m from `from` to `to` is shared: a new
 * pending case for a Referral, accepted/declined for a ReferralReply, closed
 * for a CaseClosure; *out NULL when the record changes no case. */
int node_case_next(node *n, const ProtobufCMessage *m, const char *from, const char *to,
		   const uint8_t *subject, state_case_item **out) ACCORD_MUST_CHECK;

#endif
