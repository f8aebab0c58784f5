/* test_record.c - selections, minimisation and the check on receipt, by
 * descriptor: nested, repeated and oneof fields, what is withheld, and
 * every way a received record is refused; and text escaped for JSON and
 * for a terminal. */
#include <jansson.h>

#include "envelope.pb-c.h"
#include "helper.h"

#define MAX_FIELDS 8

/* Compile fields (NULL-terminated) of type; fails the test on error. */
static record_selection *select_fields(const char *type, const char *const *fields)
{
	record_selection *s = NULL;
	accord_error e = { 0 };
	size_t n = 0;

	while (fields[n])
		n++;
	if (record_selection_new(record_type_find(type), fields, n, NULL, 0, &s, &e) != 0)
		fail_msg("selection: %s", accord_error_msg(&e));
	return s;
}

/* "a,b,c" of a withheld list. */
static void join(const record_withheld *w, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < w->n; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "",
					 w->paths[i]);
}

/* --- minimisation ------------------------------------------------------- */

struct min_case {
	const char *name;
	const char *type;
	const char *fields[MAX_FIELDS];
	const char *in;        /* the record, JSON */
	const char *shared;    /* what minimising keeps, JSON */
	const char *withheld;  /* "a,b" */
};

static const struct min_case min_cases[] = {
	{ "minimise: nested fields, the rest of the message withheld", "Referral",
	  { "subject.given_name", "needs", NULL },
	  "{\"subject\":{\"given_name\":\"A\",\"family_name\":\"B\"},\"needs\":[\"HOUSING\"],"
	  "\"summary\":\"s\"}",
	  "{\"subject\":{\"given_name\":\"A\"},\"needs\":[\"HOUSING\"]}",
	  "subject.family_name,summary" },
	{ "minimise: a whole message field keeps all of it", "Referral",
	  { "contact", NULL },
	  "{\"contact\":{\"name\":\"N\",\"email\":\"e@x\"},\"case_notes\":\"secret\"}",
	  "{\"contact\":{\"name\":\"N\",\"email\":\"e@x\"}}", "case_notes" },
	{ "minimise: repeated messages copied whole", "Referral",
	  { "subject.identifiers", NULL },
	  "{\"subject\":{\"identifiers\":[{\"scheme\":\"pnc\",\"value\":\"1\"},"
	  "{\"scheme\":\"nhs\",\"value\":\"2\"}],\"birth_year\":1990}}",
	  "{\"subject\":{\"identifiers\":[{\"scheme\":\"pnc\",\"value\":\"1\"},"
	  "{\"scheme\":\"nhs\",\"value\":\"2\"}]}}", "subject.birth_year" },
	{ "minimise: one field of every element of a repeated message", "ProgressUpdate",
	  { "referral_id", "needs.status", NULL },
	  "{\"referral_id\":\"R\",\"needs\":[{\"need\":\"HOUSING\",\"status\":\"ENGAGED\","
	  "\"note\":\"n\"},{\"need\":\"EMPLOYMENT\",\"status\":\"COMPLETED\"}]}",
	  "{\"referral_id\":\"R\",\"needs\":[{\"status\":\"ENGAGED\"},{\"status\":"
	  "\"COMPLETED\"}]}", "needs.need,needs.note" },
	{ "minimise: a oneof member the rule names keeps its case", "ProgressUpdate",
	  { "next_review", NULL },
	  "{\"next_review\":\"2026-12-01\",\"summary\":\"s\"}",
	  "{\"next_review\":\"2026-12-01\"}", "summary" },
	{ "minimise: a oneof member the rule leaves out is withheld", "ProgressUpdate",
	  { "next_review", "overall", NULL },
	  "{\"closure_planned\":\"2026-12-01\",\"overall\":\"ENGAGED\"}",
	  "{\"overall\":\"ENGAGED\"}", "closure_planned" },
	{ "minimise: repeated strings", "ConsentWithdrawal",
	  { "referral_id", "scope", NULL },
	  "{\"referral_id\":\"R\",\"scope\":[\"a\",\"b\"],\"recorded_by\":\"W\"}",
	  "{\"referral_id\":\"R\",\"scope\":[\"a\",\"b\"]}", "recorded_by" },
	{ "minimise: an empty string in a repeated field", "ConsentWithdrawal",
	  { "scope", NULL }, "{\"scope\":[\"\",\"a\"]}", "{\"scope\":[\"\",\"a\"]}", "" },
	{ "minimise: enums and a reply", "ReferralReply",
	  { "decision", "referral_id", NULL },
	  "{\"referral_id\":\"R\",\"decision\":\"DECLINED\",\"reason\":\"full\","
	  "\"contact\":{\"name\":\"N\"}}",
	  "{\"referral_id\":\"R\",\"decision\":\"DECLINED\"}", "reason,contact" },
	{ "minimise: a case closure", "CaseClosure",
	  { "referral_id", "reason", NULL },
	  "{\"referral_id\":\"R\",\"reason\":\"GOALS_MET\",\"summary\":\"done\","
	  "\"closed_at\":\"2026-12-01\"}",
	  "{\"referral_id\":\"R\",\"reason\":\"GOALS_MET\"}", "closed_at,summary" },
	{ "minimise: an empty record withholds nothing", "Referral",
	  { "summary", NULL }, "{}", "{}", "" },
	{ "minimise: a message present but empty is withheld only when set", "Referral",
	  { "summary", NULL }, "{\"summary\":\"s\",\"consent\":{}}",
	  "{\"summary\":\"s\"}", "consent" },
};

