/* test_protocol.c - the protocol document: every validation error, with
 * its line and message, and the limits on the input. */
#include "accord/protocol.h"
#include "helper.h"

static crypto_signer *keys[3];
static char *doc;

static int setup(void **state)
{
	doc = th_protocol_doc(keys);
	return 0;
}

static int teardown(void **state)
{
	free(doc);
	th_keys_close(keys);
	return 0;
}

static void test_valid(void **state)
{
	protocol_diags d;
	protocol *p = NULL;
	const protocol_rule *r;

	assert_int_equal(protocol_parse("t.yaml", doc, strlen(doc), &p, &d), 0);
	assert_int_equal(d.count, 0);
	assert_string_equal(protocol_id(p), "test-partnership");
	assert_int_equal(protocol_version(p), 1);
	assert_int_equal(protocol_partner_count(p), 3);
	assert_int_equal(protocol_purpose_count(p), 2);
	assert_int_equal(protocol_rule_count(p), 2);
	r = protocol_rule_find(p, "police-refers");
	assert_non_null(r);
	assert_int_equal(r->n_to, 2);
	assert_string_equal(r->to[1], "ngo");
	assert_int_equal(r->n_fields, 4);
	assert_string_equal(r->fields[0], "subject.given_name");
	assert_int_equal(r->consent, PROTOCOL_CONSENT_REQUIRED);
	assert_int_equal(r->when, PROTOCOL_WHEN_ANYTIME);
	r = protocol_rule_find(p, "council-reports");
	assert_int_equal(r->when, PROTOCOL_WHEN_IN_CASE);
	assert_int_equal(r->retention_days, 365);
	assert_int_equal(r->line, 46);
	assert_string_equal(protocol_partner_find(p, "ngo")->endpoint, "https://ngo.test");
	assert_true(protocol_dates_cover(p, date_from_civil(2026, 10, 1)));
	assert_true(protocol_dates_cover(p, date_from_civil(2026, 12, 31)));
	assert_false(protocol_dates_cover(p, date_from_civil(2027, 1, 1)));
	assert_false(protocol_dates_cover(p, date_from_civil(2026, 9, 30)));
	protocol_close(p);
}

/* One broken document: an edit of the valid one, where the error must be
 * reported, and words the message must contain. */
struct bad_case {
	const char *name;
	const char *find, *repl;
	int line;
	const char *msg;
	int rc;
};

