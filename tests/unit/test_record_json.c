/* test_record_json.c - records as JSON: every record type there and back,
 * and every error with the JSON path it names. */
#include <jansson.h>

#include "helper.h"

/* --- round trips -------------------------------------------------------- */

struct trip_case {
	const char *name;
	const char *type;
	const char *json;
};

static const struct trip_case trip_cases[] = {
	{ "round trip: Referral", "Referral",
	  "{\"referral_id\":\"R1\",\"subject\":{\"given_name\":\"Ann\",\"birth_year\":1990,"
	  "\"gender\":\"FEMALE\",\"identifiers\":[{\"scheme\":\"nhs\",\"value\":\"1\"}]},"
	  "\"needs\":[\"HOUSING\",\"CHILDCARE\",\"FINANCIAL\"],\"urgency\":\"URGENT\","
	  "\"consent\":{\"given\":true,\"scope\":[\"a\"]},\"risk_assessment\":{\"level\":"
	  "\"LOW\",\"factors\":[\"x\",\"y\"]},\"case_notes\":\"Ünïcode ✓\"}" },
	{ "round trip: ReferralReply", "ReferralReply",
	  "{\"referral_id\":\"R1\",\"decision\":\"ACCEPTED\",\"reason\":\"r\",\"contact\":"
	  "{\"name\":\"N\",\"agency\":\"A\",\"phone\":\"1\",\"email\":\"e\"},"
	  "\"case_reference\":\"C-9\"}" },
	{ "round trip: ProgressUpdate", "ProgressUpdate",
	  "{\"referral_id\":\"R1\",\"period_start\":\"2026-10-01\",\"period_end\":"
	  "\"2026-10-31\",\"overall\":\"PARTIALLY_ENGAGED\",\"needs\":[{\"need\":"
	  "\"MENTORING\",\"status\":\"ENGAGED\",\"note\":\"n\"}],\"summary\":\"s\","
	  "\"closure_planned\":\"2026-12-01\"}" },
	{ "round trip: ConsentWithdrawal", "ConsentWithdrawal",
	  "{\"referral_id\":\"R1\",\"withdrawn_at\":\"2026-11-04T09:00:00Z\","
	  "\"recorded_by\":\"W\",\"scope\":[\"case-coordination\"]}" },
	{ "round trip: CaseClosure", "CaseClosure",
	  "{\"referral_id\":\"R1\",\"closed_at\":\"2026-12-20\",\"reason\":"
	  "\"CONSENT_WITHDRAWN\",\"summary\":\"s\"}" },
	{ "round trip: an empty oneof member keeps its case", "ProgressUpdate",
	  "{\"next_review\":\"\"}" },
};

/* JSON -> record -> bytes -> record -> JSON gives the JSON back. */
static void test_trip_case(void **state)
{
	const struct trip_case *c = *state;
	ProtobufCMessage *m = th_record(c->type, c->json), *back = th_repack(m);

	th_assert_json(back, c->json);
	record_free(back);
	record_free(m);
}

/* --- errors ------------------------------------------------------------- */