static void test_min_case(void **state)
{
	const struct min_case *c = *state;
	record_selection *s = select_fields(c->type, c->fields);
	ProtobufCMessage *in = th_record(c->type, c->in), *out = NULL, *back;
	record_withheld w;
	accord_error e = { 0 };
	char list[1024];

	assert_int_equal(record_minimise(s, in, &out, &w, &e), 0);
	th_assert_json(out, c->shared);
	join(&w, list, sizeof list);
	assert_string_equal(list, c->withheld);
	/* What minimising keeps passes the check on receipt. */
	back = th_repack(out);
	assert_int_equal(record_check(s, back, &e), 0);
	record_free(back);
	record_free(out);
	record_free(in);
	record_selection_free(s);
}

/* --- the check on receipt ----------------------------------------------- */

struct check_case {
	const char *name;
	const char *rule_type;
	const char *fields[MAX_FIELDS];
	const char *type;       /* of the record received */
	const char *in;         /* JSON of the record... */
	const char *extra;      /* ...and hex bytes appended to its packed form */
	int rc;
	const char *msg;
};

static const struct check_case check_cases[] = {
	{ "check: a record within its rule passes", "Referral",
	  { "referral_id", "subject.given_name", NULL }, "Referral",
	  "{\"referral_id\":\"R\",\"subject\":{\"given_name\":\"A\"}}", "", 0, NULL },
	{ "check: a field outside the rule is refused", "Referral",
	  { "referral_id", NULL }, "Referral",
	  "{\"referral_id\":\"R\",\"summary\":\"s\"}", "", ACCORD_EREFUSED,
	  "carries field 'summary', which the rule does not share" },
	{ "check: a nested field outside the rule is refused", "Referral",
	  { "subject.given_name", NULL }, "Referral",
	  "{\"subject\":{\"given_name\":\"A\",\"family_name\":\"B\"}}", "",
	  ACCORD_EREFUSED, "'subject.family_name'" },
	{ "check: a field of a repeated message outside the rule is refused",
	  "ProgressUpdate", { "needs.status", NULL }, "ProgressUpdate",
	  "{\"needs\":[{\"status\":\"ENGAGED\"},{\"status\":\"ENGAGED\",\"note\":\"n\"}]}",
	  "", ACCORD_EREFUSED, "'needs.note'" },
	{ "check: the risk assessment is refused", "Referral",
	  { "referral_id", NULL }, "Referral",
	  "{\"referral_id\":\"R\",\"risk_assessment\":{\"level\":\"HIGH\"}}", "",
	  ACCORD_EREFUSED, "'risk_assessment'" },
	{ "check: an unknown field number is refused", "Referral",
	  { "referral_id", NULL }, "Referral", "{\"referral_id\":\"R\"}", "7801",
	  ACCORD_EREFUSED, "field number 15 at the top level, which Referral does not define" },
	{ "check: an unknown field inside a shared message is refused", "Referral",
	  { "subject", NULL }, "Referral", "{}", "1203a00101",
	  ACCORD_EREFUSED, "field number 20 in subject, which Subject does not define" },
	{ "check: a record of another type is refused", "Referral",
	  { "referral_id", NULL }, "ReferralReply", "{\"referral_id\":\"R\"}", "",
	  ACCORD_EREFUSED, "the record is a ReferralReply, but the rule shares Referral" },
	{ "check: an enum value the type does not define is refused", "Referral",
	  { "urgency", NULL }, "Referral", "{}", "2809", ACCORD_EREFUSED,
	  "'urgency' holds 9, which is not a value of Urgency" },
	{ "check: an undefined enum in a repeated field is refused", "Referral",
	  { "needs", NULL }, "Referral", "{\"needs\":[\"HOUSING\"]}", "1863",
	  ACCORD_EREFUSED, "'needs' holds 99, which is not a value of Need" },
	{ "check: text that is not UTF-8 is refused", "Referral",
	  { "summary", NULL }, "Referral", "{}", "2202c328", ACCORD_EREFUSED,
	  "'summary' is not valid UTF-8" },
	{ "check: an unset field outside the rule is no problem", "Referral",
	  { "summary", NULL }, "Referral", "{\"summary\":\"s\",\"case_notes\":\"\"}", "",
	  0, NULL },
};

