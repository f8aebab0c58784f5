/*
 * record_json.c - records as JSON and back, by descriptor (record.h says
 * what the JSON looks like). Errors name the JSON path of the value that
 * was wrong, so a case-management system's developer can find it.
 *
 * Reading goes through cJSON: with the checks below it reads the local
 * API's 1,555-byte example request in 3.4 us, where jansson took 18 us, a
 * quarter of the sending node's CPU. cJSON is laxer than RFC 8259, so a
 * pass before it refuses what it would take (text_check), and the walk
 * refuses a key given twice, which cJSON keeps. Text cJSON refuses is
 * read again with jansson, which says what it expected where (explain).
 * Writing stays with jansson.
 */
#include <math.h>   /* isfinite, fabs: no libm */
#include <pthread.h>

#include <cJSON.h>
#include <jansson.h>

#include "accord/crypto.h"
#include "accord/record.h"
#include "record_int.h"

/* ---- the text ----------------------------------------------------------- */

static size_t digits(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* The length of the number at s, n bytes left, as RFC 8259 writes one
 * (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), or 0 when what starts
 * there is not one: cJSON hands numbers to strtod, which takes 01 and 1.
 * as well. */
static size_t number_len(const char *s, size_t n)
{
	size_t i = s[0] == '-', d;

	if (i < n && s[i] == '0')
		d = 1;
	else if ((d = digits(s + i, n - i)) == 0)
		return 0;
	i += d;
	if (i < n && s[i] == '.') {
		if ((d = digits(s + i + 1, n - i - 1)) == 0)
			return 0;
		i += 1 + d;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i += i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-') ? 2 : 1;
		if ((d = digits(s + i, n - i)) == 0)
			return 0;
		i += d;
	}
	return i < n && s[i] >= '0' && s[i] <= '9' ? 0 : i;
}

/*
 * What cJSON would take and RFC 8259 does not, refused before it reads
 * the text: bytes that are not UTF-8 (cJSON copies them into strings), a
 * control character inside a string or between tokens (cJSON takes any
 * byte below 0x21 as white space), the escape \u0000 (cJSON ends the
 * string there, so the rest of the value would be lost without a word),
 * and numbers strtod takes that JSON does not (01, 1.). It also stops
 * nesting deeper than TEXT_MAX_DEPTH, where cJSON would say only where it
 * stopped (at 1,000 levels). Only strings, their escapes, numbers and
 * brackets are followed: cJSON checks the rest of the grammar. 0, or -1
 * with the offset of the first fault in *at and *why saying what it is.
 */
#define TEXT_MAX_DEPTH 64

static int text_check(const char *text, size_t len, size_t *at, const char **why)
{
	bool in_string = false;
	unsigned depth = 0;
	uint32_t cp;

	for (size_t i = 0, k; i < len; i += k) {
		unsigned char c = (unsigned char)text[i];

		k = 1;
		if (c >= 0x80) {
			k = rec_utf8_char(text + i, len - i, &cp);
			if (k == 0) {
				*why = "a byte that is not part of UTF-8 text";
				goto bad;
			}
		} else if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r'))) {
			*why = in_string ? "a control character inside a string (escape it)" :
			       "a control character";
			goto bad;
		} else if (c == '"') {
			in_string = !in_string;
		} else if (in_string) {
			if (c != '\\')
				continue;
			if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0) {
				*why = "\\u0000 (a NUL character), which no text field holds";
				goto bad;
			}
			k = len - i >= 2 && (unsigned char)text[i + 1] < 0x80 ? 2 : 1;
		} else if (c == '[' || c == '{') {
			if (++depth > TEXT_MAX_DEPTH) {
				*why = "arrays and objects nested more than 64 deep";
				goto bad;
			}
		} else if (c == ']' || c == '}') {
			depth -= depth > 0;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			k = number_len(text + i, len - i);
			if (k == 0) {
				*why = "a number JSON does not allow (a leading zero, or no "
				       "digit after a point or an exponent)";
				goto bad;
			}
		}
		continue;
bad:
		*at = i;
		return -1;
	}
	return 0;
}

/* cJSON's allocations go through this, so that a parse that ran out of
 * memory is told from text that is not JSON. */
static _Thread_local bool cjson_alloc_failed;

static void *noting_malloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		cjson_alloc_failed = true;
	return p;
}

static void install_hooks(void)
{
	cJSON_Hooks h = { .malloc_fn = noting_malloc, .free_fn = free };

	cJSON_InitHooks(&h);
}

/* EPARSE naming line and column of byte at (at >= len: the text's end)
 * and why. With near, the text from there is quoted after why. */