struct bad_case {
	const char *name;
	const char *type;
	const char *json;
	int rc;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "json error: not JSON", "Referral", "{\"summary\": ", ACCORD_EPARSE,
	  "not valid JSON at line 1" },
	{ "json error: no text", "Referral", "  ", ACCORD_EPARSE,
	  "not valid JSON at line 1, column 3: the text ends before the value does" },
	{ "json error: not an object", "Referral", "[1]", ACCORD_EINVAL,
	  "$: expected an object (a Referral), got an array" },
	{ "json error: unknown field", "Referral", "{\"colour\":\"blue\"}", ACCORD_EINVAL,
	  "$.colour: Referral has no field 'colour' (its fields: referral_id, subject," },
	{ "json error: unknown nested field", "Referral",
	  "{\"subject\":{\"surname\":\"X\"}}", ACCORD_EINVAL,
	  "$.subject.surname: Subject has no field 'surname'" },
	{ "json error: a number for a string", "Referral", "{\"summary\":5}", ACCORD_EINVAL,
	  "$.summary: expected a string, got an integer" },
	{ "json error: wrong type inside an array", "Referral",
	  "{\"subject\":{\"identifiers\":[{\"value\":\"a\"},{\"value\":7}]}}", ACCORD_EINVAL,
	  "$.subject.identifiers[1].value: expected a string, got an integer" },
	{ "json error: null is no value", "Referral", "{\"summary\":null}", ACCORD_EINVAL,
	  "$.summary: expected a string, got null (leave a field out" },
	{ "json error: a string for a message", "Referral", "{\"subject\":\"Ann\"}",
	  ACCORD_EINVAL, "$.subject: expected an object (a Subject), got a string" },
	{ "json error: an enum name the type lacks", "Referral", "{\"urgency\":\"SOON\"}",
	  ACCORD_EINVAL, "$.urgency: 'SOON' is not a Urgency (one of: URGENCY_UNSPECIFIED, "
	  "ROUTINE, PRIORITY, URGENT)" },
	{ "json error: an enum as a number", "Referral", "{\"urgency\":2}", ACCORD_EINVAL,
	  "$.urgency: expected a Urgency name as a string, got an integer" },
	{ "json error: an enum inside an array", "Referral",
	  "{\"needs\":[\"HOUSING\",\"EMPLOYMENT\",\"DANCING\"]}", ACCORD_EINVAL,
	  "$.needs[2]: 'DANCING' is not a Need" },
	{ "json error: a repeated field not an array", "Referral", "{\"needs\":\"HOUSING\"}",
	  ACCORD_EINVAL, "$.needs: expected an array, got a string" },
	{ "json error: a negative uint32", "Referral", "{\"subject\":{\"birth_year\":-5}}",
	  ACCORD_EINVAL, "$.subject.birth_year: -5 is out of range (0 to 4294967295)" },
	{ "json error: a uint32 too large", "Referral",
	  "{\"subject\":{\"birth_year\":4294967296}}", ACCORD_EINVAL, "out of range" },
	{ "json error: a fraction for an integer", "Referral",
	  "{\"subject\":{\"birth_year\":1990.5}}", ACCORD_EINVAL,
	  "$.subject.birth_year: expected an integer, got a number" },
	{ "json error: a string for a bool", "Referral", "{\"consent\":{\"given\":\"yes\"}}",
	  ACCORD_EINVAL, "$.consent.given: expected true or false, got a string" },
	{ "json error: both members of a oneof", "ProgressUpdate",
	  "{\"next_review\":\"2026-12-01\",\"closure_planned\":\"2026-12-02\"}",
	  ACCORD_EINVAL, "$.closure_planned: 'next_review' and 'closure_planned' are "
	  "alternatives; give only one of them" },
	{ "json error: a key twice", "Referral", "{\"summary\":\"a\",\"summary\":\"b\"}",
	  ACCORD_EPARSE, "duplicate" },
	{ "json error: a NUL in a string", "Referral", "{\"summary\":\"a\\u0000b\"}",
	  ACCORD_EPARSE, "not valid JSON" },
	{ "json error: invalid UTF-8", "Referral", "{\"summary\":\"\xc3\x28\"}",
	  ACCORD_EPARSE, "not valid JSON" },
	{ "json error: a key twice, nested", "Referral",
	  "{\"subject\":{\"given_name\":\"a\",\"birth_year\":1,\"given_name\":\"b\"}}",
	  ACCORD_EPARSE, "$.subject.given_name: the key is given twice (a duplicate key)" },
	{ "json error: a NUL in a key", "Referral", "{\"sum\\u0000mary\":\"a\"}",
	  ACCORD_EPARSE, "column 6: \\u0000 (a NUL character)" },
	{ "json error: a raw control character in a string", "Referral",
	  "{\"summary\":\"a\tb\"}", ACCORD_EPARSE,
	  "line 1, column 14: a control character inside a string (escape it)" },
	{ "json error: a control character after a run of plain text", "Referral",
	  "{\"summary\":\"plain words, then\x7f and\x1f\"}", ACCORD_EPARSE,
	  "line 1, column 35: a control character inside a string (escape it)" },
	{ "json error: a byte outside UTF-8 after a run of plain text", "Referral",
	  "{\"summary\":\"caf\xc3\xa9 au lait \xff\"}", ACCORD_EPARSE,
	  "line 1, column 27: a byte that is not part of UTF-8 text" },
	{ "json error: a NUL escape after a run of plain text", "Referral",
	  "{\"summary\":\"a long run of text \\\" quoted \\u0000\"}", ACCORD_EPARSE,
	  "column 42: \\u0000 (a NUL character)" },
	{ "json error: a control character between tokens", "Referral",
	  "{\"summary\":\x01\"a\"}", ACCORD_EPARSE, "line 1, column 12: a control character" },
	{ "json error: a lone high surrogate", "Referral", "{\"summary\":\"\\ud800\"}",
	  ACCORD_EPARSE, "not valid JSON at line 1" },
	{ "json error: a lone low surrogate", "Referral", "{\"summary\":\"\\udc00x\"}",
	  ACCORD_EPARSE, "not valid JSON at line 1" },
	{ "json error: more after the value", "Referral", "{\"summary\":\"a\"}\n\n{}",
	  ACCORD_EPARSE, "not valid JSON at line 3, column 1: more after the value" },
	{ "json error: text cut short", "Referral", "{\n \"summary\": ", ACCORD_EPARSE,
	  "not valid JSON at line 2, column 13: the text ends before the value does" },
	{ "json error: a stray character, shown", "Referral", "{\"summary\":\"a\"]",
	  ACCORD_EPARSE, "not valid JSON at line 1, column 15: '}' expected, at ']'" },
	{ "json error: a leading zero", "Referral", "{\"subject\":{\"birth_year\":01}}",
	  ACCORD_EPARSE, "column 26: a number JSON does not allow (a leading zero" },
	{ "json error: no digit after a point", "Referral",
	  "{\"subject\":{\"birth_year\":1990.}}", ACCORD_EPARSE,
	  "column 26: a number JSON does not allow" },
	{ "json error: no digit in an exponent", "Referral",
	  "{\"subject\":{\"birth_year\":2e+}}", ACCORD_EPARSE,
	  "column 26: a number JSON does not allow" },
	{ "json error: a comma before a brace", "Referral", "{\"summary\":\"a\",}",
	  ACCORD_EPARSE, "not valid JSON at line 1, column 16: string or '}' expected, at '}'" },
	{ "json error: a key without quotes, at its first byte", "Referral",
	  "{\"summary\":\"a\",\n  consent:{}}", ACCORD_EPARSE,
	  "not valid JSON at line 2, column 3: string or '}' expected, at 'consent:{}}'" },
	{ "json error: a missing colon", "Referral", "{\"summary\" \"a\"}", ACCORD_EPARSE,
	  "not valid JSON at line 1, column 12: ':' expected, at '\"a\"}'" },
	{ "json error: a missing comma", "Referral", "{\"summary\":\"a\" \"case\":1}",
	  ACCORD_EPARSE, "not valid JSON at line 1, column 16: '}' expected, at '\"case\":1}'" },
	{ "json error: a comma alone", "Referral", "{,}", ACCORD_EPARSE,
	  "not valid JSON at line 1, column 2: string or '}' expected, at ',}'" },
	{ "json error: a word that is not a value", "Referral",
	  "{\"consent\":{\"given\":tru}}", ACCORD_EPARSE,
	  "not valid JSON at line 1, column 21: invalid token, at 'tru}}'" },
	{ "json error: a string never closed", "Referral", "{\"summary\":\"abc}", ACCORD_EPARSE,
	  "not valid JSON at line 1, column 12: the text ends before this value does, at "
	  "'\"abc}'" },
	{ "json error: an object never closed", "Referral", "{\"summary\":\"a\"",
	  ACCORD_EPARSE, "not valid JSON at line 1, column 15: the text ends before the value "
	  "does ('}' expected)" },
	{ "json error: an integer too large for a double", "Referral",
	  "{\"subject\":{\"birth_year\":1e400}}", ACCORD_EINVAL,
	  "$.subject.birth_year: expected an integer, got a number" },
	{ "json error: a field of the wrong record type", "CaseClosure",
	  "{\"decision\":\"ACCEPTED\"}", ACCORD_EINVAL,
	  "$.decision: CaseClosure has no field 'decision'" },
};

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	ProtobufCMessage *m = NULL;
	accord_error e = { 0 };

	assert_int_equal(record_from_json_text(record_type_find(c->type), c->json,
					       strlen(c->json), &m, &e), c->rc);
	assert_null(m);
	if (!strstr(e.msg, c->msg))
		fail_msg("message '%s' lacks '%s'", e.msg, c->msg);
}