static uint8_t *pack_with(const ProtobufCMessage *m, const char *hex, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m), x = strlen(hex) / 2;
	uint8_t *buf = malloc(n + x + 1);

	assert_non_null(buf);
	protobuf_c_message_pack(m, buf);
	for (size_t i = 0; i < x; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		buf[n + i] = (uint8_t)v;
	}
	*len = n + x;
	return buf;
}

static void test_check_case(void **state)
{
	const struct check_case *c = *state;
	record_selection *s = select_fields(c->rule_type, c->fields);
	ProtobufCMessage *in = th_record(c->type, c->in), *got = NULL;
	accord_error e = { 0 };
	size_t len;
	uint8_t *buf = pack_with(in, c->extra, &len);

	assert_int_equal(record_unpack(in->descriptor, buf, len, &got, &e), 0);
	assert_int_equal(record_check(s, got, &e), c->rc);
	if (c->msg && !strstr(e.msg, c->msg))
		fail_msg("message '%s' lacks '%s'", e.msg, c->msg);
	record_free(got);
	free(buf);
	record_free(in);
	record_selection_free(s);
}

/* --- selections --------------------------------------------------------- */

struct sel_case {
	const char *name;
	const char *fields[MAX_FIELDS];
	const char *never;     /* one more never-share entry, or NULL */
	int rc;
	const char *msg;
};

