/* test_audit_json.c - the forms a DPO's tools read (audit_entry_json,
 * audit_entry_csv): every entry written, the text of an old one that is
 * not UTF-8 escaped and its exact bytes kept, and a row written whole or
 * not at all. */
#include <jansson.h>

#include "accord/record.h"
#include "helper.h"

/* Entry 0 of a fresh log as an old log may hold it: text that is not
 * UTF-8 in from, reason and a disclosed path, appended straight through
 * the audit API. Read back into *r (audit_record_free it). */
static const char bad_from[] = "\xff", bad_reason[] = "refused: '\xc3' is \\x41",
		  bad_path[] = "subject.\xed\xa0\x80";

static const audit_entry *old_entry(struct th_log *l, audit_record **r)
{
	static const char *const disclosed[] = { "needs", bad_path };
	audit_entry en;

	th_entry(0, &en, 1);
	en.from = bad_from;
	en.reason = bad_reason;
	en.disclosed = disclosed;
	en.n_disclosed = 2;
	th_log_open(l, NULL);
	assert_int_equal(audit_append(l->a, &en, NULL, NULL), 0);
	assert_int_equal(audit_read(l->a, 0, r, NULL), 0);
	return audit_record_entry(*r);
}

/* The bytes that hex (from "not_utf8") stands for equal want. */
static void assert_bytes(json_t *raw, const char *key, const char *want)
{
	const char *hex = json_string_value(json_object_get(raw, key));
	uint8_t got[64];
	size_t n;

	assert_non_null(hex);
	assert_int_equal(crypto_hex_decode(hex, got, sizeof got, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(got, want, n);
}

static void test_json_keeps_every_byte(void **state)
{
	struct th_log l;
	audit_record *r;
	const audit_entry *en = old_entry(&l, &r);
	json_t *o = audit_entry_json(en), *raw;
	char *text;

	assert_non_null(o);
	text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	assert_string_equal(json_string_value(json_object_get(o, "from")), "\\xff");
	assert_string_equal(json_string_value(json_object_get(o, "reason")),
			    "refused: '\\xc3' is \\x41");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "disclosed"), 1)),
			    "subject.\\xed\\xa0\\x80");
	assert_string_equal(json_string_value(json_object_get(o, "to")), en->to);
	raw = json_object_get(o, "not_utf8");
	assert_int_equal(json_object_size(raw), 3);
	assert_bytes(raw, "from", bad_from);
	assert_bytes(raw, "reason", bad_reason);
	assert_bytes(raw, "disclosed[1]", bad_path);
	/* the last member, after "reason" */
	assert_non_null(strstr(text, "\"reason\":"));
	assert_true(strstr(text, "\"not_utf8\":") > strstr(text, "\"reason\":"));
	free(text);
	json_decref(o);
	audit_record_free(r);
	th_log_close(&l);
}

static void test_json_utf8_unchanged(void **state)
{
	audit_entry en;
	json_t *o;

	th_entry(1, &en, 1);
	en.reason = "caf\xc3\xa9 \\x41";
	o = audit_entry_json(&en);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "reason")), en.reason);
	assert_true(json_is_null(json_object_get(o, "not_utf8")));
	json_decref(o);
}

static void test_csv_keeps_every_byte(void **state)
{
	struct th_log l;
	audit_record *r;
	const audit_entry *en = old_entry(&l, &r);
	char *buf = NULL, *text, *row;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(audit_csv_header(f), 0);
	assert_int_equal(audit_entry_csv(f, en), 0);
	assert_int_equal(fclose(f), 0);
	text = buf;
	assert_true(record_utf8_ok(text, strlen(text)));
	row = strchr(text, '\n') + 1;
	assert_true(strncmp(text, "sequence,time,", 14) == 0);
	assert_non_null(strstr(text, ",reason,not_utf8\n"));
	assert_true(strncmp(row, "0,", 2) == 0);
	assert_non_null(strstr(row, ",\\xff,"));
	assert_non_null(strstr(row, ",needs;subject.\\xed\\xa0\\x80,"));
	assert_non_null(strstr(row, ",from=ff;disclosed[1]=7375626a6563742eeda080;reason="
			       "726566757365643a2027c327206973205c783431\n"));
	assert_ptr_equal(strchr(row, '\n'), text + strlen(text) - 1);
	free(buf);
	audit_record_free(r);
	th_log_close(&l);
}

/* A stream that fails: the row is an error, not a silent gap. */
static void test_csv_write_error(void **state)
{
	audit_entry en;
	FILE *f = fopen("/dev/full", "w");

	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	th_entry(2, &en, 1);
	assert_int_equal(audit_entry_csv(f, &en), ACCORD_EIO);
	fclose(f);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_keeps_every_byte),
		cmocka_unit_test(test_json_utf8_unchanged),
		cmocka_unit_test(test_csv_keeps_every_byte),
		cmocka_unit_test(test_csv_write_error),
	};

	return th_run("test_audit_json", tests, sizeof tests / sizeof tests[0], NULL, 0,
		      NULL, NULL);
}
