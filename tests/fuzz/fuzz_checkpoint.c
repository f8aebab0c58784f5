/* fuzz_checkpoint.c - libFuzzer target: the checkpoint note parser and its
 * signature check, against a fixed public key. */
#include "accord/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* policies/examples/test-keys/police/signing.pub, which signed the seeds. */
static const char pub64[] = "dnwibFm3hsT1SDgxbpTQ2RWEBF5fLhk+18xcb7N6dMs=";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pub[CRYPTO_ED25519_PUB_LEN];
	static bool ready;
	audit_note n;
	int rc;

	if (!ready && crypto_b64_decode_exact(pub64, pub, sizeof pub) != 0)
		__builtin_trap();
	ready = true;
	rc = audit_note_parse((const char *)data, size, &n, NULL);
	if (rc == 0 && (n.body_len >= size || n.n_sigs > AUDIT_NOTE_SIGS_MAX ||
			strlen(n.origin) == 0))
		__builtin_trap();
	rc = audit_note_verify((const char *)data, size, pub, &n, NULL);
	if (rc != 0 && rc != ACCORD_EPARSE && rc != ACCORD_ETOOBIG && rc != ACCORD_ESIG)
		__builtin_trap();
	return 0;
}