static const struct sel_case sel_cases[] = {
	{ "selection: unknown field", { "subject.surname", NULL }, NULL, ACCORD_ENOTFOUND,
	  "Subject has no field 'surname'" },
	{ "selection: path through a scalar", { "summary.x", NULL }, NULL, ACCORD_ENOTFOUND,
	  "'summary' is not a message" },
	{ "selection: the risk assessment is never selected", { "risk_assessment", NULL },
	  NULL, ACCORD_EREFUSED, "Referral.risk_assessment, which is never shared" },
	{ "selection: nor a field inside it", { "risk_assessment.level", NULL }, NULL,
	  ACCORD_EREFUSED, "Referral.risk_assessment" },
	{ "selection: a message holding a never-share field", { "subject", NULL },
	  "Referral.subject.identifiers", ACCORD_EREFUSED, "Referral.subject.identifiers" },
	{ "selection: overlapping fields", { "subject", "subject.given_name", NULL }, NULL,
	  ACCORD_EINVAL, "overlaps" },
	{ "selection: a field inside one already selected", { "subject.given_name",
	  "subject", NULL }, NULL, ACCORD_EINVAL, "overlaps" },
	{ "selection: a field twice", { "summary", "summary", NULL }, NULL, ACCORD_EINVAL,
	  "overlaps" },
	{ "selection: an empty segment", { "subject..given_name", NULL }, NULL,
	  ACCORD_EINVAL, "empty segment" },
};

static void test_sel_case(void **state)
{
	const struct sel_case *c = *state;
	record_selection *s = NULL;
	accord_error e = { 0 };
	size_t n = 0;

	while (c->fields[n])
		n++;
	assert_int_equal(record_selection_new(record_type_find("Referral"), c->fields, n,
					      &c->never, c->never ? 1 : 0, &s, &e), c->rc);
	assert_null(s);
	if (!strstr(e.msg, c->msg))
		fail_msg("message '%s' lacks '%s'", e.msg, c->msg);
}

/* --- the rest ----------------------------------------------------------- */

static void test_unpack_limits(void **state)
{
	static const uint8_t garbage[] = { 0x0a, 0x7f, 0x01 };
	const ProtobufCMessageDescriptor *d = record_type_find("Referral");
	ProtobufCMessage *m = NULL;
	accord_error e = { 0 };
	uint8_t *big = calloc(RECORD_MAX_BYTES + 1, 1);

	assert_non_null(big);
	assert_int_equal(record_unpack(d, big, RECORD_MAX_BYTES + 1, &m, &e), ACCORD_ETOOBIG);
	assert_non_null(strstr(e.msg, "larger than the limit"));
	assert_int_equal(record_unpack(d, garbage, sizeof garbage, &m, &e), ACCORD_EPARSE);
	assert_non_null(strstr(e.msg, "not a valid Referral"));
	assert_null(m);
	free(big);
}

static void test_minimise_wrong_type(void **state)
{
	static const char *const fields[] = { "referral_id", NULL };
	record_selection *s = select_fields("Referral", fields);
	ProtobufCMessage *in = th_record("CaseClosure", "{\"referral_id\":\"R\"}"), *out = NULL;
	accord_error e = { 0 };

	assert_int_equal(record_minimise(s, in, &out, NULL, &e), ACCORD_EINVAL);
	assert_null(out);
	assert_non_null(strstr(e.msg, "the record is a CaseClosure"));
	assert_ptr_equal(record_selection_type(s), record_type_find("Referral"));
	record_free(in);
	record_selection_free(s);
}

/* The example referral minimised with every field selected but the
 * never-share ones comes back equal, field for field, packed the same. */
static void test_deep_copy(void **state)
{
	static const char *const fields[] = { "referral_id", "subject", "needs", "summary",
					      "urgency", "consent", "contact", NULL };
	record_selection *s = select_fields("Referral", fields);
	ProtobufCMessage *in = th_example_referral(), *out = NULL;
	record_withheld w;
	accord_error e = { 0 };
	json_t *a, *b;

	assert_int_equal(record_minimise(s, in, &out, &w, &e), 0);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.paths[0], "risk_assessment");
	assert_string_equal(w.paths[1], "case_notes");
	a = record_to_json(out);
	b = record_to_json(in);
	json_object_del(b, "risk_assessment");
	json_object_del(b, "case_notes");
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	record_free(out);
	record_free(in);
	record_selection_free(s);
}

