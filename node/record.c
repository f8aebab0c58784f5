/* record.c - record types, field paths and unpacking, by descriptor. */
#include "records.pb-c.h"

#include "accord/record.h"
#include "record_int.h"

static const ProtobufCMessageDescriptor *const types[] = {
	&accord__records__referral__descriptor,
	&accord__records__referral_reply__descriptor,
	&accord__records__progress_update__descriptor,
	&accord__records__consent_withdrawal__descriptor,
	&accord__records__case_closure__descriptor,
};

size_t record_type_count(void)
{
	return sizeof types / sizeof types[0];
}

const ProtobufCMessageDescriptor *record_type_at(size_t i)
{
	return i < record_type_count() ? types[i] : NULL;
}

const char *record_type_name(const ProtobufCMessageDescriptor *d)
{
	return d->short_name;
}

const ProtobufCMessageDescriptor *record_type_find(const char *name)
{
	for (size_t i = 0; i < record_type_count(); i++)
		if (strcmp(types[i]->short_name, name) == 0)
			return types[i];
	return NULL;
}

/* The results of a person's risk and needs assessment stay with the
 * agency that made them, whatever a protocol says. */
static const char *const builtin_never_share[] = { "Referral.risk_assessment" };

size_t record_never_share_builtin_count(void)
{
	return sizeof builtin_never_share / sizeof builtin_never_share[0];
}

const char *record_never_share_builtin_at(size_t i)
{
	return i < record_never_share_builtin_count() ? builtin_never_share[i] : NULL;
}

const char *record_never_share_match(const ProtobufCMessageDescriptor *d, const char *path,
				     const char *const *never, size_t n_never)
{
	size_t tl = strlen(d->short_name);
	size_t nb = record_never_share_builtin_count();

	for (size_t i = 0; i < n_never + nb; i++) {
		const char *e = i < n_never ? never[i] : builtin_never_share[i - n_never];

		if (strncmp(e, d->short_name, tl) != 0 || e[tl] != '.')
			continue;
		if (record_path_within(path, e + tl + 1) || record_path_within(e + tl + 1, path))
			return e;
	}
	return NULL;
}

/* "a, b, c" of the field names of d, for error messages. */
void rec_field_names(const ProtobufCMessageDescriptor *d, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < d->n_fields; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "",
				 d->fields[i].name);

		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

int record_path_resolve(const ProtobufCMessageDescriptor *d, const char *path,
			const ProtobufCFieldDescriptor **field, accord_error *e)
{
	const ProtobufCFieldDescriptor *f = NULL;
	const char *seg = path;
	char names[400];

	if (!*path || strlen(path) >= RECORD_PATH_MAX)
		return accord_fail(e, ACCORD_EINVAL, "field path '%s' is empty or too long",
				   path);
	while (*seg) {
		const char *dot = strchr(seg, '.');
		size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
		char name[RECORD_PATH_MAX];

		if (n == 0 || (dot && dot[1] == '\0'))
			return accord_fail(e, ACCORD_EINVAL,
					   "field path '%s' has an empty segment", path);
		if (f) {
			if (f->type != PROTOBUF_C_TYPE_MESSAGE)
				return accord_fail(e, ACCORD_ENOTFOUND,
						   "field path '%s': '%.*s' is not a message, so "
						   "it has no field '%.*s'", path,
						   (int)(seg - path - 1), path, (int)n, seg);
			d = f->descriptor;
		}
		memcpy(name, seg, n);
		name[n] = '\0';
		f = protobuf_c_message_descriptor_get_field_by_name(d, name);
		if (!f) {
			rec_field_names(d, names, sizeof names);
			return accord_fail(e, ACCORD_ENOTFOUND,
					   "field path '%s': %s has no field '%s' (its fields: %s)",
					   path, d->short_name, name, names);
		}
		seg += n + (dot ? 1 : 0);
	}
	if (field)
		*field = f;
	return 0;
}

bool record_path_within(const char *path, const char *outer)
{
	size_t n = strlen(outer);

	return strncmp(path, outer, n) == 0 && (path[n] == '\0' || path[n] == '.');
}

