/*
 * record.h - the record types partners exchange: field paths, unpacking
 * under a size cap (and the check that nothing was lost unpacking, for any
 * message from outside), minimisation, the check on receipt and the JSON
 * form.
 *
 * A record type is one of the top-level messages of proto/records.proto
 * (Referral, ReferralReply, ProgressUpdate, ConsentWithdrawal, CaseClosure).
 * A field path is a dotted list of field names from that type
 * ("subject.birth_date"); every segment but the last names a message field.
 * Inside a repeated message field a path names that field of every element
 * ("needs.status"). Everything here is driven by protobuf-c's descriptors,
 * not written per type.
 *
 * Memory: every message this module hands out (record_unpack,
 * record_minimise, record_from_json*) is laid out as protobuf-c's unpacker
 * lays out its own: the message and everything under it (sub-messages,
 * arrays, strings, bytes) allocated separately with malloc, strings that
 * are empty left pointing at protobuf_c_empty_string. So each is freed,
 * whole, by record_free (protobuf_c_message_free_unpacked with the default
 * allocator). Code that builds a message by hand for these functions to
 * read may lay it out however it likes; code that hands such a message to
 * record_free must follow the same rule.
 */
#ifndef ACCORD_RECORD_H
#define ACCORD_RECORD_H

#include <protobuf-c/protobuf-c.h>

#include "accord/error.h"

#define RECORD_PATH_MAX 256
#define RECORD_MAX_BYTES ((size_t)256 * 1024)        /* a packed record, at most */
#define RECORD_JSON_MAX_BYTES ((size_t)1024 * 1024)  /* a record's JSON text, at most */
#define RECORD_JSON_MAX_DEPTH 16             /* nesting of JSON objects/arrays */
#define RECORD_MAX_REPEATED 1000             /* elements of one repeated field */
#define RECORD_MAX_WITHHELD 128              /* paths record_minimise reports */

/* The exchangeable record types, in the order of records.proto. */
size_t record_type_count(void);
const ProtobufCMessageDescriptor *record_type_at(size_t i);
/* Short name ("Referral") of a descriptor of ours. */
const char *record_type_name(const ProtobufCMessageDescriptor *d);
/* The type named by its short name, or NULL. */
const ProtobufCMessageDescriptor *record_type_find(const char *name);

/* Fields never shared whatever a protocol says, as "Type.path": the
 * results of a person's risk and needs assessment. */
size_t record_never_share_builtin_count(void);
const char *record_never_share_builtin_at(size_t i);

/* The never-share entry ("Type.path", from never or the built-in list)
 * that path of type d is, lies within or contains; NULL when none. */
const char *record_never_share_match(const ProtobufCMessageDescriptor *d, const char *path,
				     const char *const *never, size_t n_never);

/*
 * Resolve path within type d. On success *field (may be NULL) is the last
 * field's descriptor. On failure returns ACCORD_ENOTFOUND (or
 * ACCORD_EINVAL for a malformed path) and fills e with which segment was
 * wrong and which names were possible there.
 */
int record_path_resolve(const ProtobufCMessageDescriptor *d, const char *path,
			const ProtobufCFieldDescriptor **field, accord_error *e)
	ACCORD_MUST_CHECK;

/* True when path is inner itself or lies under it ("subject.x" under
 * "subject"). */
bool record_path_within(const char *path, const char *outer);

/*
 * Unpack len bytes as a message of type d. The length is checked against
 * RECORD_MAX_BYTES before protobuf-c sees the bytes (ACCORD_ETOOBIG);
 * bytes that are not a d return ACCORD_EPARSE. Unknown fields are kept
 * (record_check refuses them). *out is freed with record_free.
 */
int record_unpack(const ProtobufCMessageDescriptor *d, const void *buf, size_t len,
		  ProtobufCMessage **out, accord_error *e) ACCORD_MUST_CHECK;

/* Free a message of this module (see "Memory" above); NULL is fine. */
void record_free(ProtobufCMessage *m);

/*
 * A selection: a rule's field paths compiled once over the descriptors, so
 * minimising and checking never parse a path again.
 */
typedef struct record_selection record_selection;

/*
 * Compile n field paths of type d. never (n_never entries, may be 0) lists
 * further "Type.path" fields that may not be selected; the built-in ones
 * always apply. Fails with ACCORD_ENOTFOUND / ACCORD_EINVAL for a path
 * that does not resolve, ACCORD_EREFUSED for a path that is, lies within
 * or contains a never-share field, ACCORD_EINVAL for paths that overlap,
 * ACCORD_ENOMEM. Free with record_selection_free (accepts NULL).
 */
