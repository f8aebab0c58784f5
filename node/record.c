/* record.c - record types and field paths, by descriptor. */
#include "records.pb-c.h"

#include "accord/record.h"

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

/* "a, b, c" of the field names of d, for error messages. */
static void field_names(const ProtobufCMessageDescriptor *d, char *out, size_t size)
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
			field_names(d, names, sizeof names);
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