int record_unpack(const ProtobufCMessageDescriptor *d, const void *buf, size_t len,
		  ProtobufCMessage **out, accord_error *e)
{
	ProtobufCMessage *m;

	/* The cap comes first: protobuf-c trusts the lengths inside the bytes
	 * only as far as len, but len itself is ours to bound. */
	if (len > RECORD_MAX_BYTES)
		return accord_fail(e, ACCORD_ETOOBIG, "a %s record of %zu bytes is larger "
				   "than the limit of %zu bytes", d->short_name, len,
				   RECORD_MAX_BYTES);
	m = protobuf_c_message_unpack(d, NULL, len, buf);
	if (!m)
		return accord_fail(e, ACCORD_EPARSE, "the %zu bytes received are not a "
				   "valid %s record", len, d->short_name);
	*out = m;
	return 0;
}

void record_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* --- descriptor helpers (record_int.h) ---------------------------------- */

size_t rec_value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	abort(); /* a descriptor protoc-c made has no other type */
}

bool rec_field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *v = (const char *)m + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return rec_count(m, f) > 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return REC_MEMBER(uint32_t, m, f->quantifier_offset) == f->id;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)(const void *)v != NULL;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)(const void *)v;

		if (f->label == PROTOBUF_C_LABEL_NONE)
			return s && *s;
		return s && s != f->default_value;
	}
	default:
		break;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return REC_MEMBER(protobuf_c_boolean, m, f->quantifier_offset);
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (f->type == PROTOBUF_C_TYPE_BYTES)
		return ((const ProtobufCBinaryData *)(const void *)v)->len > 0;
	for (size_t i = 0; i < rec_value_size(f); i++)
		if (v[i])
			return true;
	return false;
}

ProtobufCMessage *rec_message_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m)
		protobuf_c_message_init(d, m);
	return m;
}

void rec_mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		REC_MEMBER(uint32_t, m, f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
		REC_MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
}

/* Append n bytes of s, cut short at the buffer's end. */
static void path_append(rec_path *p, const char *s, size_t n)
{
	size_t room = sizeof p->buf - 1 - p->len;

	if (n > room)
		n = room;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

size_t rec_path_push(rec_path *p, const char *sep, const char *name)
{
	size_t old = p->len;

	path_append(p, sep, strlen(sep));
	path_append(p, name, strlen(name));
	return old;
}

size_t rec_path_push_index(rec_path *p, size_t i)
{
	char digits[24];
	size_t k = sizeof digits, old = p->len;

	digits[--k] = ']';
	do {
		digits[--k] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	digits[--k] = '[';
	path_append(p, digits + k, sizeof digits - k);
	return old;
}

void rec_path_pop(rec_path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

/* The length (1 to 4) of the UTF-8 character at s (n > 0 bytes left), or
 * 0 when none starts there: NUL, a stray continuation byte, an overlong
 * form, a surrogate, a value past U+10FFFF or a sequence cut short. */
static size_t utf8_char(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t k;
	uint32_t cp;

	if (c < 0x80)
		return c != 0;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n <= k)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if (((unsigned char)s[j] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | ((unsigned char)s[j] & 0x3f);
	}
	if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return k + 1;
}

bool record_utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if ((k = utf8_char(s + i, n - i)) == 0)
			return false;
	return true;
}

size_t record_utf8_escape(const char *s, size_t n, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t need = 0, used = 0;
	bool full = size == 0;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_char(s + i, n - i);
		const char esc[4] = { '\\', 'x', hex[(unsigned char)s[i] >> 4],
				      hex[(unsigned char)s[i] & 0xf] };
		size_t len = k ? k : sizeof esc;

		need += len;
		/* Whole characters and escapes only, and room for the NUL. */
		if (!full && used + len < size) {
			memcpy(out + used, k ? s + i : esc, len);
			used += len;
		} else {
			full = true;
		}
		i += k ? k : 1;
	}
	if (size)
		out[used] = '\0';
	return need;
}

const ProtobufCFieldDescriptor *record_bad_text(const ProtobufCMessage *m, const char **text)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *const *v = (char *const *)(const void *)((const char *)m + f->offset);
		size_t count = 1;

		if (f->type != PROTOBUF_C_TYPE_STRING || !rec_field_is_set(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			count = rec_count(m, f);
			v = *(char *const *const *)v;
		}
		for (size_t j = 0; j < count; j++)
			if (v[j] && !record_utf8_ok(v[j], strlen(v[j]))) {
				*text = v[j];
				return f;
			}
	}
	return NULL;
}