static int parse_error(const char *text, size_t len, size_t at, const char *why, bool near,
		       accord_error *e)
{
	size_t line = 1, col = 1;
	char from[40];

	for (size_t i = 0; i < at && i < len; i++) {
		col++;
		if (text[i] == '\n') {
			line++;
			col = 1;
		}
	}
	if (why && !near)
		return accord_fail(e, ACCORD_EPARSE, "not valid JSON at line %zu, column "
				   "%zu: %s", line, col, why);
	if (at >= len)
		return accord_fail(e, ACCORD_EPARSE, "not valid JSON at line %zu, column "
				   "%zu: the text ends before the value does%s%s%s", line, col,
				   why ? " (" : "", why ? why : "", why ? ")" : "");
	record_utf8_escape(text + at, len - at < 16 ? len - at : 16, from, sizeof from);
	return accord_fail(e, ACCORD_EPARSE, "not valid JSON at line %zu, column %zu%s%s, "
			   "at '%s'", line, col, why ? ": " : "", why ? why : "", from);
}

/*
 * Where and why text that cJSON could not read is not JSON. cJSON says
 * only where it stopped, sometimes a byte past the fault, and names the
 * end of the text by its last byte; this path is taken for refused text
 * only, so it reads the text again with jansson, which says what it
 * expected ("string or '}' expected near 'b'"). jansson places the fault
 * after the token it quotes: the token's first byte is where to point.
 * why gets jansson's reason without the token; 0, or -1 should jansson
 * read the text after all.
 */
static int explain(const char *text, size_t len, size_t *at, char *why, size_t cap)
{
	static const char near[] = " near ", early[] = "premature end of input";
	json_error_t er;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &er);
	const char *n = strstr(er.text, near), *tok, *q;
	size_t pos = er.position > 0 ? (size_t)er.position : 0;

	if (j || json_error_code(&er) == json_error_out_of_memory) {
		json_decref(j);
		return -1;
	}
	if (pos > len)
		pos = len;
	*at = pos ? pos - 1 : 0;   /* the token's last byte, when it is not quoted whole */
	if (!n) {
		snprintf(why, cap, "%s", er.text);
		return 0;
	}
	if ((size_t)(n - er.text) == sizeof early - 1 &&
	    strncmp(er.text, early, sizeof early - 1) == 0)
		snprintf(why, cap, "the text ends before this value does");
	else
		snprintf(why, cap, "%.*s", (int)(n - er.text), er.text);
	tok = n + sizeof near - 1;
	if (strcmp(tok, "end of file") == 0) {
		*at = len;
		if (strcmp(why, "unexpected token") == 0)
			*why = '\0';   /* nothing more to say than that the text ended */
	} else if (*tok == '\'' && (q = strrchr(tok + 1, '\'')) && q[1] == '\0') {
		size_t quoted = (size_t)(q - tok - 1);

		if (quoted <= pos)
			*at = pos - quoted;
	}
	return 0;
}

int record_json_parse(const char *text, size_t len, cJSON **out, accord_error *e)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const char *why = NULL, *end = NULL;
	size_t at;
	cJSON *j;

	*out = NULL;
	if (text_check(text, len, &at, &why) != 0)
		return parse_error(text, len, at, why, false, e);
	pthread_once(&once, install_hooks);
	cjson_alloc_failed = false;
	j = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (cjson_alloc_failed) {
		cJSON_Delete(j);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory reading the JSON text");
	}
	/* cJSON stops right after the value: white space may follow. */
	while (j && end && end < text + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (j && end == text + len) {
		*out = j;
		return 0;
	}
	if (j) {
		cJSON_Delete(j);
		return parse_error(text, len, (size_t)(end - text), "more after the value", false, e);
	}
	{
		char reason[JSON_ERROR_TEXT_LENGTH];
		bool known;

		at = end && end >= text && end < text + len ? (size_t)(end - text) : len;
		known = explain(text, len, &at, reason, sizeof reason) == 0;
		return parse_error(text, len, at, known && *reason ? reason : NULL, true, e);
	}
}

/* ---- reading ------------------------------------------------------------ */

/* Reading state: where we are, as a JSON path ("$.subject.identifiers[1]"). */
struct jctx {
	rec_path at;
	accord_error *e;
};

/* The most fields a message read here may have: the bits of a walk's
 * "seen" set. No record type comes near it. */
#define READ_MAX_FIELDS 256

/* 2^53: above it a JSON number (a double to cJSON) no longer holds every
 * integer. */
#define EXACT_INT 9007199254740992.0

static bool json_integral(const cJSON *j)
{
	double v = j->valuedouble;

	return isfinite(v) && fabs(v) <= EXACT_INT && (double)(int64_t)v == v;
}