static const struct bad_case bad_cases[] = {
	{ "unknown top-level key", "title: Test", "colour: blue\ntitle: Test", 4,
	  "unknown key 'colour' in the protocol", ACCORD_EINVALID },
	{ "unknown key in a rule", "    when: anytime\n", "    when: anytime\n    why: because\n",
	  45, "unknown key 'why' in a rule", ACCORD_EINVALID },
	{ "missing required key", "title: Test partnership\n", "", 2,
	  "missing the required key 'title'", ACCORD_EINVALID },
	{ "missing key in a partner", "    endpoint: https://council.test:7443\n", "", 15,
	  "a partner is missing the required key 'endpoint'", ACCORD_EINVALID },
	{ "missing never_share", "never_share:\n  - Referral.case_notes\n", "", 2,
	  "missing the required key 'never_share'", ACCORD_EINVALID },
	{ "duplicate partner id", "  - id: ngo\n", "  - id: police\n", 21,
	  "partner id 'police' is used twice (first at line 9)", ACCORD_EINVALID },
	{ "duplicate purpose id", "  - id: coordination\n", "  - id: referral\n", 31,
	  "purpose id 'referral' is used twice (first at line 28)", ACCORD_EINVALID },
	{ "duplicate rule id", "  - id: council-reports\n", "  - id: police-refers\n", 46,
	  "rule id 'police-refers' is used twice (first at line 37)", ACCORD_EINVALID },
	{ "duplicate key", "    when: in-case\n", "    when: in-case\n    when: anytime\n", 56,
	  "key 'when' appears twice in a rule", ACCORD_EINVALID },
	{ "rule from unknown partner", "    from: council\n", "    from: probation\n", 47,
	  "'from' names 'probation', which is not a partner", ACCORD_EINVALID },
	{ "rule to unknown partner", "[council, ngo]", "[council, housing]", 39,
	  "'to' names 'housing', which is not a partner", ACCORD_EINVALID },
	{ "rule unknown purpose", "    purpose: coordination\n    record",
	  "    purpose: research\n    record", 49,
	  "purpose 'research' is not one of the purposes listed", ACCORD_EINVALID },
	{ "rule unknown record type", "record: ProgressUpdate", "record: Assessment", 50,
	  "record type 'Assessment' is unknown", ACCORD_EINVALID },
	{ "rule unknown field", "subject.family_name,", "subject.surname,", 42,
	  "Subject has no field 'surname'", ACCORD_EINVALID },
	{ "rule unknown nested field", "      - needs.status\n", "      - needs.colour\n", 53,
	  "NeedProgress has no field 'colour'", ACCORD_EINVALID },
	{ "rule path through a scalar", "      - needs.status\n", "      - referral_id.x\n", 53,
	  "'referral_id' is not a message", ACCORD_EINVALID },
	{ "rule names a never_share field", "needs, consent]", "needs, case_notes]", 42,
	  "Referral.case_notes is on the never_share list", ACCORD_EINVALID },
	{ "rule names the risk assessment", "needs, consent]", "needs, risk_assessment.level]",
	  42, "Referral.risk_assessment is on the never_share list", ACCORD_EINVALID },
	{ "from listed in to", "    to: [police]\n", "    to: [police, council]\n", 48,
	  "'council' shares with itself", ACCORD_EINVALID },
	{ "effective_from after review_by", "effective_from: 2026-10-01",
	  "effective_from: 2027-01-05", 7, "review_by 2026-12-31 is before effective_from 2027-01-05",
	  ACCORD_EINVALID },
	{ "review_by too far", "review_by: 2026-12-31", "review_by: 2027-01-10", 7,
	  "101 days after effective_from", ACCORD_EINVALID },
	{ "malformed signing key", "    signing_key: \"", "    signing_key: \"AAAA", 14,
	  "signing_key of partner 'police' is not the base64 of a 32-byte Ed25519",
	  ACCORD_EINVALID },
	{ "malformed pin", "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"", "\"AQEB!\"", 19,
	  "tls_spki_sha256 of partner 'council' is not the base64 of a 32-byte",
	  ACCORD_EINVALID },
	{ "pin of the wrong length", "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"",
	  "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\"", 19,
	  "tls_spki_sha256 of partner 'council'", ACCORD_EINVALID },
	{ "duplicate pin", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 21,
	  "have the same tls_spki_sha256", ACCORD_EINVALID },
	{ "endpoint not https", "https://police.test:7443", "http://police.test:7443", 12,
	  "endpoint of partner 'police' must use https://", ACCORD_EINVALID },
	{ "endpoint with a path", "https://police.test:7443", "https://police.test:7443/api", 12,
	  "must be only https://host:port", ACCORD_EINVALID },
	{ "endpoint not a URL", "https://police.test:7443", "police test", 12,
	  "endpoint of partner 'police' is not a URL", ACCORD_EINVALID },
	{ "no rules", "rules:\n  - id: police-refers\n", "rules: []\nxrules:\n  - id: police-refers\n",
	  36, "rules is empty", ACCORD_EINVALID },
	{ "malformed id", "  - id: ngo\n", "  - id: NGO\n", 21,
	  "partner id 'NGO' is malformed", ACCORD_EINVALID },
	{ "malformed date", "review_by: 2026-12-31", "review_by: 31/12/2026", 7,
	  "review_by '31/12/2026' is not a date", ACCORD_EINVALID },
	{ "impossible date", "review_by: 2026-12-31", "review_by: 2026-11-31", 7,
	  "review_by '2026-11-31' is not a date", ACCORD_EINVALID },
	{ "version not a number", "version: 1", "version: one", 3,
	  "version must be a whole number", ACCORD_EINVALID },
	{ "consent not a known value", "consent: required", "consent: yes", 43,
	  "consent must be 'required' or 'not-required'", ACCORD_EINVALID },
	{ "when not a known value", "when: anytime", "when: weekdays", 44,
	  "when must be 'anytime' or 'in-case'", ACCORD_EINVALID },
	{ "retention out of range", "retention_days: 180", "retention_days: 0", 45,
	  "retention_days must be a whole number from 1 to 3650", ACCORD_EINVALID },
	{ "coordinator not a partner", "coordinator: council", "coordinator: mayor", 5,
	  "coordinator 'mayor' is not one of the partners", ACCORD_EINVALID },
	{ "never_share malformed", "  - Referral.case_notes\n", "  - case_notes\n", 35,
	  "never_share entry 'case_notes' must be a record type and a field path",
	  ACCORD_EINVALID },
	{ "never_share unknown field", "  - Referral.case_notes\n", "  - Referral.notes\n", 35,
	  "Referral has no field 'notes'", ACCORD_EINVALID },
	{ "a list where a value belongs", "title: Test partnership", "title: [a, b]", 4,
	  "title must be a single value, not a list", ACCORD_EINVALID },
	{ "empty value", "    name: Test NGO\n", "    name: \"\"\n", 22,
	  "partner name is empty", ACCORD_EINVALID },
	{ "field listed twice", "needs, consent]", "needs, consent, needs]", 42,
	  "rule fields lists 'needs' twice", ACCORD_EINVALID },
	{ "overlapping fields", "needs, consent]", "needs, consent, subject]", 42,
	  "field 'subject' overlaps", ACCORD_EINVALID },
	{ "YAML syntax error", "version: 1\n", "version: [1\n", 4,
	  "not valid YAML", ACCORD_EPARSE },
	{ "alias", "title: Test partnership\n", "title: &t Test partnership\nx: *t\n", 4,
	  "anchors", ACCORD_EPARSE },
	{ "second document", "    retention_days: 365\n", "    retention_days: 365\n---\nx: 1\n",
	  57, "a second YAML document", ACCORD_EPARSE },
};

