/*
 * policy.c - deciding a disclosure against the protocol in force.
 *
 * policy_open does the work once per protocol: it compiles every rule's
 * fields, finds each record type's consent field and writes the sentence
 * an allowed decision gives, so policy_decide only compares ids. Refusals
 * are rare and explain themselves at length; that is where the time goes.
 */
#include "records.pb-c.h"

#include "accord/policy.h"

struct prule {
	const protocol_rule *r;
	const ProtobufCMessageDescriptor *type;
	record_selection *sel;
	const ProtobufCFieldDescriptor *consent;  /* the type's Consent field */
	char **allowed;                           /* per r->to: the reason */
};

struct policy {
	const protocol *p;
	const protocol_sigs *s;
	size_t n;
	struct prule *rules;
};

static const ProtobufCFieldDescriptor *consent_field(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
		    d->fields[i].label != PROTOBUF_C_LABEL_REPEATED &&
		    d->fields[i].descriptor == &accord__records__consent__descriptor)
			return &d->fields[i];
	return NULL;
}

static int compile_rule(const protocol *p, const protocol_rule *r, struct prule *pr,
			accord_error *e)
{
	const char **never = calloc(protocol_never_share_count(p) + 1, sizeof *never);
	int rc;

	pr->r = r;
	pr->type = record_type_find(r->record);
	if (!never)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	if (!pr->type) {
		free(never);
		return accord_fail(e, ACCORD_EINVALID, "rule '%s': record type '%s' is "
				   "unknown", r->id, r->record);
	}
	for (size_t i = 0; i < protocol_never_share_count(p); i++)
		never[i] = protocol_never_share_at(p, i);
	rc = record_selection_new(pr->type, r->fields, r->n_fields, never,
				  protocol_never_share_count(p), &pr->sel, e);
	free(never);
	if (rc != 0)
		return rc == ACCORD_ENOMEM ? rc : ACCORD_EINVALID;
	pr->consent = consent_field(pr->type);
	pr->allowed = calloc(r->n_to, sizeof *pr->allowed);
	if (!pr->allowed)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	for (size_t i = 0; i < r->n_to; i++) {
		char buf[sizeof ((policy_decision *)0)->reason];
		int n = snprintf(buf, sizeof buf, "rule '%s' allows %s to share a %s with "
				 "%s for purpose '%s'", r->id, r->from, r->record,
				 r->to[i], r->purpose);

		if (n < 0 || (size_t)n >= sizeof buf || !(pr->allowed[i] = strdup(buf)))
			return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	return 0;
}

int policy_open(const protocol *p, const protocol_sigs *s, policy **out, accord_error *e)
{
	policy *pl = calloc(1, sizeof *pl);
	int rc;

	if (!pl)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	pl->p = p;
	pl->s = s;
	pl->n = protocol_rule_count(p);
	pl->rules = calloc(pl->n ? pl->n : 1, sizeof *pl->rules);
	if (!pl->rules) {
		rc = accord_fail(e, ACCORD_ENOMEM, "out of memory");
		goto out_close;
	}
	for (size_t i = 0; i < pl->n; i++) {
		rc = compile_rule(p, protocol_rule_at(p, i), &pl->rules[i], e);
		if (rc != 0)
			goto out_close;
	}
	*out = pl;
	return 0;
out_close:
	policy_close(pl);
	return rc;
}

void policy_close(policy *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; pl->rules && i < pl->n; i++) {
		struct prule *pr = &pl->rules[i];

		record_selection_free(pr->sel);
		for (size_t k = 0; pr->allowed && k < pr->r->n_to; k++)
			free(pr->allowed[k]);
		free(pr->allowed);
	}
	free(pl->rules);
	free(pl);
}

const protocol *policy_protocol(const policy *pl)
{
	return pl->p;
}

const record_selection *policy_rule_selection(const policy *pl, const protocol_rule *r)
{
	for (size_t i = 0; i < pl->n; i++)
		if (pl->rules[i].r == r)
			return pl->rules[i].sel;
	return NULL;
}