static const char *json_kind(const cJSON *j)
{
	if (cJSON_IsObject(j))
		return "an object";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return json_integral(j) ? "an integer" : "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	return "null";
}

static int wrong_type(struct jctx *c, const char *want, const cJSON *j)
{
	return accord_fail(c->e, ACCORD_EINVAL, "%s: expected %s, got %s%s", c->at.buf,
			   want, json_kind(j), cJSON_IsNull(j) ?
			   " (leave a field out to give it no value)" : "");
}

static int msg_from_json(struct jctx *c, const ProtobufCMessageDescriptor *d,
			 const cJSON *j, int depth, ProtobufCMessage **out);

/* An integer from lo to hi; 64-bit fields only up to 2^53 either way,
 * beyond which the number read may not be the one written. */
static int int_from_json(struct jctx *c, const cJSON *j, double lo, double hi, int64_t *v)
{
	double d;

	if (!cJSON_IsNumber(j))
		return wrong_type(c, "an integer", j);
	d = j->valuedouble;
	lo = lo < -EXACT_INT ? -EXACT_INT : lo;
	hi = hi > EXACT_INT ? EXACT_INT : hi;
	if (isfinite(d) && (d < lo || d > hi))
		return accord_fail(c->e, ACCORD_EINVAL, "%s: %.17g is out of range "
				   "(%.17g to %.17g)", c->at.buf, d, lo, hi);
	if (!json_integral(j))
		return wrong_type(c, "an integer", j);
	*v = (int64_t)d;
	return 0;
}

static int enum_from_json(struct jctx *c, const ProtobufCEnumDescriptor *ed,
			  const cJSON *j, int32_t *out)
{
	const ProtobufCEnumValue *v;
	char names[400] = "";
	size_t used = 0;
	char want[128];

	if (!cJSON_IsString(j)) {
		snprintf(want, sizeof want, "a %s name as a string", ed->short_name);
		return wrong_type(c, want, j);
	}
	v = protobuf_c_enum_descriptor_get_value_by_name(ed, j->valuestring);
	if (v) {
		*out = v->value;
		return 0;
	}
	for (unsigned i = 0; i < ed->n_values; i++) {
		int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
				 ed->values[i].name);

		if (n < 0 || (size_t)n >= sizeof names - used)
			break;
		used += (size_t)n;
	}
	return accord_fail(c->e, ACCORD_EINVAL, "%s: '%s' is not a %s (one of: %s)",
			   c->at.buf, j->valuestring, ed->short_name, names);
}

static int bytes_from_json(struct jctx *c, const cJSON *j, ProtobufCBinaryData *b)
{
	size_t n;

	if (!cJSON_IsString(j))
		return wrong_type(c, "a base64 string", j);
	n = strlen(j->valuestring);
	b->len = 0;
	b->data = NULL;
	if (n == 0)
		return 0;
	b->data = malloc(n / 4 * 3 + 3);
	if (!b->data)
		return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
	if (crypto_b64_decode(j->valuestring, b->data, n / 4 * 3 + 3, &b->len) != 0) {
		free(b->data);
		b->data = NULL;
		return accord_fail(c->e, ACCORD_EINVAL, "%s: expected padded base64, got "
				   "a string that is not", c->at.buf);
	}
	return 0;
}

/* One value of field f from j into slot (rec_value_size(f) bytes). */
static int value_from_json(struct jctx *c, const ProtobufCFieldDescriptor *f,
			   const cJSON *j, int depth, void *slot)
{
	int64_t v;
	int rc;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!cJSON_IsString(j))
			return wrong_type(c, "a string", j);
		*(char **)slot = strdup(j->valuestring);
		if (!*(char **)slot)
			return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_from_json(c, j, slot);
	case PROTOBUF_C_TYPE_BOOL:
		if (!cJSON_IsBool(j))
			return wrong_type(c, "true or false", j);
		*(protobuf_c_boolean *)slot = cJSON_IsTrue(j);
		return 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		rc = int_from_json(c, j, INT32_MIN, INT32_MAX, &v);
		if (rc == 0)
			*(int32_t *)slot = (int32_t)v;
		return rc;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		rc = int_from_json(c, j, 0, UINT32_MAX, &v);
		if (rc == 0)
			*(uint32_t *)slot = (uint32_t)v;
		return rc;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		rc = int_from_json(c, j, INT64_MIN, INT64_MAX, &v);
		if (rc == 0)
			*(int64_t *)slot = v;
		return rc;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		rc = int_from_json(c, j, 0, INT64_MAX, &v);
		if (rc == 0)
			*(uint64_t *)slot = (uint64_t)v;
		return rc;
	case PROTOBUF_C_TYPE_FLOAT:
		if (!cJSON_IsNumber(j))
			return wrong_type(c, "a number", j);
		*(float *)slot = (float)j->valuedouble;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!cJSON_IsNumber(j))
			return wrong_type(c, "a number", j);
		*(double *)slot = j->valuedouble;
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return enum_from_json(c, f->descriptor, j, slot);
	case PROTOBUF_C_TYPE_MESSAGE:
		return msg_from_json(c, f->descriptor, j, depth + 1, slot);
	}
	abort(); /* a descriptor protoc-c made has no other type */
}

