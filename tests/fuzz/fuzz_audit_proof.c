/* fuzz_audit_proof.c - libFuzzer target: inclusion and consistency proof
 * verification with arbitrary sizes, indexes, roots and proof hashes. The
 * input is: 8-byte index or first size, 8-byte tree size, 32-byte leaf or
 * first root, 32-byte root, then proof hashes (32 bytes each). */
#include "accord/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static audit_proof p;
	uint64_t a, b;
	const uint8_t *x, *root;

	if (size < 80)
		return 0;
	a = be64(data);
	b = be64(data + 8);
	x = data + 16;
	root = data + 48;
	data += 80;
	size -= 80;
	p.n = size / AUDIT_HASH_LEN;
	if (p.n > AUDIT_PROOF_MAX)
		p.n = AUDIT_PROOF_MAX + 1; /* the verifiers must refuse it unread */
	for (size_t i = 0; i < p.n && i < AUDIT_PROOF_MAX; i++)
		memcpy(p.hash[i], data + i * AUDIT_HASH_LEN, AUDIT_HASH_LEN);
	(void)audit_inclusion_verify(x, a, b, &p, root);
	if (audit_consistency_verify(a, x, b, root, &p) && a > b)
		__builtin_trap();
	return 0;
}
