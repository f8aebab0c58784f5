/* test_policy.c - decisions under the example protocol: every record type
 * allowed and refused, with the reasons a case worker reads; and, for
 * every rule, that the example referral's risk assessment and case notes
 * never leave. */
#include <jansson.h>
#include "records.pb-c.h"

#include "accord/policy.h"
#include "helper.h"

static protocol *p;
static protocol_sigs *sigs;
static policy *pl;

static int setup(void **state)
{
	accord_error e = { 0 };

	th_example(&p, &sigs);
	if (policy_open(p, sigs, &pl, &e) != 0)
		fail_msg("policy_open: %s", accord_error_msg(&e));
	return 0;
}

static int teardown(void **state)
{
	policy_close(pl);
	protocol_sigs_free(sigs);
	protocol_close(p);
	return 0;
}

#define REFERRAL NULL   /* the example referral */
#define IN_FORCE "2026-11-05"
#define CONSENT_CC "{\"given\":true,\"scope\":[\"case-coordination\"]}"

struct decide_case {
	const char *name;
	const char *from, *to, *purpose, *type;
	const char *record;        /* JSON of a record of type, or REFERRAL */
	const char *day;
	policy_case_state cs;
	const char *case_consent;  /* JSON, or NULL */
	policy_refusal want;
	const char *rule;          /* the rule the decision names, or NULL */
	const char *msg;
};

