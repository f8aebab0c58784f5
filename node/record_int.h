/*
 * record_int.h - descriptor helpers the record module's files share.
 * Internal to the core library.
 */
#ifndef ACCORD_RECORD_INT_H
#define ACCORD_RECORD_INT_H

#include "accord/record.h"

/* The member at offset off of message m. */
#define REC_MEMBER(type, m, off) (*(type *)(void *)((char *)(m) + (off)))

/* Size in bytes of one value of a field's type (a pointer for strings and
 * messages, a ProtobufCBinaryData for bytes). */
size_t rec_value_size(const ProtobufCFieldDescriptor *f);

/* Whether m has field f set: a repeated field with elements, the chosen
 * member of a oneof, a present message, non-empty string or bytes, a
 * non-zero scalar (proto3), or a proto2/optional field with its has_ flag. */
bool rec_field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Element count of a repeated field (its quantifier). */
static inline size_t rec_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return REC_MEMBER(size_t, m, f->quantifier_offset);
}

/* A fresh, initialised message of type d (malloc), or NULL. */
ProtobufCMessage *rec_message_new(const ProtobufCMessageDescriptor *d);

/* Mark field f of m present: set a oneof's case or a has_ flag. */
void rec_mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* A path being walked, for messages: "$.subject.identifiers[1]" or
 * "subject.identifiers". Push returns the length to pop back to; a path
 * too long for buf is cut short, never overrun. */
typedef struct rec_path {
	char buf[RECORD_PATH_MAX * 2];
	size_t len;
} rec_path;

/* Append sep then name; append "[i]". Both are on every field of every
 * record parsed or minimised, so they copy bytes rather than format. */
size_t rec_path_push(rec_path *p, const char *sep, const char *name);
size_t rec_path_push_index(rec_path *p, size_t i);
void rec_path_pop(rec_path *p, size_t old);

/* The length (1 to 4) of the UTF-8 character at s (n > 0 bytes left), and
 * its code point in *cp; or 0 when none starts there: NUL, a stray
 * continuation byte, an overlong form, a surrogate, a value past U+10FFFF
 * or a sequence cut short. */
size_t rec_utf8_char(const char *s, size_t n, uint32_t *cp);

/* "a, b, c" of d's field names into out, cut short if it does not fit. */
void rec_field_names(const ProtobufCMessageDescriptor *d, char *out, size_t size);

#endif
