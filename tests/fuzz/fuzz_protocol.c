/* fuzz_protocol.c - libFuzzer target: the protocol document parser. */
#include "accord/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static protocol_diags d;
	protocol *p = NULL;

	if (protocol_parse("fuzz.yaml", data, size, &p, &d) == 0) {
		/* A valid document must answer every accessor. */
		for (size_t i = 0; i < protocol_rule_count(p); i++)
			(void)protocol_partner_find(p, protocol_rule_at(p, i)->from);
		protocol_close(p);
	} else if (d.count == 0) {
		__builtin_trap(); /* every refusal must say why */
	}
	return 0;
}
