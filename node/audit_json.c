/* audit_json.c - an entry as a DPO's tools read it: the JSON object of
 * `accord audit list --json`, `show --json` and `export --format jsonl`,
 * and the CSV row of `export --format csv`, flattened from it.
 *
 * Text that is not UTF-8 is written escaped, its bytes kept in hex under
 * "not_utf8": jansson refuses such a string (json_string returns NULL),
 * and an entry whose text it refused used to vanish from the export. */
#include <jansson.h>
#include <time.h>

#include "accord/audit.h"
#include "accord/record.h"

void audit_time_format(int64_t ms, char out[static 32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, 32, "%lld", (long long)ms);
		return;
	}
	snprintf(out + 19, 13, ".%03dZ", (int)(ms % 1000));
}

/* s as a JSON string, null when absent. Text that is not UTF-8 is written
 * with record_utf8_escape, and its exact bytes in hex go into raw under
 * key. NULL only when out of memory. */
static json_t *text_json(const char *s, const char *key, json_t *raw)
{
	size_t n, need;
	char *esc, *hex;
	json_t *j = NULL;

	if (!s)
		return json_null();
	n = strlen(s);
	if (record_utf8_ok(s, n))
		return json_stringn(s, n);
	need = record_utf8_escape(s, n, NULL, 0);
	esc = malloc(need + 1);
	hex = malloc(2 * n + 1);
	if (esc && hex) {
		record_utf8_escape(s, n, esc, need + 1);
		crypto_hex(s, n, hex);
		if (json_object_set_new(raw, key, json_string(hex)) == 0)
			j = json_stringn(esc, need);
	}
	free(esc);
	free(hex);
	return j;
}

/* o[key] = text_json(s): 0, or -1 when out of memory. */
static int set_text(json_t *o, const char *key, const char *s, json_t *raw)
{
	return json_object_set_new(o, key, text_json(s, key, raw));
}

