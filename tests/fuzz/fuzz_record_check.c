/* fuzz_record_check.c - libFuzzer target: bytes from a peer unpacked as a
 * record (the first byte chooses the type), checked on receipt against a
 * fixed rule's selection, and minimised under it. */
#include "accord/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One selection per record type, with nested, repeated and oneof paths. */
static const char *const rule_fields[][8] = {
	{ "referral_id", "subject.given_name", "subject.identifiers", "needs",
	  "consent", "urgency", NULL },
	{ "referral_id", "decision", "contact", NULL },
	{ "referral_id", "needs.status", "overall", "next_review", NULL },
	{ "referral_id", "scope", NULL },
	{ "referral_id", "reason", "closed_at", NULL },
};

static record_selection *sel[5];

static void compile(void)
{
	for (size_t t = 0; t < record_type_count(); t++) {
		size_t n = 0;

		while (rule_fields[t][n])
			n++;
		if (record_selection_new(record_type_at(t), rule_fields[t], n, NULL, 0,
					 &sel[t], NULL) != 0)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = NULL, *min = NULL;
	accord_error e = { 0 };
	record_withheld w;
	size_t t;

	if (!sel[0])
		compile();
	if (size < 1)
		return 0;
	t = data[0] % record_type_count();
	if (record_unpack(record_type_at(t), data + 1, size - 1, &m, &e) != 0)
		return 0;
	/* Check one type's record against every rule: most are refused. */
	for (size_t k = 0; k < record_type_count(); k++) {
		int rc = record_check(sel[k], m, &e);

		if (rc != 0 && (rc != ACCORD_EREFUSED || !e.msg[0]))
			__builtin_trap();
		if (rc == 0 && k != t)
			__builtin_trap(); /* a record of another type passed */
	}
	if (record_minimise(sel[t], m, &min, &w, &e) != 0)
		__builtin_trap();
	/* Minimised, it contains nothing the rule leaves out; only what
	 * the sender sent and protobuf-c kept blindly (enum values, text
	 * that is not UTF-8) may still fail, and then the original did too. */
	if (record_check(sel[t], min, &e) != 0 && record_check(sel[t], m, NULL) == 0)
		__builtin_trap();
	record_free(min);
	record_free(m);
	return 0;
}