const char *policy_refusal_name(policy_refusal r)
{
	static const char *const names[] = {
		[POLICY_ALLOWED] = "allowed",
		[POLICY_NOT_IN_FORCE] = "not-in-force",
		[POLICY_UNKNOWN_SENDER] = "unknown-sender",
		[POLICY_UNKNOWN_RECIPIENT] = "unknown-recipient",
		[POLICY_UNKNOWN_PURPOSE] = "unknown-purpose",
		[POLICY_UNKNOWN_TYPE] = "unknown-record-type",
		[POLICY_NO_RULE] = "no-rule",
		[POLICY_WRONG_TYPE] = "wrong-record-type",
		[POLICY_NO_CASE] = "no-case",
		[POLICY_NO_CONSENT] = "no-consent",
		[POLICY_CONSENT_NOT_GIVEN] = "consent-not-given",
		[POLICY_CONSENT_SCOPE] = "consent-scope",
	};

	return (size_t)r < sizeof names / sizeof names[0] ? names[r] : "unknown";
}

/* --- refusals ------------------------------------------------------------ */

static int refuse(policy_decision *out, policy_refusal why, const char *fmt, ...)
	ACCORD_PRINTF(3, 4);
static int refuse(policy_decision *out, policy_refusal why, const char *fmt, ...)
{
	accord_error e;
	va_list ap;

	out->refusal = why;
	va_start(ap, fmt);
	accord_vfail(&e, ACCORD_EREFUSED, fmt, ap);
	va_end(ap);
	_Static_assert(sizeof out->reason == sizeof e.msg, "a reason is an error message");
	memcpy(out->reason, e.msg, sizeof out->reason);
	return ACCORD_EREFUSED;
}

static bool lists(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Rules that come close to rq: the same sender and type, and either the
 * same purpose (another recipient) or the same recipient (another
 * purpose). Written as "; rule 'x' shares it with y for purpose 'z'". */
static void near_misses(const policy *pl, const policy_request *rq, char *buf, size_t size)
{
	size_t used = 0, found = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < pl->n && found < 3; i++) {
		const protocol_rule *r = pl->rules[i].r;
		bool same_purpose = strcmp(r->purpose, rq->purpose) == 0;
		bool same_to = lists(r->to, r->n_to, rq->to);
		int n;

		if (strcmp(r->from, rq->from) != 0 || strcmp(r->record, rq->record_type) != 0 ||
		    (!same_purpose && !same_to))
			continue;
		if (same_purpose)
			n = snprintf(buf + used, size - used, "; rule '%s' shares it with %s "
				     "for that purpose", r->id, r->to[0]);
		else
			n = snprintf(buf + used, size - used, "; rule '%s' shares it with %s "
				     "for purpose '%s'", r->id, rq->to, r->purpose);
		if (n < 0 || (size_t)n >= size - used) {
			buf[used] = '\0';
			return;
		}
		used += (size_t)n;
		found++;
	}
}

static const char *case_words(policy_case_state s)
{
	switch (s) {
	case POLICY_CASE_PENDING: return "the referral is still waiting for a reply";
	case POLICY_CASE_DECLINED: return "the referral was declined";
	case POLICY_CASE_CLOSED: return "the case is closed";
	case POLICY_CASE_ACCEPTED: return "the case is open";
	case POLICY_CASE_NONE: break;
	}
	return "there is no case between them";
}

/* The consent condition of a rule that requires it. */
static int check_consent(const struct prule *pr, const policy_request *rq,
			 policy_decision *out)
{
	const protocol_rule *r = pr->r;
	const Accord__Records__Consent *c = NULL;
	char scope[256] = "";
	size_t used = 0;

	if (pr->consent) {
		c = *(const Accord__Records__Consent *const *)(const void *)
			((const char *)rq->record + pr->consent->offset);
		if (!c)
			return refuse(out, POLICY_NO_CONSENT, "rule '%s' requires the person's "
				      "consent, and this %s carries none: record it (given, "
				      "given_at, recorded_by, scope) in '%s'", r->id, r->record,
				      pr->consent->name);
	} else {
		if (rq->case_consent &&
		    rq->case_consent->descriptor == &accord__records__consent__descriptor)
			c = (const Accord__Records__Consent *)rq->case_consent;
		if (!c)
			return refuse(out, POLICY_NO_CONSENT, "rule '%s' requires the person's "
				      "consent, and no consent is recorded for the case this "
				      "%s is about", r->id, r->record);
	}
	if (!c->given)
		return refuse(out, POLICY_CONSENT_NOT_GIVEN, "rule '%s' requires the person's "
			      "consent, and the consent recorded says it was not given",
			      r->id);
	for (size_t i = 0; i < c->n_scope; i++) {
		int n;

		if (strcmp(c->scope[i], r->purpose) == 0)
			return 0;
		n = snprintf(scope + used, sizeof scope - used, "%s'%s'", i ? ", " : "",
			     c->scope[i]);
		if (n > 0 && (size_t)n < sizeof scope - used)
			used += (size_t)n;
	}
	if (c->n_scope == 0)
		return refuse(out, POLICY_CONSENT_SCOPE, "rule '%s' requires consent for "
			      "purpose '%s', and the person's consent names no purpose "
			      "(its scope is empty)", r->id, r->purpose);
	return refuse(out, POLICY_CONSENT_SCOPE, "rule '%s' requires consent for purpose "
		      "'%s', and the person's consent covers only %s", r->id, r->purpose,
		      scope);
}

