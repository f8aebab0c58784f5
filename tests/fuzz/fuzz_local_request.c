/* fuzz_local_request.c - libFuzzer target: the body of the local API's
 * POST /v1/disclosures, parsed as node_submit does up to the decision. */
#include <cJSON.h>

#include "../../node/node_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *req = NULL;
	struct node_submit_req s = { 0 };
	accord_error e = { 0 };
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *rec = NULL;

	if (record_json_parse((const char *)data, size, &req, &e) != 0) {
		if (!e.msg[0] || req)
			__builtin_trap();
		return 0;
	}
	if (node_submit_parse(req, &s, &e) != 0) {
		if (!e.msg[0])
			__builtin_trap(); /* every refusal must say why */
		goto out;
	}
	if (!s.to || !s.purpose || !s.type || !s.actor || !cJSON_IsObject(s.record))
		__builtin_trap();
	d = record_type_find(s.type);
	if (!d)
		goto out;
	if (record_from_json(d, s.record, &rec, &e) != 0) {
		if (!e.msg[0] || rec)
			__builtin_trap();
		goto out;
	}
	if (rec->descriptor != d)
		__builtin_trap();
	record_free(rec);
out:
	cJSON_Delete(req);
	return 0;
}
