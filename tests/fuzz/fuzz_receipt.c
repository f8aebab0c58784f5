/* fuzz_receipt.c - libFuzzer target: receipt_check on arbitrary bytes, with
 * no checkpoint held and with one held, against fixed expectations. The
 * seeds come from gen_receipt_corpus.c. */
#include "accord/receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* policies/examples/test-keys/council/signing.pub, which signed the seeds,
 * and the root of the seeds' log at size 2. */
static const char pub64[] = "zi/gggp+7xUYBXTM9lYD1Jw/ahtHCufKMAtvwxkX3H4=";
static const char root64[] = "sXDbdlW4TZ7Ms7TKDciuhhlGdZ9FdLWs/wcPly3BS88=";
static const uint8_t msg_id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t digest[32] = { 0xd1, 0x9e, 0x57 };

static void check(const uint8_t *data, size_t size, const receipt_expect *x)
{
	receipt_info info;
	int rc = receipt_check(data, size, x, NULL, &info, NULL);

	if (rc == 0) {
		if (!info.checkpoint.note || strlen(info.checkpoint.note) !=
		    info.checkpoint.note_len)
			__builtin_trap();
		if (x->held && info.advances != (info.checkpoint.size > x->held->size))
			__builtin_trap();
		/* What the sender keeps: no more than it checked. */
		if (!info.kept || info.kept_len > size)
			__builtin_trap();
	} else if (rc != ACCORD_EINVAL && rc != ACCORD_ETOOBIG && rc != ACCORD_ESIG &&
		   rc != ACCORD_EINCONSISTENT && rc != ACCORD_ENOMEM) {
		__builtin_trap();
	} else if (info.checkpoint.note || info.kept) {
		__builtin_trap();
	}
	receipt_info_free(&info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pub[CRYPTO_ED25519_PUB_LEN];
	static witness_checkpoint held = { .size = 2 };
	static bool ready;
	receipt_expect x = { .message_id = msg_id, .id_len = sizeof msg_id,
			     .record_digest = digest, .receiver = "council",
			     .receiver_key = pub };

	if (!ready && (crypto_b64_decode_exact(pub64, pub, sizeof pub) != 0 ||
		       crypto_b64_decode_exact(root64, held.root, sizeof held.root) != 0))
		__builtin_trap();
	ready = true;
	check(data, size, &x);
	x.held = &held;
	check(data, size, &x);
	return 0;
}