/* record_utf8_ok: well-formed UTF-8 (RFC 3629) with no NUL, over n bytes. */
static const struct utf8_case {
	const char *name, *in;
	size_t len;
	bool ok;
} utf8_cases[] = {
	{ "utf8: ASCII, DEL included", "police \x7f", 8, true },
	{ "utf8: empty", "", 0, true },
	{ "utf8: two, three and four bytes", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, true },
	{ "utf8: the last scalar value", "a\xf4\x8f\xbf\xbf", 5, true },
	{ "utf8: a NUL after ASCII", "ab\0c", 4, false },
	{ "utf8: a NUL first", "\0", 1, false },
	{ "utf8: a stray continuation byte", "ab\x80", 3, false },
	{ "utf8: an overlong two-byte form", "\xc0\x80", 2, false },
	{ "utf8: an overlong three-byte form", "a\xe0\x80\x80", 4, false },
	{ "utf8: a surrogate", "\xed\xa0\x80", 3, false },
	{ "utf8: past U+10FFFF", "\xf4\x90\x80\x80", 4, false },
	{ "utf8: cut short at the end", "police \xe2\x82", 9, false },
	{ "utf8: ASCII where a continuation byte belongs", "\xc3" "a", 2, false },
	{ "utf8: 0xff", "abc\xff", 4, false },
	{ "utf8: only the bytes given are read", "ab\xff", 2, true },
};

static void test_utf8_case(void **state)
{
	const struct utf8_case *c = *state;

	assert_int_equal(record_utf8_ok(c->in, c->len), c->ok);
}

/* record_utf8_escape: text as it is, other bytes as \xNN, cut short only
 * between characters and escapes. */
