/* fuzz_record_json.c - libFuzzer target: JSON -> record for every record
 * type (the first byte chooses it), and the record back to JSON. */
#include <jansson.h>

#include "accord/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m = NULL;
	accord_error e = { 0 };
	json_t *j;

	if (size < 1)
		return 0;
	d = record_type_at(data[0] % record_type_count());
	if (record_from_json_text(d, (const char *)data + 1, size - 1, &m, &e) != 0) {
		if (!e.msg[0])
			__builtin_trap(); /* every refusal must say why */
		if (m)
			__builtin_trap();
		return 0;
	}
	/* What was read writes back, and reads again to the same JSON. */
	j = record_to_json(m);
	if (!j)
		__builtin_trap();
	{
		char *text = json_dumps(j, JSON_COMPACT);
		ProtobufCMessage *again = NULL;
		json_t *j2;

		if (!text || record_from_json_text(d, text, strlen(text), &again, &e) != 0)
			__builtin_trap();
		j2 = record_to_json(again);
		if (!json_equal(j, j2))
			__builtin_trap();
		json_decref(j2);
		record_free(again);
		free(text);
	}
	json_decref(j);
	record_free(m);
	return 0;
}