/* --- limits ------------------------------------------------------------- */

/* A JSON text of n copies of item inside prefix...suffix. */
static char *repeat(const char *prefix, const char *item, size_t n, const char *suffix)
{
	size_t a = strlen(prefix), b = strlen(item), len = a + n * (b + 1) + strlen(suffix);
	char *s = malloc(len + 1), *at = s;

	assert_non_null(s);
	memcpy(at, prefix, a);
	at += a;
	for (size_t i = 0; i < n; i++) {
		memcpy(at, item, b);
		at += b;
		*at++ = i + 1 < n ? ',' : ' ';
	}
	memcpy(at, suffix, strlen(suffix) + 1);
	return s;
}

static void test_limits(void **state)
{
	const ProtobufCMessageDescriptor *d = record_type_find("Referral");
	ProtobufCMessage *m = NULL;
	accord_error e = { 0 };
	char *s;

	s = repeat("{\"needs\":[", "\"HOUSING\"", RECORD_MAX_REPEATED + 1, "]}");
	assert_int_equal(record_from_json_text(d, s, strlen(s), &m, &e), ACCORD_ETOOBIG);
	assert_non_null(strstr(e.msg, "$.needs: 1001 elements, more than the limit of 1000"));
	free(s);
	s = repeat("{\"needs\":[", "\"HOUSING\"", RECORD_MAX_REPEATED, "]}");
	assert_int_equal(record_from_json_text(d, s, strlen(s), &m, &e), 0);
	record_free(m);
	free(s);
	s = repeat("{\"summary\":\"", "x", RECORD_JSON_MAX_BYTES, "\"}");
	assert_int_equal(record_from_json_text(d, s, strlen(s), &m, &e), ACCORD_ETOOBIG);
	assert_non_null(strstr(e.msg, "more than the limit"));
	free(s);
	/* Under the text limit, over the packed record's. */
	s = repeat("{\"summary\":\"", "xxxxxxxx", RECORD_MAX_BYTES / 8, "\"}");
	assert_int_equal(record_from_json_text(d, s, strlen(s), &m, &e), ACCORD_ETOOBIG);
	assert_non_null(strstr(e.msg, "the Referral record would be"));
	free(s);
	/* Deep nesting where a scalar belongs stops at once. */
	s = repeat("{\"summary\":", "[", 500, "]}");
	assert_int_not_equal(record_from_json_text(d, s, strlen(s), &m, &e), 0);
	free(s);
	/* Deeper than the text may nest: said so, where it happens. */
	s = repeat("{\"summary\":", "[", 2000, "]}");
	assert_int_equal(record_from_json_text(d, s, strlen(s), &m, &e), ACCORD_EPARSE);
	assert_non_null(strstr(e.msg, "not valid JSON at line 1, column 138: arrays and "
			       "objects nested more than 64 deep"));
	free(s);
}