int record_selection_new(const ProtobufCMessageDescriptor *d,
			 const char *const *paths, size_t n,
			 const char *const *never, size_t n_never,
			 record_selection **out, accord_error *e) ACCORD_MUST_CHECK;
void record_selection_free(record_selection *s);
const ProtobufCMessageDescriptor *record_selection_type(const record_selection *s);

/* Field paths a minimisation left out. The strings belong to the
 * selection and live as long as it does. */
typedef struct record_withheld {
	size_t n;
	bool truncated;           /* more than RECORD_MAX_WITHHELD */
	const char *paths[RECORD_MAX_WITHHELD];
} record_withheld;

/*
 * Minimise: a fresh message (*out, record_free it) holding only the
 * selected fields of src: nested and repeated messages copied as far as
 * the selection reaches, a oneof with its case, strings and bytes copied.
 * withheld (may be NULL) receives, in field order, the path of each field
 * src has set that the selection leaves out: the shortest such path
 * ("risk_assessment", not "risk_assessment.level"). src must be of the
 * selection's type (ACCORD_EINVAL). ACCORD_ENOMEM on allocation failure,
 * with nothing left allocated.
 */
int record_minimise(const record_selection *s, const ProtobufCMessage *src,
		    ProtobufCMessage **out, record_withheld *withheld,
		    accord_error *e) ACCORD_MUST_CHECK;

/*
 * The check on receipt: m may carry only what the selection allows.
 * Returns 0, or ACCORD_EREFUSED with e naming the first problem: a record
 * of another type, a set field outside the selection ("the record carries
 * 'risk_assessment', which the rule does not share"), an unknown field
 * (by number and where), or an enum value its type does not define.
 * Nothing is stripped: a record that fails is refused whole.
 */
int record_check(const record_selection *s, const ProtobufCMessage *m,
		 accord_error *e) ACCORD_MUST_CHECK;

/*
 * Text. Whether n bytes of s are UTF-8 without NUL, overlong forms or
 * surrogates: what a JSON string and a proto3 string may hold. protobuf-c
 * does not check this when it unpacks; record_check does for a record.
 */
bool record_utf8_ok(const char *s, size_t n);

/*
 * n bytes of s as text that is always UTF-8: its characters as they are,
 * every byte that starts none (NUL, a stray continuation byte, an overlong
 * form, a surrogate, a sequence cut short) as the four characters \xNN in
 * lower-case hex. A backslash in s stays as it is, so only record_utf8_ok
 * tells whether the result is s itself. Writes into out (size bytes, the
 * NUL included; out may be NULL when size is 0), cut short before a
 * character or escape that would not fit, and returns the length of the
 * whole result without the NUL, as snprintf does.
 */
size_t record_utf8_escape(const char *s, size_t n, char *out, size_t size);

/*
 * n bytes of s as a terminal may be given them: text from partners and
 * from the audit log, shown for people to read (never for JSON, CSV or
 * the audit itself, which keep the text as it is). Valid UTF-8 can still
 * move the cursor, retitle the window or reorder a line, so these are
 * written visibly instead:
 *   - a byte record_utf8_escape escapes, a C0 control (tab and newline
 *     too) and DEL: \xNN, as "\x1b" for ESC;
 *   - a C1 control (U+0080..U+009F), a bidi control (U+061C, U+200E,
 *     U+200F, U+202A..U+202E, U+2066..U+2069) and the line and paragraph
 *     separators U+2028, U+2029: \uNNNN, as "\u202e";
 *   - a backslash: \\, so that every backslash in the result starts one
 *     of these escapes and the text can be read back exactly.
 * Every other character, accented letters and other scripts too, is kept.
 * out, size and the result as for record_utf8_escape.
 */
size_t record_term_escape(const char *s, size_t n, char *out, size_t size);

/*
 * The same for JSON text shown on a terminal (as jansson writes it: UTF-8,
 * C0 controls escaped inside strings, raw only as the layout between
 * tokens, which is kept): DEL, the C1 and bidi controls and the separators
 * above, which JSON lets stand as they are, are written as \uNNNN
 * (upper-case hex, as jansson writes its own), and the rest is kept. A
 * JSON reader reads the same value.
 */
size_t record_term_escape_json(const char *s, size_t n, char *out, size_t size);

/*
 * The first string field of m whose text is not UTF-8, and that text in
 * *text; NULL when there is none. Only m's own fields (a repeated one
 * element by element), not those of messages under it: for messages that
 * record_check does not read, such as an Envelope.
 */