static int repeated_from_json(struct jctx *c, ProtobufCMessage *m,
			      const ProtobufCFieldDescriptor *f, const cJSON *j, int depth)
{
	size_t n = 0, i = 0, size = rec_value_size(f);
	const cJSON *v;
	char *arr;

	if (!cJSON_IsArray(j))
		return wrong_type(c, "an array", j);
	cJSON_ArrayForEach(v, j)
		n++;
	if (n > RECORD_MAX_REPEATED)
		return accord_fail(c->e, ACCORD_ETOOBIG, "%s: %zu elements, more than the "
				   "limit of %d", c->at.buf, n, RECORD_MAX_REPEATED);
	if (depth + 1 > RECORD_JSON_MAX_DEPTH)
		return accord_fail(c->e, ACCORD_ETOOBIG, "%s: nested deeper than %d levels",
				   c->at.buf, RECORD_JSON_MAX_DEPTH);
	if (n == 0)
		return 0;
	arr = calloc(n, size);
	if (!arr)
		return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
	/* Array and count grow together: m stays freeable by record_free. */
	REC_MEMBER(char *, m, f->offset) = arr;
	cJSON_ArrayForEach(v, j) {
		size_t old = rec_path_push_index(&c->at, i);
		int rc = value_from_json(c, f, v, depth + 1, arr + i * size);

		if (rc != 0)
			return rc;
		rec_path_pop(&c->at, old);
		REC_MEMBER(size_t, m, f->quantifier_offset) = ++i;
	}
	return 0;
}

/* The oneof member of m other than f that is already set, or NULL. */
static const ProtobufCFieldDescriptor *oneof_rival(const ProtobufCMessage *m,
						    const ProtobufCFieldDescriptor *f)
{
	uint32_t chosen = REC_MEMBER(uint32_t, m, f->quantifier_offset);

	if (chosen == 0 || chosen == f->id)
		return NULL;
	return protobuf_c_message_descriptor_get_field(m->descriptor, chosen);
}

static int field_from_json(struct jctx *c, ProtobufCMessage *m,
			   const ProtobufCFieldDescriptor *f, const cJSON *val, int depth)
{
	const ProtobufCFieldDescriptor *rival;
	int rc;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return repeated_from_json(c, m, f, val, depth);
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && (rival = oneof_rival(m, f)))
		return accord_fail(c->e, ACCORD_EINVAL, "%s: '%s' and '%s' are "
				   "alternatives; give only one of them", c->at.buf,
				   rival->name, f->name);
	rc = value_from_json(c, f, val, depth, (char *)m + f->offset);
	if (rc == 0)
		rec_mark_present(m, f);
	else if (f->type == PROTOBUF_C_TYPE_STRING)
		REC_MEMBER(char *, m, f->offset) = (char *)protobuf_c_empty_string;
	return rc;
}

