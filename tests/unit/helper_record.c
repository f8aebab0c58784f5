/* helper_record.c - the example protocol and records, for the tests. */
#include <jansson.h>

#include "accord/fs.h"
#include "helper.h"

char *th_src_file(const char *rel, size_t *len)
{
	const char *src = getenv("SRCDIR");
	char path[4096];
	char *buf;
	accord_error e = { 0 };

	assert_true(snprintf(path, sizeof path, "%s/%s", src ? src : ".", rel) <
		    (int)sizeof path);
	if (fs_read_file(path, 4 * 1024 * 1024, &buf, len, &e) != 0)
		fail_msg("test setup: %s", accord_error_msg(&e));
	return buf;
}

void th_example(protocol **p, protocol_sigs **s)
{
	const char *src = getenv("SRCDIR");
	char path[4096];
	protocol_diags d;

	assert_true(snprintf(path, sizeof path, "%s/policies/examples/eastshire.yaml",
			     src ? src : ".") < (int)sizeof path);
	if (protocol_load(path, p, &d) != 0)
		fail_msg("test setup: %s: %s", path, d.count ? d.items[0].msg : "?");
	if (protocol_sigs_load(*p, path, s, &d) != 0)
		fail_msg("test setup: %s.sig: %s", path, d.count ? d.items[0].msg : "?");
}

ProtobufCMessage *th_record(const char *type, const char *json)
{
	const ProtobufCMessageDescriptor *d = record_type_find(type);
	ProtobufCMessage *m = NULL;
	accord_error e = { 0 };

	if (!d)
		d = protobuf_c_message_descriptor_get_field_by_name(
			record_type_find("Referral"), "consent")->descriptor;
	if (record_from_json_text(d, json, strlen(json), &m, &e) != 0)
		fail_msg("test setup: %s: %s", type, accord_error_msg(&e));
	return m;
}

ProtobufCMessage *th_example_referral(void)
{
	size_t len;
	char *text = th_src_file("policies/examples/referral.json", &len);
	ProtobufCMessage *m = th_record("Referral", text);

	free(text);
	return m;
}

ProtobufCMessage *th_repack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	ProtobufCMessage *back = NULL;
	accord_error e = { 0 };

	assert_non_null(buf);
	protobuf_c_message_pack(m, buf);
	if (record_unpack(m->descriptor, buf, len, &back, &e) != 0)
		fail_msg("repack: %s", accord_error_msg(&e));
	free(buf);
	return back;
}

void th_assert_json(const ProtobufCMessage *m, const char *want)
{
	json_t *got = record_to_json(m), *w = json_loads(want, 0, NULL);
	char *g;

	assert_non_null(w);
	if (json_equal(got, w)) {
		json_decref(got);
		json_decref(w);
		return;
	}
	g = json_dumps(got, JSON_COMPACT);
	fail_msg("got %s, wanted %s", g ? g : "(nothing)", want);
}
