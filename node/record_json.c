/*
 * record_json.c - records as JSON and back, by descriptor (record.h says
 * what the JSON looks like). Errors name the JSON path of the value that
 * was wrong, so a case-management system's developer can find it.
 */
#include <jansson.h>

#include "accord/crypto.h"
#include "accord/record.h"
#include "record_int.h"

/* Reading state: where we are, as a JSON path ("$.subject.identifiers[1]"). */
struct jctx {
	rec_path at;
	accord_error *e;
};

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: break;
	}
	return "null";
}

static int wrong_type(struct jctx *c, const char *want, const json_t *j)
{
	return accord_fail(c->e, ACCORD_EINVAL, "%s: expected %s, got %s%s", c->at.buf,
			   want, json_kind(j), json_is_null(j) ?
			   " (leave a field out to give it no value)" : "");
}

static int msg_from_json(struct jctx *c, const ProtobufCMessageDescriptor *d,
			 const json_t *j, int depth, ProtobufCMessage **out);

static int int_from_json(struct jctx *c, const json_t *j, json_int_t lo, json_int_t hi,
			 json_int_t *v)
{
	if (!json_is_integer(j))
		return wrong_type(c, "an integer", j);
	*v = json_integer_value(j);
	if (*v < lo || *v > hi)
		return accord_fail(c->e, ACCORD_EINVAL, "%s: %lld is out of range "
				   "(%lld to %lld)", c->at.buf, (long long)*v,
				   (long long)lo, (long long)hi);
	return 0;
}

static int enum_from_json(struct jctx *c, const ProtobufCEnumDescriptor *ed,
			  const json_t *j, int32_t *out)
{
	const ProtobufCEnumValue *v;
	char names[400] = "";
	size_t used = 0;
	char want[128];

	if (!json_is_string(j)) {
		snprintf(want, sizeof want, "a %s name as a string", ed->short_name);
		return wrong_type(c, want, j);
	}
	v = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
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
			   c->at.buf, json_string_value(j), ed->short_name, names);
}

static int bytes_from_json(struct jctx *c, const json_t *j, ProtobufCBinaryData *b)
{
	size_t n;

	if (!json_is_string(j))
		return wrong_type(c, "a base64 string", j);
	n = json_string_length(j);
	b->len = 0;
	b->data = NULL;
	if (n == 0)
		return 0;
	b->data = malloc(n / 4 * 3 + 3);
	if (!b->data)
		return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
	if (crypto_b64_decode(json_string_value(j), b->data, n / 4 * 3 + 3, &b->len) != 0) {
		free(b->data);
		b->data = NULL;
		return accord_fail(c->e, ACCORD_EINVAL, "%s: expected padded base64, got "
				   "a string that is not", c->at.buf);
	}
	return 0;
}

/* One value of field f from j into slot (rec_value_size(f) bytes). */
static int value_from_json(struct jctx *c, const ProtobufCFieldDescriptor *f,
			   const json_t *j, int depth, void *slot)
{
	json_int_t v;
	int rc;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(j))
			return wrong_type(c, "a string", j);
		*(char **)slot = strndup(json_string_value(j), json_string_length(j));
		if (!*(char **)slot)
			return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_from_json(c, j, slot);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return wrong_type(c, "true or false", j);
		*(protobuf_c_boolean *)slot = json_is_true(j);
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
		if (!json_is_number(j))
			return wrong_type(c, "a number", j);
		*(float *)slot = (float)json_number_value(j);
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(j))
			return wrong_type(c, "a number", j);
		*(double *)slot = json_number_value(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return enum_from_json(c, f->descriptor, j, slot);
	case PROTOBUF_C_TYPE_MESSAGE:
		return msg_from_json(c, f->descriptor, j, depth + 1, slot);
	}
	abort(); /* a descriptor protoc-c made has no other type */
}

