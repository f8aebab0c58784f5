/*
 * record_wire.c - whether a message protobuf-c unpacked is all that was on
 * the wire. protobuf-c keeps no wire lengths, so the detector is packing
 * the message again, compared byte for byte against what arrived as it is
 * written (no copy). When they differ, a walk of the bytes received, by
 * descriptor, looks for a string field holding a NUL byte, the one loss a
 * well-meaning peer could cause, to name it.
 */
#include "accord/record.h"
#include "record_int.h"

/* Deeper than any record type nests; the walk gives up past it. */
#define WIRE_MAX_DEPTH 32

/* A ProtobufCBuffer that compares what is packed into it with want. */
struct same {
	ProtobufCBuffer base;
	const uint8_t *want;
	size_t len, at;
	bool differs;
};

static void same_append(ProtobufCBuffer *b, size_t n, const uint8_t *data)
{
	struct same *s = (struct same *)(void *)b;

	if (s->differs || n == 0)
		return;
	if (n > s->len - s->at || memcmp(s->want + s->at, data, n) != 0)
		s->differs = true;
	else
		s->at += n;
}

/* The varint at *p, below end; false when it runs past end or 10 bytes. */
static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *p < end && shift < 70; shift += 7) {
		uint8_t c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/* Skip the value of wire type wt at *p; false for a type or length that
 * does not fit (protobuf-c unpacked these bytes, so none should). */
static bool wire_skip(const uint8_t **p, const uint8_t *end, unsigned wt, uint64_t *len)
{
	size_t fixed = wt == 1 ? 8 : 4;

	*len = 0;
	if (wt == 0)
		return wire_varint(p, end, len);
	if (wt == 2)
		return wire_varint(p, end, len) && *len <= (uint64_t)(end - *p);
	if ((wt != 1 && wt != 5) || fixed > (size_t)(end - *p))
		return false;
	*p += fixed;
	return true;
}

/* Whether the len bytes at buf, a message of type d, have a string field
 * (at any depth) holding a NUL byte; its path from the top is left in path. */
static bool nul_field(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		      int depth, rec_path *path)
{
	const uint8_t *p = buf, *end = buf + len;

	while (p < end) {
		const ProtobufCFieldDescriptor *f;
		uint64_t key, n;
		size_t old;

		if (!wire_varint(&p, end, &key) || !wire_skip(&p, end, (unsigned)(key & 7), &n))
			return false;
		if ((key & 7) != 2)
			continue;
		f = (key >> 3) <= UINT32_MAX ?
		    protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
		if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)n)) {
			rec_path_push(path, path->len ? "." : "", f->name);
			return true;
		}
		if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < WIRE_MAX_DEPTH) {
			old = rec_path_push(path, path->len ? "." : "", f->name);
			if (nul_field(f->descriptor, p, (size_t)n, depth + 1, path))
				return true;
			rec_path_pop(path, old);
		}
		p += n;
	}
	return false;
}

int record_exact(const ProtobufCMessage *m, const void *buf, size_t len, const char *what,
		 accord_error *e)
{
	struct same s = { .base.append = same_append, .want = buf, .len = len };
	rec_path path = { .len = 0 };

	if (protobuf_c_message_get_packed_size(m) == len) {
		protobuf_c_message_pack_to_buffer(m, &s.base);
		if (!s.differs && s.at == len)
			return 0;
	}
	if (nul_field(m->descriptor, buf, len, 0, &path))
		return accord_fail(e, ACCORD_EPARSE, "%s's field '%s' holds a NUL byte", what,
				   path.buf);
	return accord_fail(e, ACCORD_EPARSE, "%s does not re-encode to the bytes received: "
			   "they hold what protobuf-c never writes (a field twice or out of "
			   "order, a default value written out, a number too long or out of "
			   "range)", what);
}
