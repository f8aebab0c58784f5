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

size_t rec_utf8_char(const char *s, size_t n, uint32_t *cp)
{
	unsigned char c = (unsigned char)s[0];
	size_t k;

	*cp = c;
	if (c < 0x80)
		return c != 0;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
		*cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		*cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		*cp = c & 0x07;
	} else {
		return 0;
	}
	if (n <= k)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if (((unsigned char)s[j] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | ((unsigned char)s[j] & 0x3f);
	}
	if ((k == 2 && *cp < 0x800) || (k == 3 && *cp < 0x10000) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return 0;
	return k + 1;
}

bool record_utf8_ok(const char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k) {
		if ((unsigned char)s[i] - 1u < 0x7fu) {
			k = 1;      /* ASCII other than NUL, most of any text */
			continue;
		}
		if ((k = rec_utf8_char(s + i, n - i, &cp)) == 0)
			return false;
	}
	return true;
}

/* What the escapes below are for: JSON and the audit (text that is UTF-8),
 * a terminal (plain text), a terminal showing JSON. */
enum escape_mode { ESCAPE_UTF8, ESCAPE_TERM, ESCAPE_TERM_JSON };

/* The characters a terminal may act on instead of showing: the C0 and C1
 * controls and DEL, the bidi controls (Unicode's Bidi_Control: U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and the line and
 * paragraph separators U+2028 and U+2029. */
static bool term_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape standing for what starts at s (n > 0 bytes left) under mode,
 * written into esc, and its length; 0 when the character is kept as it is.
 * *k is the number of bytes of s it stands for. */
static size_t escape_one(const char *s, size_t n, enum escape_mode mode, char esc[6],
			 size_t *k)
{
	/* Upper case in JSON, as jansson writes its own \u escapes. */
	const char *hex = mode == ESCAPE_TERM_JSON ? "0123456789ABCDEF" : "0123456789abcdef";
	uint32_t cp;
	bool stray;

	*k = rec_utf8_char(s, n, &cp);
	stray = *k == 0;
	if (stray) {
		*k = 1;
		cp = (unsigned char)s[0];
	} else if (mode == ESCAPE_UTF8 ||
		   (mode == ESCAPE_TERM && !term_control(cp) && cp != '\\') ||
		   /* JSON has C0 controls raw only as its layout, between tokens. */
		   (mode == ESCAPE_TERM_JSON && !(term_control(cp) && cp >= 0x7f))) {
		return 0;
	}
	esc[0] = '\\';
	if (cp == '\\') {
		esc[1] = '\\';
		return 2;
	}
	if (stray || (mode == ESCAPE_TERM && cp < 0x80)) {
		esc[1] = 'x';
		esc[2] = hex[cp >> 4];
		esc[3] = hex[cp & 0xf];
		return 4;
	}
	esc[1] = 'u';
	for (int j = 0; j < 4; j++)
		esc[2 + j] = hex[(cp >> (12 - 4 * j)) & 0xf];
	return 6;
}

static size_t escape(const char *s, size_t n, enum escape_mode mode, char *out, size_t size)
{
	size_t need = 0, used = 0;
	bool full = size == 0;

	for (size_t i = 0, k; i < n; i += k) {
		char esc[6];
		size_t e = escape_one(s + i, n - i, mode, esc, &k);
		size_t len = e ? e : k;

		need += len;
		/* Whole characters and escapes only, and room for the NUL. */
		if (!full && used + len < size) {
			memcpy(out + used, e ? esc : s + i, len);
			used += len;
		} else {
			full = true;
		}
	}
	if (size)
		out[used] = '\0';
	return need;
}

size_t record_utf8_escape(const char *s, size_t n, char *out, size_t size)
{
	return escape(s, n, ESCAPE_UTF8, out, size);
}

size_t record_term_escape(const char *s, size_t n, char *out, size_t size)
{
	return escape(s, n, ESCAPE_TERM, out, size);
}

size_t record_term_escape_json(const char *s, size_t n, char *out, size_t size)
{
	return escape(s, n, ESCAPE_TERM_JSON, out, size);
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