static const struct escape_case {
	const char *name, *in;
	size_t size;               /* of out; 0: large enough */
	const char *want;
	size_t need;
} escape_cases[] = {
	{ "escape: UTF-8 text is kept", "police \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0,
	  "police \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 16 },
	{ "escape: a lone byte ff", "\xff", 0, "\\xff", 4 },
	{ "escape: a sequence cut short", "a\xc3", 0, "a\\xc3", 5 },
	{ "escape: a stray continuation byte", "\x80z", 0, "\\x80z", 5 },
	{ "escape: an overlong slash", "\xc0\xaf", 0, "\\xc0\\xaf", 8 },
	{ "escape: a surrogate", "\xed\xa0\x80", 0, "\\xed\\xa0\\x80", 12 },
	{ "escape: past U+10FFFF", "\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80", 16 },
	{ "escape: a backslash stays", "a\\xff", 0, "a\\xff", 5 },
	{ "escape: cut before an escape that does not fit", "ab\xff", 5, "ab", 6 },
	{ "escape: cut before a character that does not fit", "a\xe2\x82\xac", 4, "a", 4 },
	{ "escape: nothing after the first cut", "\xff" "a", 4, "", 5 },
};

static void test_escape_case(void **state)
{
	const struct escape_case *c = *state;
	char out[64];
	size_t size = c->size ? c->size : sizeof out;

	memset(out, 'X', sizeof out);
	assert_int_equal(record_utf8_escape(c->in, strlen(c->in), out, size), c->need);
	assert_string_equal(out, c->want);
	assert_true(record_utf8_ok(out, strlen(out)));
	assert_int_equal(record_utf8_escape(c->in, strlen(c->in), NULL, 0), c->need);
}

/* record_term_escape: nothing a terminal would act on comes out as it is,
 * a backslash is doubled, and other text, non-ASCII too, is kept; with
 * json, only what JSON lets stand unescaped, as JSON escapes. */
static const struct term_case {
	const char *name, *in, *want;
	bool json;
} term_cases[] = {
	{ "term: ASCII is kept", "police -> council: ok (42)", "police -> council: ok (42)",
	  false },
	{ "term: non-ASCII text is kept",
	  "Zo\xc3\xab, \xc5\x81\xc3\xb3\x64\xc5\xba, \xe5\x8c\x97\xe4\xba\xac \xf0\x9f\x98\x80",
	  "Zo\xc3\xab, \xc5\x81\xc3\xb3\x64\xc5\xba, \xe5\x8c\x97\xe4\xba\xac \xf0\x9f\x98\x80",
	  false },
	{ "term: ESC", "a\x1b[2Jb", "a\\x1b[2Jb", false },
	{ "term: a retitle ended by BEL", "\x1b]0;owned\a", "\\x1b]0;owned\\x07", false },
	{ "term: backspace and CR", "ok\b\b\rno", "ok\\x08\\x08\\x0dno", false },
	{ "term: tab and newline", "a\tb\nc", "a\\x09b\\x0ac", false },
	{ "term: DEL", "x\x7fy", "x\\x7fy", false },
	{ "term: C1 NEL U+0085", "a\xc2\x85z", "a\\u0085z", false },
	{ "term: C1 CSI U+009B", "\xc2\x9b" "31m", "\\u009b31m", false },
	{ "term: U+00A0 is not C1", "a\xc2\xa0z", "a\xc2\xa0z", false },
	{ "term: RLO U+202E", "abc\xe2\x80\xaetxt.exe", "abc\\u202etxt.exe", false },
	{ "term: every bidi control",
	  "\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"
	  "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9",
	  "\\u061c\\u200e\\u200f\\u202a\\u202b\\u202c\\u202d\\u2066\\u2067\\u2068\\u2069", false },
	{ "term: line and paragraph separators", "a\xe2\x80\xa8" "b\xe2\x80\xa9",
	  "a\\u2028b\\u2029", false },
	{ "term: U+2027 and U+2030 are kept", "\xe2\x80\xa7\xe2\x80\xb0",
	  "\xe2\x80\xa7\xe2\x80\xb0", false },
	{ "term: a backslash is doubled", "a\\x1b", "a\\\\x1b", false },
	{ "term: bytes outside UTF-8", "\xff\xc3(", "\\xff\\xc3(", false },
	{ "term json: DEL, C1 and bidi as JSON escapes",
	  "{\"a\": \"x\x7f\xc2\x9b\xe2\x80\xae\"}", "{\"a\": \"x\\u007F\\u009B\\u202E\"}", true },
	{ "term json: the layout between tokens is kept",
	  "{\n  \"a\": [\n    1\n  ]\n}", "{\n  \"a\": [\n    1\n  ]\n}", true },
	{ "term json: JSON's own escapes and text are kept",
	  "[\"\\u001b\\\\ \\\"Zo\xc3\xab\\\"\"]", "[\"\\u001b\\\\ \\\"Zo\xc3\xab\\\"\"]", true },
};

static void test_term_case(void **state)
{
	const struct term_case *c = *state;
	size_t (*esc)(const char *, size_t, char *, size_t) =
		c->json ? record_term_escape_json : record_term_escape;
	size_t n = strlen(c->in);
	char out[128];

	assert_int_equal(esc(c->in, n, out, sizeof out), strlen(c->want));
	assert_string_equal(out, c->want);
	assert_int_equal(esc(c->in, n, NULL, 0), strlen(c->want));
	/* Cut short, the result ends before the escape that would not fit. */
	assert_int_equal(esc(c->in, n, out, 2), strlen(c->want));
	assert_true(strlen(out) <= 1 && strncmp(out, c->want, strlen(out)) == 0);
}

/* The JSON form reads back as the same string: printing it that way
 * changes nothing for a program that reads it. */
static void test_term_json_reads_back(void **state)
{
	const char *text = "x\x1b\x7f\xc2\x85\xe2\x80\xaeZo\xc3\xab\\";
	json_t *j = json_pack("{s:[s]}", "a", text), *back;
	char *dumped = json_dumps(j, JSON_INDENT(2)), out[128];

	assert_non_null(dumped);
	record_term_escape_json(dumped, strlen(dumped), out, sizeof out);
	assert_null(strchr(out, 0x1b));
	assert_null(strstr(out, "\xe2\x80\xae"));
	back = json_loads(out, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, j));
	json_decref(back);
	json_decref(j);
	free(dumped);
}