static int msg_from_json(struct jctx *c, const ProtobufCMessageDescriptor *d,
			 const cJSON *j, int depth, ProtobufCMessage **out)
{
	uint64_t seen[READ_MAX_FIELDS / 64] = { 0 };
	ProtobufCMessage *m;
	const cJSON *val;

	*out = NULL;
	if (!cJSON_IsObject(j)) {
		char want[128];

		snprintf(want, sizeof want, "an object (a %s)", d->short_name);
		return wrong_type(c, want, j);
	}
	if (depth > RECORD_JSON_MAX_DEPTH)
		return accord_fail(c->e, ACCORD_ETOOBIG, "%s: nested deeper than %d levels",
				   c->at.buf, RECORD_JSON_MAX_DEPTH);
	if (d->n_fields > READ_MAX_FIELDS)
		return accord_fail(c->e, ACCORD_EINVAL, "%s: %s has more fields than %d, "
				   "which this reader cannot follow", c->at.buf,
				   d->short_name, READ_MAX_FIELDS);
	m = rec_message_new(d);
	if (!m)
		return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
	cJSON_ArrayForEach(val, j) {
		const ProtobufCFieldDescriptor *f;
		size_t old = rec_path_push(&c->at, ".", val->string), k = 0;
		uint64_t bit = 0;
		int rc;

		f = protobuf_c_message_descriptor_get_field_by_name(d, val->string);
		if (f) {
			k = (size_t)(f - d->fields);
			bit = UINT64_C(1) << k % 64;
		}
		if (!f) {
			char names[400];

			rec_field_names(d, names, sizeof names);
			rc = accord_fail(c->e, ACCORD_EINVAL, "%s: %s has no field '%s' "
					 "(its fields: %s)", c->at.buf, d->short_name, val->string,
					 names);
		} else if (seen[k / 64] & bit) {
			/* cJSON keeps both; another reader might take either. */
			rc = accord_fail(c->e, ACCORD_EPARSE, "%s: the key is given twice "
					 "(a duplicate key)", c->at.buf);
		} else {
			seen[k / 64] |= bit;
			rc = field_from_json(c, m, f, val, depth);
		}
		if (rc != 0) {
			record_free(m);
			return rc;
		}
		rec_path_pop(&c->at, old);
	}
	*out = m;
	return 0;
}

int record_from_json(const ProtobufCMessageDescriptor *d, const cJSON *j,
		     ProtobufCMessage **out, accord_error *e)
{
	struct jctx c = { .at = { .buf = "$", .len = 1 }, .e = e };
	ProtobufCMessage *m;
	size_t packed;
	int rc = msg_from_json(&c, d, j, 1, &m);

	if (rc != 0)
		return rc;
	packed = protobuf_c_message_get_packed_size(m);
	if (packed > RECORD_MAX_BYTES) {
		record_free(m);
		return accord_fail(e, ACCORD_ETOOBIG, "the %s record would be %zu bytes, "
				   "more than the limit of %zu", d->short_name, packed,
				   RECORD_MAX_BYTES);
	}
	*out = m;
	return 0;
}

int record_from_json_text(const ProtobufCMessageDescriptor *d, const char *text,
			  size_t len, ProtobufCMessage **out, accord_error *e)
{
	cJSON *j;
	int rc;

	*out = NULL;
	if (len > RECORD_JSON_MAX_BYTES)
		return accord_fail(e, ACCORD_ETOOBIG, "the JSON text is %zu bytes, more "
				   "than the limit of %zu", len, RECORD_JSON_MAX_BYTES);
	rc = record_json_parse(text, len, &j, e);
	if (rc != 0)
		return rc;
	rc = record_from_json(d, j, out, e);
	cJSON_Delete(j);
	return rc;
}

/* --- writing ------------------------------------------------------------ */

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;

		return json_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = v;
		char *s;
		json_t *j;

		if (b->len > RECORD_MAX_BYTES)
			return NULL;
		s = malloc(CRYPTO_B64_LEN(b->len));
		if (!s)
			return NULL;
		crypto_b64_encode(b->data, b->len, s);
		j = json_string(s);
		free(s);
		return j;
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)v);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)v);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)v);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)v);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (*(const uint64_t *)v > INT64_MAX)
			return NULL;
		return json_integer((json_int_t)*(const uint64_t *)v);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)v);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)v);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int32_t *)v);

		return ev ? json_string(ev->name) : json_integer(*(const int32_t *)v);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;

		return sub ? record_to_json(sub) : json_null();
	}
	}
	return NULL;
}

static json_t *field_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *v = (const char *)m + f->offset;
	const char *arr;
	size_t size;
	json_t *a;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return value_to_json(f, v);
	a = json_array();
	arr = *(char *const *)(const void *)v;
	size = rec_value_size(f);
	for (size_t i = 0; a && i < rec_count(m, f); i++)
		if (json_array_append_new(a, value_to_json(f, arr + i * size)) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

json_t *record_to_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o = json_object();

	for (unsigned i = 0; o && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!rec_field_is_set(m, f))
			continue;
		if (json_object_set_new(o, f->name, field_to_json(m, f)) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

json_t *record_json_strings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int record_json_put_string(FILE *f, const char *s)
{
	const unsigned char *c = (const unsigned char *)s;
	json_t *j;
	int rc;

	while (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\')
		c++;
	if (*c == '\0') {
		fputc_unlocked('"', f);
		fwrite_unlocked(s, 1, (size_t)((const char *)c - s), f);
		fputc_unlocked('"', f);
		return ferror(f) ? -1 : 0;
	}
	j = json_string(s);
	rc = j && json_dumpf(j, f, JSON_ENCODE_ANY) == 0 ? 0 : -1;
	json_decref(j);
	return rc;
}