static bool has_diag(const protocol_diags *d, int line, const char *msg)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->items[i].line == line && strstr(d->items[i].msg, msg))
			return true;
	return false;
}

static void print_diags(const protocol_diags *d)
{
	for (size_t i = 0; i < d->count; i++)
		print_message("  got %d:%d: %s\n", d->items[i].line, d->items[i].column,
			      d->items[i].msg);
}

/* One table case: its own cmocka test, named for the error it shows. */
static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char *bad = th_replace(doc, c->find, c->repl);
	protocol_diags d;
	protocol *p = NULL;
	int rc = protocol_parse("t.yaml", bad, strlen(bad), &p, &d);

	if (rc != c->rc || !has_diag(&d, c->line, c->msg) || p) {
		print_message("want rc %d, line %d, '%s'; got rc %d\n", c->rc, c->line,
			      c->msg, rc);
		print_diags(&d);
	}
	assert_int_equal(rc, c->rc);
	assert_true(has_diag(&d, c->line, c->msg));
	assert_null(p);
	free(bad);
}

/* Parse text that must fail with rc and a diagnostic at line saying msg. */
static void expect_bad(const char *text, size_t len, int rc, int line, const char *msg)
{
	protocol_diags d;
	protocol *p = NULL;
	int got = protocol_parse("t.yaml", text, len, &p, &d);

	if (got != rc || !has_diag(&d, line, msg)) {
		print_message("want rc %d, line %d, '%s'; got rc %d\n", rc, line, msg, got);
		print_diags(&d);
		fail();
	}
	assert_null(p);
}

static void test_parent_of_never_share(void **state)
{
	char *a = th_replace(doc, "  - Referral.case_notes\n",
			     "  - Referral.case_notes\n  - Referral.subject.identifiers\n");
	char *b = th_replace(a, "[subject.given_name, subject.family_name,", "[subject,");

	expect_bad(b, strlen(b), ACCORD_EINVALID, 43,
		   "'subject', which includes never_share field Referral.subject.identifiers");
	free(a);
	free(b);
}

static void test_one_partner(void **state)
{
	const char *start = strstr(doc, "  - id: council\n");
	const char *end = strstr(doc, "purposes:\n");
	char *one = malloc(strlen(doc) + 1);

	assert_non_null(one);
	memcpy(one, doc, (size_t)(start - doc));
	memcpy(one + (start - doc), end, strlen(end) + 1);
	expect_bad(one, strlen(one), ACCORD_EINVALID, 9,
		   "partners lists 1 partner; a partnership needs at least two");
	free(one);
}

static void test_top_not_mapping(void **state)
{
	expect_bad("- a\n- b\n", 8, ACCORD_EINVALID, 1,
		   "the protocol must be a mapping, not a list");
	expect_bad("", 0, ACCORD_EPARSE, 1, "the document is empty");
	expect_bad("# only a comment\n", 17, ACCORD_EPARSE, 1, "the document is empty");
}