/* --- the decision -------------------------------------------------------- */

static int check_parties(const policy *pl, const policy_request *rq, policy_decision *out)
{
	const protocol *p = pl->p;

	if (!pl->s->all_signed || !protocol_dates_cover(p, rq->day)) {
		accord_error e = { 0 };

		if (protocol_in_force(p, pl->s, rq->day, &e) != 0)
			return refuse(out, POLICY_NOT_IN_FORCE, "nothing may be shared: %s",
				      accord_error_msg(&e));
	}
	if (!protocol_partner_find(p, rq->from))
		return refuse(out, POLICY_UNKNOWN_SENDER, "'%s' is not a partner of protocol "
			      "'%s' version %ld, so it may share nothing under it",
			      rq->from, protocol_id(p), protocol_version(p));
	if (!protocol_partner_find(p, rq->to))
		return refuse(out, POLICY_UNKNOWN_RECIPIENT, "'%s' is not a partner of "
			      "protocol '%s' version %ld, so nothing may be shared with it",
			      rq->to, protocol_id(p), protocol_version(p));
	if (!protocol_purpose_find(p, rq->purpose))
		return refuse(out, POLICY_UNKNOWN_PURPOSE, "'%s' is not one of the purposes "
			      "of protocol '%s' version %ld", rq->purpose, protocol_id(p),
			      protocol_version(p));
	if (!record_type_find(rq->record_type))
		return refuse(out, POLICY_UNKNOWN_TYPE, "'%s' is not a record type (known: "
			      "Referral, ReferralReply, ProgressUpdate, ConsentWithdrawal, "
			      "CaseClosure)", rq->record_type);
	return 0;
}

static const struct prule *find_rule(const policy *pl, const policy_request *rq,
				     size_t *to_index)
{
	for (size_t i = 0; i < pl->n; i++) {
		const protocol_rule *r = pl->rules[i].r;

		if (strcmp(r->from, rq->from) != 0 || strcmp(r->purpose, rq->purpose) != 0 ||
		    strcmp(r->record, rq->record_type) != 0)
			continue;
		for (size_t k = 0; k < r->n_to; k++)
			if (strcmp(r->to[k], rq->to) == 0) {
				*to_index = k;
				return &pl->rules[i];
			}
	}
	return NULL;
}

int policy_decide(const policy *pl, const policy_request *rq, policy_decision *out)
{
	const struct prule *pr;
	size_t k = 0;
	int rc;

	out->rule = NULL;
	out->selection = NULL;
	rc = check_parties(pl, rq, out);
	if (rc != 0)
		return rc;
	pr = find_rule(pl, rq, &k);
	if (!pr) {
		char near[384];

		near_misses(pl, rq, near, sizeof near);
		return refuse(out, POLICY_NO_RULE, "no rule lets %s share a %s with %s for "
			      "purpose '%s'%s", rq->from, rq->record_type, rq->to,
			      rq->purpose, near);
	}
	out->rule = pr->r;
	out->selection = pr->sel;
	if (rq->record->descriptor != pr->type)
		return refuse(out, POLICY_WRONG_TYPE, "the record is a %s, not a %s as "
			      "rule '%s' shares", rq->record->descriptor->short_name,
			      pr->type->short_name, pr->r->id);
	if (pr->r->when == PROTOCOL_WHEN_IN_CASE && rq->case_state != POLICY_CASE_ACCEPTED)
		return refuse(out, POLICY_NO_CASE, "rule '%s' applies only within a case %s "
			      "accepted and has not closed, and %s", pr->r->id, rq->to,
			      case_words(rq->case_state));
	if (pr->r->consent == PROTOCOL_CONSENT_REQUIRED) {
		rc = check_consent(pr, rq, out);
		if (rc != 0)
			return rc;
	}
	out->refusal = POLICY_ALLOWED;
	memcpy(out->reason, pr->allowed[k], strlen(pr->allowed[k]) + 1);
	return 0;
}
