/*
 * record.h - the record types partners exchange, and their field paths.
 *
 * A record type is one of the top-level messages of proto/records.proto
 * (Referral, ReferralReply, ProgressUpdate, ConsentWithdrawal, CaseClosure).
 * A field path is a dotted list of field names from that type
 * ("subject.birth_date"); every segment but the last names a message field.
 * Everything here is driven by protobuf-c's descriptors, not written per
 * type.
 */
#ifndef ACCORD_RECORD_H
#define ACCORD_RECORD_H

#include <protobuf-c/protobuf-c.h>

#include "accord/error.h"

#define RECORD_PATH_MAX 256

/* The exchangeable record types, in the order of records.proto. */
size_t record_type_count(void);
const ProtobufCMessageDescriptor *record_type_at(size_t i);
/* Short name ("Referral") of a descriptor of ours. */
const char *record_type_name(const ProtobufCMessageDescriptor *d);
/* The type named by its short name, or NULL. */
const ProtobufCMessageDescriptor *record_type_find(const char *name);

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

#endif
