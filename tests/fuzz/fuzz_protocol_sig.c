/* fuzz_protocol_sig.c - libFuzzer target: the signature file parser, against
 * a fixed valid protocol. */
#include "accord/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc[] =
	"protocol: fuzz\nversion: 1\ntitle: Fuzz\ncoordinator: police\n"
	"effective_from: 2026-10-01\nreview_by: 2026-12-31\npartners:\n"
	"  - {id: police, name: P, responsibilities: R, endpoint: \"https://p.test\",\n"
	"     tls_spki_sha256: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,\n"
	"     signing_key: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=}\n"
	"  - {id: council, name: C, responsibilities: R, endpoint: \"https://c.test\",\n"
	"     tls_spki_sha256: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,\n"
	"     signing_key: PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=}\n"
	"purposes: [{id: p, description: D, legal_basis: L}]\n"
	"never_share: [Referral.case_notes]\n"
	"rules:\n  - {id: r, from: police, to: [council], purpose: p, record: Referral,\n"
	"     fields: [needs], consent: required, when: anytime, retention_days: 1}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static protocol *p;
	static protocol_diags d;
	protocol_sigs *s = NULL;

	if (!p && protocol_parse("fuzz.yaml", doc, sizeof doc - 1, &p, &d) != 0)
		__builtin_trap();
	if (protocol_sigs_check(p, "fuzz.yaml.sig", data, size, &s, &d) == 0) {
		if (s->n_partners != 2)
			__builtin_trap();
		(void)protocol_in_force(p, s, 20400, NULL);
		protocol_sigs_free(s);
	} else if (d.count == 0 && size <= PROTOCOL_SIG_MAX_BYTES) {
		__builtin_trap();
	}
	return 0;
}