/* o[key] = a list of text as a JSON array, element i under "key[i]" in raw. */
static int set_texts(json_t *o, const char *key, const char *const *v, size_t n,
		     json_t *raw)
{
	json_t *a = json_array();
	char name[32];

	for (size_t i = 0; a && i < n; i++) {
		snprintf(name, sizeof name, "%s[%zu]", key, i);
		if (json_array_append_new(a, text_json(v[i], name, raw)) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return json_object_set_new(o, key, a);
}

/* o[key] = a hash in hex, or null. */
static int set_hash(json_t *o, const char *key, bool has, const uint8_t *h)
{
	char hex[2 * AUDIT_HASH_LEN + 1];

	if (has)
		crypto_hex(h, AUDIT_HASH_LEN, hex);
	return json_object_set_new(o, key, has ? json_string(hex) : json_null());
}

/* o[key] = a name of ours (always UTF-8), or null. */
static int set_name(json_t *o, const char *key, const char *name)
{
	return json_object_set_new(o, key, name ? json_string(name) : json_null());
}

/* The members in order, one after another: raw fills in the same order. */
json_t *audit_entry_json(const audit_entry *en)
{
	json_t *o = json_object(), *raw = json_object();
	char t[32];

	audit_time_format(en->time_ms, t);
	if (!o || !raw ||
	    json_object_set_new(o, "sequence", json_integer((json_int_t)en->sequence)) ||
	    set_name(o, "time", t) || set_name(o, "event", audit_event_name(en->event)) ||
	    set_text(o, "protocol_id", en->protocol_id, raw) ||
	    json_object_set_new(o, "protocol_version",
				json_integer((json_int_t)en->protocol_version)) ||
	    set_hash(o, "protocol_digest", en->has_protocol_digest, en->protocol_digest) ||
	    set_text(o, "rule", en->rule_id, raw) || set_text(o, "purpose", en->purpose, raw) ||
	    set_text(o, "from", en->from, raw) || set_text(o, "to", en->to, raw) ||
	    set_text(o, "record_type", en->record_type, raw) ||
	    set_texts(o, "disclosed", en->disclosed, en->n_disclosed, raw) ||
	    set_texts(o, "withheld", en->withheld, en->n_withheld, raw) ||
	    set_hash(o, "record_sha256", en->has_record_sha256, en->record_sha256) ||
	    set_text(o, "message_id", en->message_id, raw) ||
	    set_hash(o, "subject", en->has_subject, en->subject) ||
	    set_hash(o, "peer_key", en->has_peer_key, en->peer_key) ||
	    set_text(o, "actor", en->actor, raw) ||
	    set_name(o, "outcome", audit_outcome_name(en->outcome)) ||
	    set_text(o, "reason", en->reason, raw) ||
	    json_object_set_new(o, "not_utf8", json_object_size(raw) ? json_incref(raw) :
				json_null())) {
		json_decref(o);
		o = NULL;
	}
	json_decref(raw);
	return o;
}

/* One CSV field, quoted as RFC 4180 asks when it must be. */
static void csv_field(FILE *f, const char *s, bool last)
{
	if (s && strpbrk(s, ",\"\r\n")) {
		fputc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else if (s) {
		fputs(s, f);
	}
	fputc(last ? '\n' : ',', f);
}

static const char *const csv_header[] = {
	"sequence", "time", "event", "protocol_id", "protocol_version",
	"protocol_digest", "rule", "purpose", "from", "to", "record_type",
	"disclosed", "withheld", "record_sha256", "message_id", "subject",
	"peer_key", "actor", "outcome", "reason", "not_utf8",
};
#define CSV_COLS (sizeof csv_header / sizeof csv_header[0])

int audit_csv_header(FILE *f)
{
	for (size_t i = 0; i < CSV_COLS; i++)
		csv_field(f, csv_header[i], i + 1 == CSV_COLS);
	return ferror(f) ? ACCORD_EIO : 0;
}

/* A JSON array of strings as "a;b;c", an object of them as "k=a;l=b"
 * (malloc'd; NULL when out of memory). */
static char *join(json_t *v)
{
	char *out = NULL;
	size_t len, i;
	const char *k;
	json_t *x;
	FILE *m = open_memstream(&out, &len);

	if (!m)
		return NULL;
	/* One of the two loops runs: each finds nothing in the other kind. */
	json_array_foreach(v, i, x) {
		fprintf(m, "%s%s", i ? ";" : "", json_string_value(x));
	}
	i = 0;
	json_object_foreach(v, k, x) {
		fprintf(m, "%s%s=%s", i++ ? ";" : "", k, json_string_value(x));
	}
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The JSON form, flattened, written whole or not at all. */
int audit_entry_csv(FILE *f, const audit_entry *en)
{
	json_t *o = audit_entry_json(en);
	char *row = NULL;
	size_t len = 0;
	FILE *m = o ? open_memstream(&row, &len) : NULL;
	int rc = m ? 0 : ACCORD_ENOMEM;

	for (size_t i = 0; rc == 0 && i < CSV_COLS; i++) {
		json_t *v = json_object_get(o, csv_header[i]);
		char num[32], *joined = NULL;
		const char *s = NULL;

		if (json_is_string(v)) {
			s = json_string_value(v);
		} else if (json_is_integer(v)) {
			snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			s = num;
		} else if (json_is_array(v) || json_is_object(v)) {
			s = joined = join(v);
			rc = joined ? 0 : ACCORD_ENOMEM;
		}
		csv_field(m, s, i + 1 == CSV_COLS);
		free(joined);
	}
	if (m && fclose(m) != 0 && rc == 0)
		rc = ACCORD_ENOMEM;
	if (rc == 0 && (fwrite(row, 1, len, f) != len || ferror(f)))
		rc = ACCORD_EIO;
	free(row);
	json_decref(o);
	return rc;
}
