/*
 * node_case.c - what the data path reads from a record, and the case a
 * record belongs to.
 *
 * Every record type carries referral_id: the referrer's reference, which
 * names the case between the referring partner and the partner referred
 * to. A Referral opens the case (pending), a ReferralReply accepts or
 * declines it, a CaseClosure closes it. Rules with `when: in-case` apply
 * only to an accepted case.
 */
#include "node_int.h"
#include "node_case.h"
#include "records.pb-c.h"

const char *node_referral_id(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "referral_id");
	const char *s;

	if (!f || f->type != PROTOBUF_C_TYPE_STRING)
		return NULL;
	s = *(const char *const *)((const char *)m + f->offset);
	return s && *s ? s : NULL;
}

bool node_subject(node *n, const ProtobufCMessage *m, uint8_t out[AUDIT_HASH_LEN])
{
	const Accord__Records__Referral *r = (const Accord__Records__Referral *)m;
	const Accord__Records__Subject *s;

	if (m->descriptor != &accord__records__referral__descriptor || !r->subject)
		return false;
	s = r->subject;
	if (!s->given_name[0] || !s->family_name[0] || !s->birth_date[0])
		return false;
	return audit_subject_pseudonym(n->au, s->given_name, s->family_name, s->birth_date,
				       out, NULL) == 0;
}

/* The case between a and b about referral_id, in either direction. */
state_case_item *node_case_find(node *n, const char *a, const char *b, const char *rid)
{
	state_case_item *c = NULL;

	if (!rid)
		return NULL;
	if (state_case_get(n->sb, a, b, rid, &c, NULL) == 0)
		return c;
	if (state_case_get(n->sb, b, a, rid, &c, NULL) == 0)
		return c;
	return NULL;
}

policy_case_state node_case_state(const state_case_item *c)
{
	if (!c)
		return POLICY_CASE_NONE;
	switch (c->state) {
	case ACCORD__STATE__CASE_ITEM__STATE__PENDING: return POLICY_CASE_PENDING;
	case ACCORD__STATE__CASE_ITEM__STATE__ACCEPTED: return POLICY_CASE_ACCEPTED;
	case ACCORD__STATE__CASE_ITEM__STATE__DECLINED: return POLICY_CASE_DECLINED;
	case ACCORD__STATE__CASE_ITEM__STATE__CLOSED: return POLICY_CASE_CLOSED;
	default: return POLICY_CASE_NONE;
	}
}

/* A fresh case item, or NULL when out of memory. */
static state_case_item *new_case(const char *referrer, const char *recipient, const char *rid)
{
	state_case_item *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	accord__state__case_item__init(c);
	c->referrer = strdup(referrer);
	c->recipient = strdup(recipient);
	c->referral_id = strdup(rid);
	if (!c->referrer || !c->recipient || !c->referral_id) {
		state_free(c);
		return NULL;
	}
	return c;
}

int node_case_next(node *n, const ProtobufCMessage *m, const char *from, const char *to,
		   const uint8_t *subject, state_case_item **out)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *rid = node_referral_id(m);
	state_case_item *c;

	*out = NULL;
	if (!rid)
		return 0;
	if (d == &accord__records__referral__descriptor) {
		const Accord__Records__Referral *r = (const Accord__Records__Referral *)m;

		c = new_case(from, to, rid);
		if (!c)
			return ACCORD_ENOMEM;
		c->state = ACCORD__STATE__CASE_ITEM__STATE__PENDING;
		if (r->consent) {
			c->consent.len = protobuf_c_message_get_packed_size(&r->consent->base);
			c->consent.data = malloc(c->consent.len ? c->consent.len : 1);
			if (!c->consent.data) {
				state_free(c);
				return ACCORD_ENOMEM;
			}
			protobuf_c_message_pack(&r->consent->base, c->consent.data);
		}
		if (subject) {
			c->subject.data = malloc(AUDIT_HASH_LEN);
			if (!c->subject.data) {
				state_free(c);
				return ACCORD_ENOMEM;
			}
			memcpy(c->subject.data, subject, AUDIT_HASH_LEN);
			c->subject.len = AUDIT_HASH_LEN;
		}
	} else if (d == &accord__records__referral_reply__descriptor ||
		   d == &accord__records__case_closure__descriptor) {
		c = node_case_find(n, from, to, rid);
		if (!c)
			return 0;
		if (d == &accord__records__case_closure__descriptor)
			c->state = ACCORD__STATE__CASE_ITEM__STATE__CLOSED;
		else if (((const Accord__Records__ReferralReply *)m)->decision ==
			 ACCORD__RECORDS__REFERRAL_REPLY__DECISION__ACCEPTED)
			c->state = ACCORD__STATE__CASE_ITEM__STATE__ACCEPTED;
		else
			c->state = ACCORD__STATE__CASE_ITEM__STATE__DECLINED;
	} else {
		return 0;
	}
	c->updated_ms = node_now_ms();
	*out = c;
	return 0;
}

/* The consent recorded with a case, unpacked (record_free it), or NULL. */
ProtobufCMessage *node_case_consent(const state_case_item *c)
{
	ProtobufCMessage *m = NULL;

	if (!c || !c->consent.len)
		return NULL;
	if (record_unpack(&accord__records__consent__descriptor, c->consent.data,
			  c->consent.len, &m, NULL) != 0)
		return NULL;
	return m;
}