static void test_example_referral(void **state)
{
	ProtobufCMessage *m = th_example_referral();
	json_t *j = record_to_json(m);
	size_t len;
	char *text = th_src_file("policies/examples/referral.json", &len);
	json_t *want = json_loads(text, 0, NULL);

	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);
	free(text);
	record_free(m);
}

/* Texts that say the same record in other ways read as the same record:
 * white space anywhere between tokens, escapes for what could be written
 * as it is, an integer written with a zero fraction, and a backslash
 * escaped before "u0000", which is then text and no NUL. */
static void test_same_record(void **state)
{
	static const char *const same[][2] = {
		{ " {\r\n\t\"summary\" :\"\\u00e9\\ud83d\\ude00\\/\\n\"\t}\n\n",
		  "{\"summary\":\"\u00e9\U0001F600/\\n\"}" },
		{ "{\"subject\":{\"birth_year\":1990.0}}", "{\"subject\":{\"birth_year\":1990}}" },
		{ "{\"subject\":{\"birth_year\":1.99e3}}", "{\"subject\":{\"birth_year\":1990}}" },
		{ "{\"subject\":{\"birth_year\":-0}}", "{\"subject\":{}}" },
		{ "{\"summary\":\"a\\\\u0000\"}", "{\"summary\":\"a\\\\u0000\"}" },
	};

	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		ProtobufCMessage *m = th_record("Referral", same[i][0]);

		th_assert_json(m, same[i][1]);
		record_free(m);
	}
}

/* record_json_put_string: plain paths copied, the rest escaped, each read
 * back by jansson as the string written; text not UTF-8 refused. */
static void test_put_string(void **state)
{
	static const char *const cases[] = {
		"$.subject.identifiers[1]", "", "a \"quoted\" \\ path", "tab\there\nline",
		"\x1b[31m", "\x7f", "Ünïcode ✓", "\xe2\x80\xae",
	};
	char *text;
	size_t len;
	FILE *f;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *j;

		f = open_memstream(&text, &len);
		assert_non_null(f);
		assert_int_equal(record_json_put_string(f, cases[i]), 0);
		assert_int_equal(fclose(f), 0);
		j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(j), cases[i]);
		if (i == 0)
			assert_string_equal(text, "\"$.subject.identifiers[1]\"");
		json_decref(j);
		free(text);
	}
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(record_json_put_string(f, "bad \xff byte"), -1);
	fclose(f);
	free(text);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_example_referral),
		cmocka_unit_test(test_same_record),
		cmocka_unit_test(test_put_string),
	};
	static const th_table tables[] = {
		TH_TABLE(trip_cases, test_trip_case),
		TH_TABLE(bad_cases, test_bad_case),
	};

	return th_run("test_record_json", fixed, sizeof fixed / sizeof fixed[0], tables,
		      sizeof tables / sizeof tables[0], NULL, NULL);
}
