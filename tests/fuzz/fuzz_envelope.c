/* fuzz_envelope.c - libFuzzer target: the receiving side's checks on an
 * envelope from police to the council under the example protocol
 * (policies/examples/eastshire.yaml; run from the repository root). */
#include "../../node/node_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static protocol *proto;
static protocol_sigs *sigs;
static policy *pol;

static void load(void)
{
	static const char path[] = "policies/examples/eastshire.yaml";
	static protocol_diags d;

	if (protocol_load(path, &proto, &d) != 0 ||
	    protocol_sigs_load(proto, path, &sigs, &d) != 0 ||
	    policy_open(proto, sigs, &pol, NULL) != 0) {
		fprintf(stderr, "fuzz_envelope: cannot load %s (run from the repository "
			"root)\n", path);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inbound in = { 0 };
	char why[700];
	int status;

	if (!pol)
		load();
	in.from = protocol_partner_find(proto, "police");
	in.env = accord__envelope__envelope__unpack(NULL, size, data);
	if (!in.env)
		return 0;
	why[0] = '\0';
	status = node_envelope_text_check(&in, data, size, why, sizeof why);
	if (status != 0 && (status != 422 || !why[0] || !record_utf8_ok(why, strlen(why))))
		__builtin_trap(); /* a reason in UTF-8, whatever the envelope held */
	if (status == 0)
		status = node_envelope_check(proto, pol, "council", &in, why, sizeof why);
	if (status != 0 && (!why[0] || (status != 403 && status != 409 && status != 422)))
		__builtin_trap(); /* every refusal is a client error, with a reason */
	if (status == 0) {
		/* What passes names this protocol, a rule from police to the
		 * council, and holds a record of the rule's type. */
		if (!in.rule || !in.record || strcmp(in.env->sender, "police") != 0 ||
		    strcmp(in.env->recipient, "council") != 0 ||
		    strcmp(in.rule->record, in.record->descriptor->short_name) != 0 ||
		    record_check(policy_rule_selection(pol, in.rule), in.record, NULL) != 0)
			__builtin_trap();
	}
	record_free(in.record);
	protobuf_c_message_free_unpacked(&in.env->base, NULL);
	return 0;
}