static int repeated_from_json(struct jctx *c, ProtobufCMessage *m,
			      const ProtobufCFieldDescriptor *f, const json_t *j, int depth)
{
	size_t n, size = rec_value_size(f);
	char *arr;

	if (!json_is_array(j))
		return wrong_type(c, "an array", j);
	n = json_array_size(j);
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
	for (size_t i = 0; i < n; i++) {
		size_t old = rec_path_push_index(&c->at, i);
		int rc = value_from_json(c, f, json_array_get(j, i), depth + 1, arr + i * size);

		if (rc != 0)
			return rc;
		rec_path_pop(&c->at, old);
		REC_MEMBER(size_t, m, f->quantifier_offset) = i + 1;
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
			   const ProtobufCFieldDescriptor *f, const json_t *val, int depth)
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
			 const json_t *j, int depth, ProtobufCMessage **out)
{
	ProtobufCMessage *m;
	const char *key;
	json_t *val;

	*out = NULL;
	if (!json_is_object(j)) {
		char want[128];

		snprintf(want, sizeof want, "an object (a %s)", d->short_name);
		return wrong_type(c, want, j);
	}
	if (depth > RECORD_JSON_MAX_DEPTH)
		return accord_fail(c->e, ACCORD_ETOOBIG, "%s: nested deeper than %d levels",
				   c->at.buf, RECORD_JSON_MAX_DEPTH);
	m = rec_message_new(d);
	if (!m)
		return accord_fail(c->e, ACCORD_ENOMEM, "out of memory");
	json_object_foreach((json_t *)j, key, val) {
		const ProtobufCFieldDescriptor *f;
		size_t old = rec_path_push(&c->at, ".", key);
		int rc;

		f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		if (!f) {
			char names[400];

			rec_field_names(d, names, sizeof names);
			rc = accord_fail(c->e, ACCORD_EINVAL, "%s: %s has no field '%s' "
					 "(its fields: %s)", c->at.buf, d->short_name, key, names);
		} else {
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

int record_from_json(const ProtobufCMessageDescriptor *d, const json_t *j,
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

/*
 * jansson's lexer ignores a failure to grow its string buffer and drops the
 * character instead, so under memory pressure a date like 2026-11-02 can
 * come out as 2026-1102 with no error. Parsing therefore goes through an
 * allocator that notes any failure, and a parse that saw one is refused.
 */
static _Thread_local bool jansson_alloc_failed;
static json_malloc_t jansson_next_malloc;

static void *noting_malloc(size_t n)
{
	void *p = jansson_next_malloc(n);

	if (!p)
		jansson_alloc_failed = true;
	return p;
}

static json_t *load_noting_failure(const char *text, size_t len, json_error_t *jerr,
				   bool *oom)
{
	json_malloc_t m;
	json_free_t f;
	json_t *j;

	json_get_alloc_funcs(&m, &f);
	if (m != noting_malloc) {
		jansson_next_malloc = m;
		json_set_alloc_funcs(noting_malloc, f);
	}
	jansson_alloc_failed = false;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, jerr);
	*oom = jansson_alloc_failed;
	if (*oom) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

int record_from_json_text(const ProtobufCMessageDescriptor *d, const char *text,
			  size_t len, ProtobufCMessage **out, accord_error *e)
{
	json_error_t jerr;
	json_t *j;
	bool oom;
	int rc;

	if (len > RECORD_JSON_MAX_BYTES)
		return accord_fail(e, ACCORD_ETOOBIG, "the JSON text is %zu bytes, more "
				   "than the limit of %zu", len, RECORD_JSON_MAX_BYTES);
	j = load_noting_failure(text, len, &jerr, &oom);
	if (oom)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory reading the JSON text");
	if (!j)
		return accord_fail(e, ACCORD_EPARSE, "not valid JSON at line %d, column "
				   "%d: %s", jerr.line, jerr.column, jerr.text);
	rc = record_from_json(d, j, out, e);
	json_decref(j);
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