const ProtobufCFieldDescriptor *record_bad_text(const ProtobufCMessage *m, const char **text);

/*
 * Whether m, which protobuf-c unpacked from the len bytes at buf, is all
 * that was in them: m must pack back to exactly those bytes. protobuf-c
 * ends a string at its first NUL byte and drops the rest ("police\0junk"
 * reads as "police"), so a message from outside that fails this is not
 * what was sent, and nothing in it may be checked, audited or stored as
 * if it were. Bytes protobuf-c never writes (a field twice or out of
 * order, a default value written out, an overlong number) fail too: every
 * node packs with protobuf-c, so a peer's messages never hold them. For
 * messages that come from outside the process; the node's own stored
 * messages are read without it.
 *
 * Returns 0, or ACCORD_EPARSE with e naming, when it can, the string field
 * that holds a NUL byte by its path ("the record's field
 * 'subject.given_name' holds a NUL byte"), or else saying that the
 * message does not re-encode to the bytes received; what ("the record")
 * names the message in that sentence.
 */
int record_exact(const ProtobufCMessage *m, const void *buf, size_t len, const char *what,
		 accord_error *e) ACCORD_MUST_CHECK;

/*
 * JSON. A record's JSON is one object whose keys are the field names of
 * the .proto. Strings are JSON strings; bytes are base64 strings; bools are
 * true/false; enums are their value names ("PRIORITY"), never numbers;
 * 32- and 64-bit integers are JSON integers (a number with no fraction:
 * 7 or 7.0; 64-bit ones only up to 2^53 either way, the integers a JSON
 * number keeps exactly); float and double are JSON numbers; a message is
 * an object; a repeated field is an array. Fields at their default (empty,
 * zero, absent) are left out when writing. Reading refuses, with a JSON
 * path like $.subject.identifiers[1].value and what was wrong: unknown
 * keys, a key given twice, values of the wrong type, null, enum names the
 * type does not define, numbers out of range, two members of one oneof,
 * more than RECORD_MAX_REPEATED elements, nesting deeper than
 * RECORD_JSON_MAX_DEPTH and text longer than RECORD_JSON_MAX_BYTES.
 * Errors: ACCORD_EPARSE (not JSON, or a key twice), ACCORD_EINVAL (not a
 * d), ACCORD_ETOOBIG, ACCORD_ENOMEM.
 *
 * Records are read with cJSON (json_t, jansson's, is for writing).
 * record_json_parse reads a whole JSON text of len bytes, refusing what
 * RFC 8259 refuses and cJSON alone would take (bytes that are not UTF-8,
 * control characters, the escape \u0000, numbers such as 01), anything
 * after the value, and arrays and objects nested more than 64 deep:
 * 0 with a new tree in *out (cJSON_Delete it), or ACCORD_EPARSE with e
 * saying where and why ("not valid JSON at line 3, column 14: string or
 * '}' expected, at 'consent: ...'"; text cJSON refuses is read again with
 * jansson, for its reason and place), or ACCORD_ENOMEM. It installs, once,
 * cJSON allocation hooks that note a failure (cJSON_InitHooks; they call
 * malloc and free). cJSON keeps its last parse error in a global, so parse
 * on one thread at a time.
 */
typedef struct cJSON cJSON;
typedef struct json_t json_t;

int record_json_parse(const char *text, size_t len, cJSON **out, accord_error *e)
	ACCORD_MUST_CHECK;
int record_from_json(const ProtobufCMessageDescriptor *d, const cJSON *j,
		     ProtobufCMessage **out, accord_error *e) ACCORD_MUST_CHECK;
int record_from_json_text(const ProtobufCMessageDescriptor *d, const char *text,
			  size_t len, ProtobufCMessage **out, accord_error *e)
	ACCORD_MUST_CHECK;

/* m as a new JSON object (json_decref it), or NULL when out of memory,
 * when a string is not UTF-8 or a uint64 is above 2^63-1 (record_check
 * refuses the first; no record type has the second). Enum values the type
 * does not define are written as numbers. */
json_t *record_to_json(const ProtobufCMessage *m);

/* A JSON array of n strings (field paths, ids): a new value, or NULL when
 * out of memory or a string is not UTF-8. */
json_t *record_json_strings(const char *const *v, size_t n);

/* s written on f as a JSON string: copied as it is when it holds only
 * printable ASCII other than '"' and '\\' (field paths and ids do),
 * else escaped by jansson. 0, or -1 when s is not UTF-8 or f failed. */
int record_json_put_string(FILE *f, const char *s);

#endif
