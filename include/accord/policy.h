/*
 * policy.h - the decision: may this record go from one partner to another
 * for this purpose, today, under the protocol?
 *
 * A policy is a protocol compiled for deciding: per rule, its fields as a
 * record_selection, so a decision and the minimisation that follows parse
 * nothing. policy_decide answers with the rule that applies, or a refusal
 * with a code and a sentence a case worker understands (which partner,
 * which purpose, which rule, what is missing, which date passed).
 *
 * In force. The policy checks it itself on every decision: every partner
 * signed (from the protocol_sigs given to policy_open) and the day within
 * effective_from..review_by.
 *
 * Consent. A rule with `consent: required` needs the person's consent,
 * given, and covering the rule's purpose:
 *  - A record type that carries a Consent (Referral.consent) must carry it
 *    itself; the consent recorded elsewhere does not stand in for it.
 *  - The other types (ReferralReply, ProgressUpdate, ConsentWithdrawal,
 *    CaseClosure) carry none: they are about a case, and the consent that
 *    counts is the one recorded with the case (the referral's consent, as
 *    amended by any withdrawal). The caller passes it as case_consent; with
 *    none recorded, a rule needing consent refuses.
 *  - Consent covers a purpose when its scope lists that purpose's id. An
 *    empty scope covers nothing: consent is given for named purposes, and
 *    a record that does not name them is refused, not read as "all".
 *
 * In case. A rule with `when: in-case` applies only while there is a case
 * between sender and recipient that the receiving side accepted and nobody
 * closed: case state POLICY_CASE_ACCEPTED. Every other state refuses.
 */
#ifndef ACCORD_POLICY_H
#define ACCORD_POLICY_H

#include "accord/date.h"
#include "accord/error.h"
#include "accord/protocol.h"
#include "accord/record.h"

typedef struct policy policy;

/* The state of the case between the two partners, as the caller keeps it. */
typedef enum {
	POLICY_CASE_NONE = 0,     /* no case between them */
	POLICY_CASE_PENDING,      /* referred, no reply yet */
	POLICY_CASE_ACCEPTED,     /* accepted and open */
	POLICY_CASE_DECLINED,
	POLICY_CASE_CLOSED,
} policy_case_state;

/* Why a decision refused; POLICY_ALLOWED when it did not. */
typedef enum {
	POLICY_ALLOWED = 0,
	POLICY_NOT_IN_FORCE,      /* unsigned, not yet in force or expired */
	POLICY_UNKNOWN_SENDER,    /* from is not a partner */
	POLICY_UNKNOWN_RECIPIENT, /* to is not a partner */
	POLICY_UNKNOWN_PURPOSE,   /* the protocol names no such purpose */
	POLICY_UNKNOWN_TYPE,      /* not a record type */
	POLICY_NO_RULE,           /* no rule for (from, to, purpose, type) */
	POLICY_WRONG_TYPE,        /* the record is not of the type asked for */
	POLICY_NO_CASE,           /* in-case rule, no accepted open case */
	POLICY_NO_CONSENT,        /* consent required, none there */
	POLICY_CONSENT_NOT_GIVEN, /* consent there, given false */
	POLICY_CONSENT_SCOPE,     /* consent does not cover the purpose */
} policy_refusal;

typedef struct policy_request {
	const char *from;          /* partner ids */
	const char *to;
	const char *purpose;       /* purpose id */
	const char *record_type;   /* "Referral" */
	const ProtobufCMessage *record;  /* the record to share */
	accord_date day;           /* the day of the disclosure (UTC) */
	policy_case_state case_state;
	/* The consent recorded with the case, for record types that carry
	 * none (see above); may be NULL. An accord.records.Consent. */
	const ProtobufCMessage *case_consent;
} policy_request;

typedef struct policy_decision {
	policy_refusal refusal;          /* POLICY_ALLOWED when allowed */
	/* The rule that applies; when refused, the rule whose condition
	 * failed (consent, case), or NULL when no rule matched. */
	const protocol_rule *rule;
	/* The rule's compiled fields, for record_minimise / record_check. */
	const record_selection *selection;
	char reason[512];                /* a sentence, allowed or refused */
} policy_decision;

/*
 * Compile p for deciding. p and s must outlive the policy. Fails with
 * ACCORD_ENOMEM, or ACCORD_EINVALID when a rule's fields do not compile
 * (a protocol that parsed always compiles).
 */
int policy_open(const protocol *p, const protocol_sigs *s, policy **out,
		accord_error *e) ACCORD_MUST_CHECK;
void policy_close(policy *pl);

const protocol *policy_protocol(const policy *pl);

/* The compiled selection of rule r of the policy's protocol, or NULL. */
const record_selection *policy_rule_selection(const policy *pl, const protocol_rule *r);

/*
 * Decide rq. Fills *out and returns 0 when allowed, ACCORD_EREFUSED
 * when refused (out->refusal and out->reason say why). Nothing else fails.
 */
int policy_decide(const policy *pl, const policy_request *rq, policy_decision *out)
	ACCORD_MUST_CHECK;

/* A short fixed name for a refusal ("no-rule"), for logs and JSON. */
const char *policy_refusal_name(policy_refusal r);

#endif