/* record_bad_text names the first string field of an Envelope that is not
 * UTF-8, whatever protobuf-c let through. */
static void test_bad_text(void **state)
{
	Accord__Envelope__Envelope env = ACCORD__ENVELOPE__ENVELOPE__INIT;
	const char *text = NULL;
	char purpose[] = "reintegration-referral", sender[] = "\xff", recipient[] = "c\xc3";

	assert_null(record_bad_text(&env.base, &text));
	env.purpose = purpose;
	assert_null(record_bad_text(&env.base, &text));
	env.recipient = recipient;
	env.sender = sender;
	assert_string_equal(record_bad_text(&env.base, &text)->name, "sender");
	assert_ptr_equal(text, sender);
	env.sender = purpose;
	assert_string_equal(record_bad_text(&env.base, &text)->name, "recipient");
}

/* --- record_exact ------------------------------------------------------- */

/* A message from JSON (marked: its first 7f byte, packed, turned into a
 * NUL) or from raw bytes, checked against the bytes it was unpacked from. */
static const struct exact_case {
	const char *name;
	const char *type;          /* a record type, or "Envelope" */
	const char *json;          /* NULL: raw, rawlen bytes */
	const char *raw;
	size_t rawlen;
	int rc;
	const char *says;
} exact_cases[] = {
	{ "exact: an envelope as protobuf-c packs it", "Envelope",
	  "{\"message_id\":\"AAECAwQFBgcICQoLDA0ODw==\",\"protocol_version\":3,"
	  "\"sender\":\"police\",\"recipient\":\"council\",\"created_at\":-1}", NULL, 0, 0, "" },
	{ "exact: a NUL in the envelope's sender", "Envelope",
	  "{\"sender\":\"police\\u007fjunk\",\"recipient\":\"council\"}", NULL, 0,
	  ACCORD_EPARSE, "the envelope's field 'sender' holds a NUL byte" },
	{ "exact: a string that is one NUL", "Envelope", "{\"rule_id\":\"\\u007f\"}", NULL,
	  0, ACCORD_EPARSE, "the envelope's field 'rule_id' holds a NUL byte" },
	{ "exact: a NUL in a nested string of a record", "Referral",
	  "{\"referral_id\":\"R\",\"subject\":{\"family_name\":\"B\",\"given_name\":"
	  "\"A\\u007fB\"},\"needs\":[\"HOUSING\",\"EMPLOYMENT\"]}", NULL, 0,
	  ACCORD_EPARSE, "the record's field 'subject.given_name' holds a NUL byte" },
	{ "exact: a NUL in the second string of a repeated field", "ConsentWithdrawal",
	  "{\"referral_id\":\"R\",\"scope\":[\"a\",\"b\\u007fc\"]}", NULL, 0,
	  ACCORD_EPARSE, "the record's field 'scope' holds a NUL byte" },
	{ "exact: a oneof, packed enums, repeated messages", "ProgressUpdate",
	  "{\"referral_id\":\"R\",\"overall\":\"ENGAGED\",\"needs\":[{\"need\":\"HOUSING\","
	  "\"status\":\"ENGAGED\",\"note\":\"n\"},{}],\"next_review\":\"\"}", NULL, 0, 0, "" },
	{ "exact: fields out of order", "Envelope", NULL, "\x42\x01" "c" "\x3a\x01" "p", 6,
	  ACCORD_EPARSE, "the envelope does not re-encode to the bytes received" },
	{ "exact: a field given twice", "Envelope", NULL, "\x3a\x01" "a" "\x3a\x01" "b", 6,
	  ACCORD_EPARSE, "does not re-encode" },
	{ "exact: a default value written out", "Envelope", NULL, "\x18\x00", 2,
	  ACCORD_EPARSE, "does not re-encode" },
	{ "exact: an overlong varint", "Envelope", NULL, "\x18\x81\x00", 3, ACCORD_EPARSE,
	  "does not re-encode" },
	{ "exact: a NUL hidden by an overlong varint is still named", "Envelope", NULL,
	  "\x18\x81\x00" "\x3a\x02" "p\x00", 7, ACCORD_EPARSE, "field 'sender' holds a NUL" },
	{ "exact: an unknown field at the end is kept", "Envelope", NULL,
	  "\x3a\x01" "p" "\xa0\x06\x01", 6, 0, "" },
};