static const struct decide_case decide_cases[] = {
	{ "Referral police to council: allowed", "police", "council",
	  "reintegration-referral", "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_ALLOWED, "police-refers-to-council",
	  "rule 'police-refers-to-council' allows police to share a Referral with council" },
	{ "Referral police to exit-programme: allowed", "police", "exit-programme",
	  "reintegration-referral", "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_ALLOWED, "police-refers-to-exit-programme", "" },
	{ "Referral council to health-trust: allowed", "council", "health-trust",
	  "reintegration-referral", "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_ALLOWED, "council-refers-to-health", "" },
	{ "Referral to a partner no rule names: refused, naming the near rules", "police",
	  "health-trust", "reintegration-referral", "Referral", REFERRAL, IN_FORCE,
	  POLICY_CASE_NONE, NULL, POLICY_NO_RULE, NULL,
	  "no rule lets police share a Referral with health-trust for purpose "
	  "'reintegration-referral'; rule 'police-refers-to-council' shares it with "
	  "council for that purpose" },
	{ "Referral for another purpose: refused, naming the rule's purpose", "police",
	  "council", "case-coordination", "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE,
	  NULL, POLICY_NO_RULE, NULL, "rule 'police-refers-to-council' shares it with "
	  "council for purpose 'reintegration-referral'" },
	{ "Referral without consent: refused", "police", "council",
	  "reintegration-referral", "Referral", "{\"referral_id\":\"R\"}", IN_FORCE,
	  POLICY_CASE_NONE, NULL, POLICY_NO_CONSENT, "police-refers-to-council",
	  "requires the person's consent, and this Referral carries none" },
	{ "Referral with consent not given: refused", "police", "council",
	  "reintegration-referral", "Referral",
	  "{\"consent\":{\"given\":false,\"scope\":[\"reintegration-referral\"]}}",
	  IN_FORCE, POLICY_CASE_NONE, NULL, POLICY_CONSENT_NOT_GIVEN,
	  "police-refers-to-council", "says it was not given" },
	{ "Referral with consent for another purpose: refused", "police", "council",
	  "reintegration-referral", "Referral", "{\"consent\":" CONSENT_CC "}", IN_FORCE,
	  POLICY_CASE_NONE, NULL, POLICY_CONSENT_SCOPE, "police-refers-to-council",
	  "requires consent for purpose 'reintegration-referral', and the person's "
	  "consent covers only 'case-coordination'" },
	{ "Referral with an empty consent scope: refused", "police", "council",
	  "reintegration-referral", "Referral", "{\"consent\":{\"given\":true}}", IN_FORCE,
	  POLICY_CASE_NONE, NULL, POLICY_CONSENT_SCOPE, "police-refers-to-council",
	  "names no purpose (its scope is empty)" },
	{ "after review_by: refused, naming the date", "police", "council",
	  "reintegration-referral", "Referral", REFERRAL, "2027-01-01", POLICY_CASE_NONE,
	  NULL, POLICY_NOT_IN_FORCE, NULL, "expired after its review date 2026-12-31" },
	{ "before effective_from: refused", "police", "council", "reintegration-referral",
	  "Referral", REFERRAL, "2026-09-30", POLICY_CASE_NONE, NULL, POLICY_NOT_IN_FORCE,
	  NULL, "not yet in force on 2026-09-30" },
	{ "a sender that is not a partner: refused", "probation", "council",
	  "reintegration-referral", "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_UNKNOWN_SENDER, NULL, "'probation' is not a partner of protocol "
	  "'eastshire-reintegration' version 3" },
	{ "a recipient that is not a partner: refused", "police", "probation",
	  "reintegration-referral", "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_UNKNOWN_RECIPIENT, NULL, "nothing may be shared with it" },
	{ "a purpose the protocol lacks: refused", "police", "council", "research",
	  "Referral", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL, POLICY_UNKNOWN_PURPOSE,
	  NULL, "'research' is not one of the purposes" },
	{ "a record type that does not exist: refused", "police", "council",
	  "reintegration-referral", "Assessment", REFERRAL, IN_FORCE, POLICY_CASE_NONE,
	  NULL, POLICY_UNKNOWN_TYPE, NULL, "'Assessment' is not a record type" },
	{ "a record not of the type stated: refused", "council", "police",
	  "case-coordination", "ReferralReply", REFERRAL, IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_WRONG_TYPE, "council-replies-to-police",
	  "the record is a Referral, not a ReferralReply" },
	{ "ReferralReply council to police: allowed without consent", "council", "police",
	  "case-coordination", "ReferralReply", "{\"decision\":\"ACCEPTED\"}", IN_FORCE,
	  POLICY_CASE_PENDING, NULL, POLICY_ALLOWED, "council-replies-to-police", "" },
	{ "ReferralReply health-trust to council: allowed", "health-trust", "council",
	  "case-coordination", "ReferralReply", "{\"decision\":\"DECLINED\"}", IN_FORCE,
	  POLICY_CASE_NONE, NULL, POLICY_ALLOWED, "health-replies-to-council", "" },
	{ "ReferralReply health-trust to police: refused", "health-trust", "police",
	  "case-coordination", "ReferralReply", "{}", IN_FORCE, POLICY_CASE_NONE, NULL,
	  POLICY_NO_RULE, NULL, "no rule lets health-trust share a ReferralReply with "
	  "police" },
	{ "ProgressUpdate in an accepted case with consent: allowed", "council", "police",
	  "case-coordination", "ProgressUpdate", "{\"overall\":\"ENGAGED\"}", IN_FORCE,
	  POLICY_CASE_ACCEPTED, CONSENT_CC, POLICY_ALLOWED, "council-reports-progress", "" },
	{ "ProgressUpdate to a second recipient of a rule: allowed", "exit-programme",
	  "council", "case-coordination", "ProgressUpdate", "{}", IN_FORCE,
	  POLICY_CASE_ACCEPTED, CONSENT_CC, POLICY_ALLOWED, "exit-programme-reports-progress",
	  "with council" },
	{ "ProgressUpdate with no case: refused", "council", "police", "case-coordination",
	  "ProgressUpdate", "{}", IN_FORCE, POLICY_CASE_NONE, CONSENT_CC, POLICY_NO_CASE,
	  "council-reports-progress", "applies only within a case police accepted and has "
	  "not closed, and there is no case between them" },
	{ "ProgressUpdate in a closed case: refused", "council", "police",
	  "case-coordination", "ProgressUpdate", "{}", IN_FORCE, POLICY_CASE_CLOSED,
	  CONSENT_CC, POLICY_NO_CASE, "council-reports-progress", "the case is closed" },
	{ "ProgressUpdate in a declined case: refused", "council", "police",
	  "case-coordination", "ProgressUpdate", "{}", IN_FORCE, POLICY_CASE_DECLINED,
	  CONSENT_CC, POLICY_NO_CASE, "council-reports-progress", "was declined" },
	{ "ProgressUpdate with no consent recorded for the case: refused", "council",
	  "police", "case-coordination", "ProgressUpdate", "{}", IN_FORCE,
	  POLICY_CASE_ACCEPTED, NULL, POLICY_NO_CONSENT, "council-reports-progress",
	  "no consent is recorded for the case this ProgressUpdate is about" },
	{ "ProgressUpdate with case consent for another purpose: refused", "council",
	  "police", "case-coordination", "ProgressUpdate", "{}", IN_FORCE,
	  POLICY_CASE_ACCEPTED, "{\"given\":true,\"scope\":[\"reintegration-referral\"]}",
	  POLICY_CONSENT_SCOPE, "council-reports-progress", "covers only "
	  "'reintegration-referral'" },
	{ "ConsentWithdrawal in a case: allowed without consent", "police", "exit-programme",
	  "consent-management", "ConsentWithdrawal", "{\"scope\":[]}", IN_FORCE,
	  POLICY_CASE_ACCEPTED, NULL, POLICY_ALLOWED, "police-passes-on-consent-withdrawal",
	  "" },
	{ "ConsentWithdrawal while the referral is pending: refused", "police", "council",
	  "consent-management", "ConsentWithdrawal", "{}", IN_FORCE, POLICY_CASE_PENDING,
	  NULL, POLICY_NO_CASE, "police-passes-on-consent-withdrawal",
	  "still waiting for a reply" },
	{ "CaseClosure council to police: allowed", "council", "police",
	  "case-coordination", "CaseClosure", "{\"reason\":\"GOALS_MET\"}", IN_FORCE,
	  POLICY_CASE_ACCEPTED, NULL, POLICY_ALLOWED, "council-closes-case", "" },
	{ "CaseClosure from exit-programme: refused", "exit-programme", "police",
	  "case-coordination", "CaseClosure", "{}", IN_FORCE, POLICY_CASE_ACCEPTED, NULL,
	  POLICY_NO_RULE, NULL, "no rule lets exit-programme share a CaseClosure" },
};

static ProtobufCMessage *case_record(const struct decide_case *c)
{
	if (c->record == REFERRAL)
		return th_example_referral();
	return th_record(c->type, c->record);
}

static void test_decide_case(void **state)
{
	const struct decide_case *c = *state;
	ProtobufCMessage *rec = case_record(c);
	ProtobufCMessage *consent = c->case_consent ? th_record("Consent", c->case_consent) : NULL;
	policy_request rq = {
		.from = c->from, .to = c->to, .purpose = c->purpose,
		.record_type = c->type, .record = rec, .case_state = c->cs,
		.case_consent = consent,
	};
	policy_decision dn;
	int rc;

	assert_int_equal(date_parse(c->day, &rq.day), 0);
	rc = policy_decide(pl, &rq, &dn);
	assert_int_equal(rc, c->want == POLICY_ALLOWED ? 0 : ACCORD_EREFUSED);
	if (dn.refusal != c->want)
		fail_msg("refusal %s, wanted %s: %s", policy_refusal_name(dn.refusal),
			 policy_refusal_name(c->want), dn.reason);
	if (c->rule)
		assert_string_equal(dn.rule->id, c->rule);
	else
		assert_null(dn.rule);
	if (!strstr(dn.reason, c->msg))
		fail_msg("reason '%s' lacks '%s'", dn.reason, c->msg);
	if (rc == 0)
		assert_ptr_equal(dn.selection, policy_rule_selection(pl, dn.rule));
	record_free(consent);
	record_free(rec);
}

/* --- every rule of the example ------------------------------------------ */

static bool json_mentions(const json_t *j, const char *needle)
{
	char *s = json_dumps(j, JSON_COMPACT);
	bool found = s && strstr(s, needle);

	free(s);
	return found;
}

/* For one rule (state): a Referral rule shares the example referral
 * without its risk assessment or case notes, in the message and in its
 * JSON, and the full referral fails the check on receipt; a rule of any
 * other type refuses the referral, deciding and on receipt. */
static void test_every_rule(void **state)
{
	const protocol_rule *r = protocol_rule_find(p, ((const char *const *)*state)[1]);
	Accord__Records__Referral *min;
	ProtobufCMessage *ref = th_example_referral(), *out = NULL, *consent;
	policy_request rq = {
		.from = r->from, .to = r->to[0], .purpose = r->purpose,
		.record_type = r->record, .record = ref, .case_state = POLICY_CASE_ACCEPTED,
	};
	policy_decision dn;
	accord_error e = { 0 };
	record_withheld w;
	json_t *j;

	consent = th_record("Consent", "{\"given\":true,\"scope\":[\"case-coordination\"]}");
	rq.case_consent = consent;
	assert_int_equal(date_parse(IN_FORCE, &rq.day), 0);
	assert_non_null(policy_rule_selection(pl, r));
	if (strcmp(r->record, "Referral") != 0) {
		assert_int_equal(policy_decide(pl, &rq, &dn), ACCORD_EREFUSED);
		assert_int_equal(dn.refusal, POLICY_WRONG_TYPE);
		assert_int_equal(record_check(policy_rule_selection(pl, r), ref, &e),
				 ACCORD_EREFUSED);
		assert_non_null(strstr(e.msg, "the record is a Referral"));
		goto out;
	}
	assert_int_equal(policy_decide(pl, &rq, &dn), 0);
	assert_string_equal(dn.rule->id, r->id);
	assert_int_equal(record_minimise(dn.selection, ref, &out, &w, &e), 0);
	min = (Accord__Records__Referral *)out;
	assert_null(min->risk_assessment);
	assert_true(!min->case_notes || !*min->case_notes);
	j = record_to_json(out);
	assert_null(json_object_get(j, "risk_assessment"));
	assert_null(json_object_get(j, "case_notes"));
	assert_false(json_mentions(j, "Channel panel"));
	assert_false(json_mentions(j, "former associates"));
	assert_false(json_mentions(j, "licence conditions"));
	json_decref(j);
	assert_string_equal(w.paths[w.n - 2], "risk_assessment");
	assert_string_equal(w.paths[w.n - 1], "case_notes");
	assert_int_equal(record_check(dn.selection, out, &e), 0);
	assert_int_equal(record_check(dn.selection, ref, &e), ACCORD_EREFUSED);
	record_free(out);
out:
	record_free(consent);
	record_free(ref);
}

static void test_unsigned_protocol(void **state)
{
	protocol_sigs *none = NULL;
	protocol_diags d;
	policy *q = NULL;
	accord_error e = { 0 };
	ProtobufCMessage *ref = th_example_referral();
	policy_request rq = {
		.from = "police", .to = "council", .purpose = "reintegration-referral",
		.record_type = "Referral", .record = ref,
	};
	policy_decision dn;

	assert_int_equal(protocol_sigs_check(p, "none.sig", "", 0, &none, &d), 0);
	assert_int_equal(policy_open(p, none, &q, &e), 0);
	assert_int_equal(date_parse(IN_FORCE, &rq.day), 0);
	assert_int_equal(policy_decide(q, &rq, &dn), ACCORD_EREFUSED);
	assert_int_equal(dn.refusal, POLICY_NOT_IN_FORCE);
	assert_non_null(strstr(dn.reason, "partner 'police' has not signed"));
	assert_ptr_equal(policy_protocol(q), p);
	policy_close(q);
	protocol_sigs_free(none);
	record_free(ref);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_unsigned_protocol),
	};
	static const th_table tables[] = {
		TH_TABLE(decide_cases, test_decide_case),
	};
	/* One test per rule of the example protocol, named for it. */
	static const char *rule_cases[64][2];
	static char names[64][128];
	th_table all[2] = { tables[0], { rule_cases, 0, sizeof rule_cases[0], test_every_rule } };
	protocol *ex;
	protocol_sigs *s;
	int rc;

	th_example(&ex, &s);
	for (size_t i = 0; i < protocol_rule_count(ex) && i < 64; i++) {
		const char *id = protocol_rule_at(ex, i)->id;

		snprintf(names[i], sizeof names[i], "every rule: %s never shares the risk "
			 "assessment", id);
		rule_cases[i][0] = names[i];
		rule_cases[i][1] = strdup(id);
		all[1].n++;
	}
	protocol_sigs_free(s);
	protocol_close(ex);
	rc = th_run("test_policy", fixed, sizeof fixed / sizeof fixed[0], all, 2, setup,
		    teardown);
	for (size_t i = 0; i < all[1].n; i++)
		free((char *)rule_cases[i][1]);
	return rc;
}
