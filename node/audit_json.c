/* audit_json.c - an entry as a DPO's tools read it: the JSON object of
 * `accord audit list --json`, `show --json` and `export --format jsonl`,
 * and the CSV row of `export --format csv`, flattened from it. */
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

static json_t *hex_or_null(bool has, const uint8_t *h)
{
	char hex[2 * AUDIT_HASH_LEN + 1];

	if (!has)
		return json_null();
	crypto_hex(h, AUDIT_HASH_LEN, hex);
	return json_string(hex);
}

json_t *audit_entry_json(const audit_entry *en)
{
	char t[32];

	audit_time_format(en->time_ms, t);
	return json_pack("{s:I, s:s, s:s?, s:s?, s:I, s:o, s:s?, s:s?, s:s?, s:s?, s:s?, "
			 "s:o, s:o, s:o, s:s?, s:o, s:o, s:s?, s:s?, s:s?}",
			 "sequence", (json_int_t)en->sequence, "time", t,
			 "event", audit_event_name(en->event),
			 "protocol_id", en->protocol_id,
			 "protocol_version", (json_int_t)en->protocol_version,
			 "protocol_digest", hex_or_null(en->has_protocol_digest,
							en->protocol_digest),
			 "rule", en->rule_id, "purpose", en->purpose, "from", en->from,
			 "to", en->to, "record_type", en->record_type,
			 "disclosed", record_json_strings(en->disclosed, en->n_disclosed),
			 "withheld", record_json_strings(en->withheld, en->n_withheld),
			 "record_sha256", hex_or_null(en->has_record_sha256, en->record_sha256),
			 "message_id", en->message_id,
			 "subject", hex_or_null(en->has_subject, en->subject),
			 "peer_key", hex_or_null(en->has_peer_key, en->peer_key),
			 "actor", en->actor, "outcome", audit_outcome_name(en->outcome),
			 "reason", en->reason);
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
	"peer_key", "actor", "outcome", "reason",
};
#define CSV_COLS (sizeof csv_header / sizeof csv_header[0])

int audit_csv_header(FILE *f)
{
	for (size_t i = 0; i < CSV_COLS; i++)
		csv_field(f, csv_header[i], i + 1 == CSV_COLS);
	return ferror(f) ? ACCORD_EIO : 0;
}

/* A JSON array of strings as "a;b;c" (malloc'd; NULL when out of memory). */
static char *join_paths(json_t *v)
{
	size_t n = 1, used = 0, j;
	json_t *x;
	char *out;

	json_array_foreach(v, j, x)
		n += strlen(json_string_value(x)) + 1;
	out = malloc(n);
	if (!out)
		return NULL;
	json_array_foreach(v, j, x) {
		size_t len = strlen(json_string_value(x));

		if (j)
			out[used++] = ';';
		memcpy(out + used, json_string_value(x), len);
		used += len;
	}
	out[used] = '\0';
	return out;
}

/* The JSON form, flattened: lists joined with ';', nulls empty. */
int audit_entry_csv(FILE *f, const audit_entry *en)
{
	json_t *o = audit_entry_json(en);

	for (size_t i = 0; i < CSV_COLS; i++) {
		json_t *v = json_object_get(o, csv_header[i]);
		char num[32], *joined = NULL;
		const char *s = NULL;

		if (json_is_string(v)) {
			s = json_string_value(v);
		} else if (json_is_integer(v)) {
			snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			s = num;
		} else if (json_is_array(v)) {
			joined = join_paths(v);
			s = joined;
		}
		csv_field(f, s, i + 1 == CSV_COLS);
		free(joined);
	}
	json_decref(o);
	return ferror(f) ? ACCORD_EIO : 0;
}