static void test_many_errors_at_once(void **state)
{
	char *a = th_replace(doc, "version: 1", "version: x");
	char *b = th_replace(a, "when: anytime", "when: never");
	char *c = th_replace(b, "  - id: ngo\n", "  - id: Ngo\n");
	protocol_diags d;
	protocol *p = NULL;

	assert_int_equal(protocol_parse("t.yaml", c, strlen(c), &p, &d), ACCORD_EINVALID);
	assert_true(has_diag(&d, 3, "version must be a whole number"));
	assert_true(has_diag(&d, 44, "when must be"));
	assert_true(has_diag(&d, 21, "partner id 'Ngo' is malformed"));
	free(a);
	free(b);
	free(c);
}

static void test_size_limit(void **state)
{
	size_t n = PROTOCOL_MAX_BYTES + 1;
	char *big = malloc(n);

	assert_non_null(big);
	memset(big, '#', n);
	expect_bad(big, n, ACCORD_ETOOBIG, 0, "larger than the limit");
	free(big);
}

static void test_depth_limit(void **state)
{
	const char *deep = "protocol: [[[[[[[[[[[[1]]]]]]]]]]]]\n";

	expect_bad(deep, strlen(deep), ACCORD_ETOOBIG, 1, "nests deeper than 8 levels");
}

static void test_node_limit(void **state)
{
	size_t items = PROTOCOL_MAX_NODES + 1, n = 16 + items * 2;
	char *text = malloc(n + 1), *q = text;

	assert_non_null(text);
	q += snprintf(q, n, "protocol: [");
	for (size_t i = 0; i < items; i++) {
		*q++ = '1';
		*q++ = ',';
	}
	q[-1] = ']';
	*q = '\0';
	expect_bad(text, strlen(text), ACCORD_ETOOBIG, 1, "more than 100000 values");
	free(text);
}

static void test_scalar_limit(void **state)
{
	size_t n = PROTOCOL_MAX_SCALAR + 1;
	char *text = malloc(n + 16);

	assert_non_null(text);
	memcpy(text, "title: ", 7);
	memset(text + 7, 'x', n);
	text[7 + n] = '\0';
	expect_bad(text, strlen(text), ACCORD_ETOOBIG, 1, "longer than the limit of 4096");
	free(text);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "title: \"a\\0b\"\n";

	expect_bad(text, sizeof text - 1, ACCORD_EPARSE, 1, "NUL character");
}

static void test_load_missing_file(void **state)
{
	protocol_diags d;
	protocol *p = NULL;

	assert_int_equal(protocol_load("/nonexistent/protocol.yaml", &p, &d),
			 ACCORD_ENOTFOUND);
	assert_true(has_diag(&d, 0, "no such file"));
	assert_string_equal(d.file, "/nonexistent/protocol.yaml");
}

static void test_example_protocol(void **state)
{
	const char *src = getenv("SRCDIR");
	char path[4096];
	protocol_diags d;
	protocol *p = NULL;

	snprintf(path, sizeof path, "%s/policies/examples/eastshire.yaml", src ? src : ".");
	assert_int_equal(protocol_load(path, &p, &d), 0);
	assert_int_equal(protocol_partner_count(p), 4);
	assert_non_null(protocol_partner_find(p, "exit-programme"));
	assert_true(protocol_rule_count(p) >= 8);
	protocol_close(p);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_parent_of_never_share),
		cmocka_unit_test(test_one_partner),
		cmocka_unit_test(test_top_not_mapping),
		cmocka_unit_test(test_many_errors_at_once),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_scalar_limit),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_example_protocol),
	};
	size_t nbad = sizeof bad_cases / sizeof bad_cases[0];
	size_t nfixed = sizeof fixed / sizeof fixed[0];
	struct CMUnitTest *tests = calloc(nfixed + nbad, sizeof *tests);
	int rc;

	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < nbad; i++) {
		tests[nfixed + i].name = bad_cases[i].name;
		tests[nfixed + i].test_func = test_bad_case;
		tests[nfixed + i].initial_state = (void *)&bad_cases[i];
	}
	rc = _cmocka_run_group_tests("test_protocol", tests, nfixed + nbad, setup, teardown);
	free(tests);
	return rc;
}