static void test_exact_case(void **state)
{
	const struct exact_case *c = *state;
	const ProtobufCMessageDescriptor *d = strcmp(c->type, "Envelope") == 0 ?
		&accord__envelope__envelope__descriptor : record_type_find(c->type);
	const char *what = d == &accord__envelope__envelope__descriptor ? "the envelope" :
			   "the record";
	ProtobufCMessage *m = NULL;
	accord_error e = { 0 };
	uint8_t *bytes;
	size_t len;

	if (c->json) {
		assert_int_equal(record_from_json_text(d, c->json, strlen(c->json), &m, &e), 0);
		len = protobuf_c_message_get_packed_size(m);
		bytes = malloc(len);
		assert_non_null(bytes);
		protobuf_c_message_pack(m, bytes);
		record_free(m);
		m = NULL;
		if (memchr(bytes, 0x7f, len))
			*(uint8_t *)memchr(bytes, 0x7f, len) = 0;
	} else {
		len = c->rawlen;
		bytes = malloc(len);
		assert_non_null(bytes);
		memcpy(bytes, c->raw, len);
	}
	assert_int_equal(record_unpack(d, bytes, len, &m, &e), 0);
	assert_int_equal(record_exact(m, bytes, len, what, &e), c->rc);
	if (!strstr(e.msg, c->says))
		fail_msg("'%s' does not say '%s'", e.msg, c->says);
	record_free(m);
	free(bytes);
}

/* Bytes cut short or run on are not the message: refused, or no message. */
static void test_exact_truncated(void **state)
{
	ProtobufCMessage *m = th_example_referral(), *back = NULL;
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *bytes = malloc(len + 1);
	accord_error e = { 0 };

	assert_non_null(bytes);
	protobuf_c_message_pack(m, bytes);
	bytes[len] = 0;
	assert_int_equal(record_exact(m, bytes, len, "the record", &e), 0);
	assert_int_equal(record_exact(m, bytes, len - 1, "the record", &e), ACCORD_EPARSE);
	assert_non_null(strstr(e.msg, "the record does not re-encode"));
	assert_int_equal(record_exact(m, bytes, len + 1, "the record", &e), ACCORD_EPARSE);
	assert_int_equal(record_exact(m, bytes, 0, "the record", NULL), ACCORD_EPARSE);
	/* Cut inside the last field, protobuf-c finds no message at all. */
	assert_int_equal(record_unpack(m->descriptor, bytes, len - 1, &back, &e), ACCORD_EPARSE);
	free(bytes);
	record_free(m);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_unpack_limits),
		cmocka_unit_test(test_minimise_wrong_type),
		cmocka_unit_test(test_deep_copy),
		cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_term_json_reads_back),
		cmocka_unit_test(test_exact_truncated),
	};
	static const th_table tables[] = {
		TH_TABLE(min_cases, test_min_case),
		TH_TABLE(check_cases, test_check_case),
		TH_TABLE(sel_cases, test_sel_case),
		TH_TABLE(utf8_cases, test_utf8_case),
		TH_TABLE(escape_cases, test_escape_case),
		TH_TABLE(term_cases, test_term_case),
		TH_TABLE(exact_cases, test_exact_case),
	};

	return th_run("test_record", fixed, sizeof fixed / sizeof fixed[0], tables,
		      sizeof tables / sizeof tables[0], NULL, NULL);
}
