/* test_receipt.c - receipts: a round trip, a batch signed once and each
 * receipt of it checked (and a tampered one refused, the cache passing
 * nothing it should not), every mismatch refused with its own code, the receiver's consistency proof for every witness size, a log
 * witnessed as it grows, a receipt given again, and a truncated or forked
 * log caught; the receipt as the sender keeps it. */
#include "envelope.pb-c.h"

#include "accord/receipt.h"
#include "helper.h"

#define RECEIVER "council"
#define RECEIVED_AT 1790000000

static const uint8_t msg_id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t digest[32] = { 0xd1, 0x9e, 0x57 };

/* The receiver's log, its key, and another key; set up once. */
static struct {
	struct th_log log;
	crypto_signer *key, *other;
	uint8_t pub[CRYPTO_ED25519_PUB_LEN];
	char *note;           /* its checkpoint at size 5 */
} fx;

static int setup(void **state)
{
	fx.log.dir = NULL;
	th_log_open(&fx.log, NULL);
	assert_int_equal(crypto_signer_generate(&fx.key, NULL), 0);
	assert_int_equal(crypto_signer_generate(&fx.other, NULL), 0);
	crypto_signer_public(fx.key, fx.pub);
	th_fill(fx.log.a, 5, 2);
	assert_int_equal(audit_checkpoint(fx.log.a, fx.key, "accord.audit/" RECEIVER,
					  &fx.note, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	free(fx.note);
	crypto_signer_close(fx.key);
	crypto_signer_close(fx.other);
	th_log_close(&fx.log);
	return 0;
}

static receipt_expect expect(const witness_checkpoint *held)
{
	return (receipt_expect){ .message_id = msg_id, .id_len = sizeof msg_id,
				 .record_digest = digest, .receiver = RECEIVER,
				 .receiver_key = fx.pub, .held = held };
}

static void make(const crypto_signer *key, const char *receiver, const char *note,
		 const audit_proof *p, uint8_t **out, size_t *len)
{
	accord_error e = { 0 };

	if (receipt_make(key, msg_id, sizeof msg_id, digest, receiver, RECEIVED_AT,
			 note, p, out, len, &e) != 0)
		fail_msg("receipt_make: %s", accord_error_msg(&e));
}

static void test_round_trip(void **state)
{
	receipt_expect x = expect(NULL);
	uint8_t root[AUDIT_HASH_LEN], *bytes;
	receipt_info info;
	accord_error e = { 0 };
	size_t len;

	make(fx.key, RECEIVER, fx.note, NULL, &bytes, &len);
	assert_int_equal(receipt_check(bytes, len, &x, NULL, &info, &e), 0);
	assert_int_equal(info.received_at, RECEIVED_AT);
	assert_int_equal(info.checkpoint.size, 5);
	assert_int_equal(audit_root(fx.log.a, 5, root, NULL), 0);
	assert_memory_equal(info.checkpoint.root, root, AUDIT_HASH_LEN);
	assert_string_equal(info.checkpoint.note, fx.note);
	assert_int_equal(info.checkpoint.note_len, strlen(fx.note));
	assert_true(info.advances);
	receipt_info_free(&info);
	/* The same checkpoint held: consistent, and nothing to advance. */
	{
		witness_checkpoint held = { .size = 5 };

		memcpy(held.root, root, AUDIT_HASH_LEN);
		x = expect(&held);
		assert_int_equal(receipt_check(bytes, len, &x, NULL, &info, &e), 0);
		assert_false(info.advances);
		receipt_info_free(&info);
	}
	free(bytes);
	assert_string_equal(accord_strerror(ACCORD_EINCONSISTENT),
			    "log inconsistent with a checkpoint held");
}

/* What the sender keeps of a receipt: every byte it checked but the
 * consistency proof; still the receiver's signed receipt, and given its
 * proof again (receipt_reprove) the same receipt it checked. */
static void test_kept(void **state)
{
	witness_checkpoint at3 = { .size = 3 }, at5 = { .size = 5 };
	receipt_expect x = expect(&at3);
	Accord__Envelope__Receipt *r, *k;
	audit_proof p;
	receipt_info info, again;
	accord_error e = { 0 };
	uint8_t *bytes, *proved;
	size_t len, proved_len;

	assert_int_equal(audit_root(fx.log.a, 3, at3.root, NULL), 0);
	assert_int_equal(audit_root(fx.log.a, 5, at5.root, NULL), 0);
	assert_int_equal(receipt_consistency(fx.log.a, 3, fx.note, &p, NULL), 0);
	assert_int_equal(p.n, 4);
	make(fx.key, RECEIVER, fx.note, &p, &bytes, &len);
	assert_int_equal(receipt_check(bytes, len, &x, NULL, &info, &e), 0);
	assert_non_null(info.kept);
	assert_int_equal(info.kept_len, len - 4 * (2 + AUDIT_HASH_LEN));
	r = accord__envelope__receipt__unpack(NULL, len, bytes);
	k = accord__envelope__receipt__unpack(NULL, info.kept_len, info.kept);
	assert_non_null(r);
	assert_non_null(k);
	assert_int_equal(r->n_consistency, 4);
	assert_int_equal(k->n_consistency, 0);
	assert_int_equal(k->received_at, r->received_at);
	assert_int_equal(k->checkpoint.len, r->checkpoint.len);
	assert_memory_equal(k->checkpoint.data, r->checkpoint.data, r->checkpoint.len);
	assert_memory_equal(k->signature.data, r->signature.data, CRYPTO_ED25519_SIG_LEN);
	accord__envelope__receipt__free_unpacked(r, NULL);
	accord__envelope__receipt__free_unpacked(k, NULL);
	/* Alone it verifies, and against its own checkpoint... */
	x = expect(NULL);
	assert_int_equal(receipt_check(info.kept, info.kept_len, &x, NULL, &again, &e), 0);
	assert_int_equal(again.kept_len, info.kept_len);
	assert_memory_equal(again.kept, info.kept, info.kept_len);
	receipt_info_free(&again);
	x = expect(&at5);
	assert_int_equal(receipt_check(info.kept, info.kept_len, &x, NULL, &again, &e), 0);
	receipt_info_free(&again);
	/* ...but not against an older one, until its proof is made again. */
	x = expect(&at3);
	assert_int_equal(receipt_check(info.kept, info.kept_len, &x, NULL, &again, &e),
			 ACCORD_EINCONSISTENT);
	assert_null(again.kept);
	assert_int_equal(receipt_reprove(fx.log.a, info.kept, info.kept_len, 3, &proved,
					 &proved_len, NULL), 0);
	assert_int_equal(proved_len, len);
	assert_memory_equal(proved, bytes, len);
	receipt_info_free(&info);
	free(proved);
	free(bytes);
}

/* ---- a batch ------------------------------------------------------------ */

#define BATCH 7

static void batch_ids(size_t i, uint8_t id[16], uint8_t d[32])
{
	memset(id, (int)i + 1, 16);
	memset(d, 0xa0 + (int)i, 32);
}

/* Unpack, change with fn, pack again. */
static void tamper(uint8_t **bytes, size_t *len, void (*fn)(Accord__Envelope__Receipt *r))
{
	Accord__Envelope__Receipt *r = accord__envelope__receipt__unpack(NULL, *len, *bytes);

	assert_non_null(r);
	fn(r);
	free(*bytes);
	*len = accord__envelope__receipt__get_packed_size(r);
	*bytes = malloc(*len);
	assert_non_null(*bytes);
	accord__envelope__receipt__pack(r, *bytes);
	accord__envelope__receipt__free_unpacked(r, NULL);
}

static void flip_proof(Accord__Envelope__Receipt *r) { r->batch_proof[0].data[5] ^= 1; }
static void flip_root(Accord__Envelope__Receipt *r) { r->batch_root.data[0] ^= 1; }
static void flip_sig(Accord__Envelope__Receipt *r) { r->signature.data[9] ^= 1; }
static void bad_index(Accord__Envelope__Receipt *r) { r->batch_index = r->batch_size; }
static void other_index(Accord__Envelope__Receipt *r) { r->batch_index ^= 1; }

/* Check receipt i of a batch made by b against its own message. */
static int check_at(const uint8_t *bytes, size_t len, size_t i, const uint8_t *key,
		    receipt_cache *cache, accord_error *e)
{
	uint8_t id[16], d[32];
	receipt_expect x = expect(NULL);
	receipt_info info;
	int rc;

	batch_ids(i, id, d);
	x.message_id = id;
	x.record_digest = d;
	x.receiver_key = key;
	rc = receipt_check(bytes, len, &x, cache, &info, e);
	if (rc == 0)
		assert_int_equal(info.checkpoint.size, 5);
	receipt_info_free(&info);
	return rc;
}

static void test_batch(void **state)
{
	uint8_t other_pub[CRYPTO_ED25519_PUB_LEN], *bytes[BATCH], id[16], d[32];
	size_t len[BATCH], at;
	receipt_cache cache = { 0 };
	receipt_batch *b;
	accord_error e = { 0 };

	crypto_signer_public(fx.other, other_pub);
	assert_int_equal(receipt_batch_new(&b, NULL), 0);
	assert_int_equal(receipt_batch_sign(b, fx.key, RECEIVER, RECEIVED_AT, fx.note, &e),
			 ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "empty"));
	for (size_t i = 0; i < BATCH; i++) {
		batch_ids(i, id, d);
		assert_int_equal(receipt_batch_add(b, id, 16, d, &at, NULL), 0);
		assert_int_equal(at, i);
	}
	assert_int_equal(receipt_batch_make(b, 0, NULL, &bytes[0], &len[0], NULL),
			 ACCORD_EINVAL);
	assert_int_equal(receipt_batch_sign(b, fx.key, RECEIVER, RECEIVED_AT, fx.note, NULL), 0);
	assert_int_equal(receipt_batch_add(b, id, 16, d, &at, &e), ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "signed already"));
	for (size_t i = 0; i < BATCH; i++)
		assert_int_equal(receipt_batch_make(b, i, NULL, &bytes[i], &len[i], NULL), 0);
	assert_int_equal(receipt_batch_make(b, BATCH, NULL, &(uint8_t *){ NULL },
					    &(size_t){ 0 }, NULL), ACCORD_EINVAL);
	receipt_batch_free(b);

	/* Each one checks, alone and through one cache. */
	for (size_t i = 0; i < BATCH; i++) {
		assert_int_equal(check_at(bytes[i], len[i], i, fx.pub, NULL, NULL), 0);
		assert_int_equal(check_at(bytes[i], len[i], i, fx.pub, &cache, NULL), 0);
	}
	assert_true(cache.valid);
	/* One batch's receipt does not stand for another message of it. */
	assert_int_equal(check_at(bytes[3], len[3], 4, fx.pub, &cache, &e), ACCORD_EINVAL);
	/* Tampered: its proof, its root, its place: not in the batch. */
	tamper(&bytes[2], &len[2], flip_proof);
	assert_int_equal(check_at(bytes[2], len[2], 2, fx.pub, &cache, &e), ACCORD_ESIG);
	assert_non_null(strstr(e.msg, "not in the batch"));
	tamper(&bytes[1], &len[1], flip_root);
	assert_int_equal(check_at(bytes[1], len[1], 1, fx.pub, &cache, &e), ACCORD_ESIG);
	tamper(&bytes[4], &len[4], other_index);
	assert_int_equal(check_at(bytes[4], len[4], 4, fx.pub, &cache, &e), ACCORD_ESIG);
	tamper(&bytes[0], &len[0], bad_index);
	assert_int_equal(check_at(bytes[0], len[0], 0, fx.pub, &cache, &e), ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "which batch"));
	/* The cache passes neither another signature nor another key. */
	tamper(&bytes[5], &len[5], flip_sig);
	assert_int_equal(check_at(bytes[5], len[5], 5, fx.pub, &cache, &e), ACCORD_ESIG);
	assert_int_equal(check_at(bytes[6], len[6], 6, other_pub, &cache, &e), ACCORD_ESIG);
	assert_int_equal(check_at(bytes[6], len[6], 6, fx.pub, &cache, NULL), 0);
	for (size_t i = 0; i < BATCH; i++)
		free(bytes[i]);
}

/* ---- every mismatch ----------------------------------------------------- */

enum mutation {
	M_MESSAGE_ID, M_DIGEST, M_RECEIVER, M_SIG_BYTE, M_SIG_SHORT, M_CKPT_BYTE,
	M_CKPT_SIGNED_BYTE, M_CKPT_OTHER_KEY, M_CKPT_OTHER_ORIGIN, M_CKPT_GARBAGE,
	M_RECEIPT_OTHER_KEY, M_NOT_PROTOBUF, M_TOO_BIG, M_PROOF_HASH_LEN, M_RECEIVER_NUL,
	M_UNPACKED_TWICE,
};

static const struct mismatch {
	const char *name;
	enum mutation m;
	int want;
	const char *says;
} mismatches[] = {
	{ "another message id", M_MESSAGE_ID, ACCORD_EINVAL, "names another message" },
	{ "another record digest", M_DIGEST, ACCORD_EINVAL, "other record bytes" },
	{ "another receiver", M_RECEIVER, ACCORD_EINVAL, "names another receiver" },
	{ "a flipped signature byte", M_SIG_BYTE, ACCORD_ESIG, "forged or altered" },
	{ "a short signature", M_SIG_SHORT, ACCORD_ESIG, "no Ed25519 signature" },
	{ "a flipped checkpoint byte", M_CKPT_BYTE, ACCORD_ESIG, "forged or altered" },
	{ "a flipped checkpoint byte, receipt signed",
	  M_CKPT_SIGNED_BYTE, ACCORD_ESIG, "does not verify" },
	{ "a checkpoint signed by another key", M_CKPT_OTHER_KEY, ACCORD_ESIG,
	  "by another key" },
	{ "a checkpoint of another log", M_CKPT_OTHER_ORIGIN, ACCORD_EINVAL,
	  "checkpoint of the log 'accord.audit/ngo'" },
	{ "a checkpoint that is no note", M_CKPT_GARBAGE, ACCORD_EINVAL,
	  "malformed checkpoint" },
	{ "a receipt signed by another key", M_RECEIPT_OTHER_KEY, ACCORD_ESIG,
	  "forged or altered" },
	{ "bytes that are no receipt", M_NOT_PROTOBUF, ACCORD_EINVAL,
	  "not a Receipt message" },
	{ "a receipt over the size limit", M_TOO_BIG, ACCORD_ETOOBIG, "over the limit" },
	{ "a proof hash of 31 bytes", M_PROOF_HASH_LEN, ACCORD_EINVAL, "hash of 31 bytes" },
	{ "a receiver with a NUL and more after the signed name", M_RECEIVER_NUL,
	  ACCORD_EINVAL, "is refused: the receipt's field 'receiver' holds a NUL byte" },
	{ "a signed field given twice", M_UNPACKED_TWICE, ACCORD_EINVAL,
	  "the receipt does not re-encode to the bytes received" },
};

/* Unpack bytes, change the message as m says, pack it again; or change
 * the packed bytes, for what protobuf-c would never pack. */
static void repack(uint8_t **bytes, size_t *len, enum mutation m)
{
	Accord__Envelope__Receipt *r = accord__envelope__receipt__unpack(NULL, *len, *bytes);

	assert_non_null(r);
	if (m == M_SIG_BYTE)
		r->signature.data[17] ^= 0x01;
	else if (m == M_SIG_SHORT)
		r->signature.len = 63;
	else if (m == M_CKPT_BYTE)
		r->checkpoint.data[r->checkpoint.len / 2] ^= 0x01;
	free(*bytes);
	*len = accord__envelope__receipt__get_packed_size(r);
	*bytes = malloc(*len + 2);
	assert_non_null(*bytes);
	accord__envelope__receipt__pack(r, *bytes);
	accord__envelope__receipt__free_unpacked(r, NULL);
	if (m == M_RECEIVER_NUL) {
		/* receiver (field 3) "council" as "council\0x": it still
		 * unpacks as the name the receipt was signed for. */
		static const char was[] = "\x1a\x07" RECEIVER, now[] = "\x1a\x09" RECEIVER "\0x";
		uint8_t *at = memmem(*bytes, *len, was, sizeof was - 1);

		assert_non_null(at);
		memmove(at + sizeof now - 1, at + sizeof was - 1,
			(size_t)(*bytes + *len - at) - (sizeof was - 1));
		memcpy(at, now, sizeof now - 1);
		*len += 2;
	} else if (m == M_UNPACKED_TWICE) {
		/* received_at (field 4) again, first with another value: the
		 * last one wins, so the first is never seen. */
		memmove(*bytes + 2, *bytes, *len);
		(*bytes)[0] = 0x20;
		(*bytes)[1] = 0x05;
		*len += 2;
	}
}

/* A note of the receiver's log at size 5 made otherwise than fx.note. */
static char *odd_note(enum mutation m)
{
	uint8_t root[AUDIT_HASH_LEN];
	char *note;

	if (m == M_CKPT_SIGNED_BYTE)
		return th_replace(fx.note, "\n5\n", "\n7\n");
	if (m == M_CKPT_GARBAGE)
		return th_replace(fx.note, "\n5\n", "\nfive\n");
	assert_int_equal(audit_root(fx.log.a, 5, root, NULL), 0);
	assert_int_equal(audit_note_sign(m == M_CKPT_OTHER_ORIGIN ? "accord.audit/ngo" :
					 "accord.audit/" RECEIVER, 5, root,
					 m == M_CKPT_OTHER_KEY ? fx.other : fx.key,
					 &note, NULL), 0);
	return note;
}

static void test_mismatch(void **state)
{
	const struct mismatch *c = *state;
	receipt_expect x = expect(NULL);
	uint8_t other_id[16] = { 0xee }, other_digest[32] = { 0xee }, *bytes;
	char *note = fx.note;
	audit_proof p = { .n = 1 };
	receipt_info info;
	accord_error e = { 0 };
	size_t len;

	if (c->m == M_CKPT_SIGNED_BYTE || c->m == M_CKPT_OTHER_KEY ||
	    c->m == M_CKPT_OTHER_ORIGIN || c->m == M_CKPT_GARBAGE)
		note = odd_note(c->m);
	make(c->m == M_RECEIPT_OTHER_KEY ? fx.other : fx.key,
	     c->m == M_RECEIVER ? "ngo" : RECEIVER, note, NULL, &bytes, &len);
	if (c->m == M_SIG_BYTE || c->m == M_SIG_SHORT || c->m == M_CKPT_BYTE ||
	    c->m == M_RECEIVER_NUL || c->m == M_UNPACKED_TWICE)
		repack(&bytes, &len, c->m);
	if (c->m == M_MESSAGE_ID)
		x.message_id = other_id;
	if (c->m == M_DIGEST)
		x.record_digest = other_digest;
	if (c->m == M_NOT_PROTOBUF)
		memset(bytes, 0xff, len);
	if (c->m == M_TOO_BIG)
		len = RECEIPT_MAX + 1;
	if (c->m == M_PROOF_HASH_LEN) {
		/* A 31-byte hash: make a good receipt, then cut one proof hash. */
		Accord__Envelope__Receipt *r;

		free(bytes);
		make(fx.key, RECEIVER, note, &p, &bytes, &len);
		r = accord__envelope__receipt__unpack(NULL, len, bytes);
		assert_non_null(r);
		r->consistency[0].len = 31;
		len = accord__envelope__receipt__pack(r, bytes);
		accord__envelope__receipt__free_unpacked(r, NULL);
	}
	if (c->m == M_TOO_BIG) {
		uint8_t *big = calloc(1, len);

		assert_non_null(big);
		free(bytes);
		bytes = big;
	}
	assert_int_equal(receipt_check(bytes, len, &x, NULL, &info, &e), c->want);
	if (!strstr(e.msg, c->says))
		fail_msg("'%s' does not say '%s'", e.msg, c->says);
	assert_null(info.checkpoint.note);
	if (note != fx.note)
		free(note);
	free(bytes);
}

/* ---- the receiver's proof ----------------------------------------------- */

static const struct proof_case {
	const char *name;
	uint64_t witness_size;   /* fx.log has 5 entries, fx.note is at 5 */
	int want;
	size_t hashes;
} proof_cases[] = {
	{ "no witness: no proof", 0, 0, 0 },
	{ "a witness of the same size: no proof", 5, 0, 0 },
	{ "a smaller witness: a proof from it", 3, 0, 4 },
	{ "a witness past the log: entries lost", 9, ACCORD_EINCONSISTENT, 0 },
};

static void test_proof(void **state)
{
	const struct proof_case *c = *state;
	audit_proof p;
	accord_error e = { 0 };

	assert_int_equal(receipt_consistency(fx.log.a, c->witness_size, fx.note, &p, &e),
			 c->want);
	if (c->want == 0)
		assert_int_equal(p.n, c->hashes);
	else
		assert_non_null(strstr(e.msg, "only 5 entries"));
}

/* ---- the witness over a growing log, a truncated one, a forked one ------- */

/* A receipt of log a's latest checkpoint, proved against held (may be NULL),
 * checked against held; the result, with *info filled on success. */
static int exchange(audit *a, const witness_checkpoint *held, bool prove,
		 receipt_info *info, accord_error *e)
{
	receipt_expect x = expect(held);
	audit_proof p = { 0 };
	uint8_t *bytes;
	char *note;
	size_t len;
	int rc;

	assert_int_equal(audit_checkpoint(a, fx.key, "accord.audit/" RECEIVER, &note, NULL), 0);
	if (prove)
		assert_int_equal(receipt_consistency(a, held ? held->size : 0, note, &p,
						     NULL), 0);
	make(fx.key, RECEIVER, note, &p, &bytes, &len);
	rc = receipt_check(bytes, len, &x, NULL, info, e);
	free(bytes);
	free(note);
	return rc;
}

static void test_growing(void **state)
{
	static const uint64_t grow[] = { 1, 1, 2, 5, 8, 31, 1 };
	struct th_log l;
	witness_checkpoint held = { 0 };
	receipt_info info;
	accord_error e = { 0 };
	uint64_t size = 0;

	th_log_open(&l, NULL);
	for (size_t i = 0; i < sizeof grow / sizeof grow[0]; i++) {
		th_fill(l.a, grow[i], 3);
		size += grow[i];
		if (exchange(l.a, i ? &held : NULL, true, &info, &e) != 0)
			fail_msg("round %zu: %s", i, accord_error_msg(&e));
		assert_int_equal(info.checkpoint.size, size);
		assert_true(info.advances);
		witness_checkpoint_free(&held);
		held = info.checkpoint;
		memset(&info.checkpoint, 0, sizeof info.checkpoint);
		receipt_info_free(&info);
	}
	/* A receipt given again: its first proof does not fit the checkpoint
	 * held now, the one made anew does, and the held one stays. */
	{
		uint8_t root[AUDIT_HASH_LEN], *first, *again;
		receipt_expect x = expect(&held);
		audit_proof p;
		char *old;
		size_t len, again_len;

		assert_int_equal(audit_root(l.a, 9, root, NULL), 0);
		assert_int_equal(audit_note_sign("accord.audit/" RECEIVER, 9, root, fx.key,
						 &old, NULL), 0);
		assert_int_equal(receipt_consistency(l.a, 4, old, &p, NULL), 0);
		make(fx.key, RECEIVER, old, &p, &first, &len);
		assert_int_equal(receipt_check(first, len, &x, NULL, &info, &e), ACCORD_EINCONSISTENT);
		assert_int_equal(receipt_reprove(l.a, first, len, held.size, &again,
						 &again_len, NULL), 0);
		assert_int_equal(receipt_check(again, again_len, &x, NULL, &info, &e), 0);
		assert_int_equal(info.checkpoint.size, 9);
		assert_false(info.advances);
		receipt_info_free(&info);
		free(first);
		free(again);
		free(old);
	}
	/* A proof left out is a log not shown to extend the held one. */
	th_fill(l.a, 4, 4);
	assert_int_equal(exchange(l.a, &held, false, &info, &e), ACCORD_EINCONSISTENT);
	assert_non_null(strstr(e.msg, "does not extend the one held at size 49"));
	witness_checkpoint_free(&held);
	th_log_close(&l);
}

/* The held checkpoint of a log of n entries made by fill(i) for entry i. */
static void held_of(uint64_t n, uint64_t first, witness_checkpoint *held)
{
	struct th_log l;
	receipt_info info;
	accord_error e = { 0 };

	th_log_open(&l, NULL);
	for (uint64_t i = 0; i < n; i++) {
		audit_entry en;

		th_entry(first + i, &en, 1);
		assert_int_equal(audit_append(l.a, &en, NULL, NULL), 0);
	}
	if (exchange(l.a, NULL, true, &info, &e) != 0)
		fail_msg("%s", accord_error_msg(&e));
	*held = info.checkpoint;
	free(info.kept);
	th_log_close(&l);
}

static const struct fault {
	const char *name;
	uint64_t held_size, held_first;   /* the log the sender witnessed */
	uint64_t now_size, now_first;     /* the log the receiver shows now */
	const char *says;
} faults[] = {
	{ "truncated: shrank", 10, 0, 6, 0, "the audit log of 'council' shrank from 10 to 6 entries" },
	{ "rewritten, same size: forked", 8, 0, 8, 100,
	  "the audit log of 'council' forked: at size 8 its root was " },
	{ "rewritten and grown: forked", 8, 0, 12, 100,
	  "forked: its checkpoint at size 12 does not extend the one held at size 8" },
	{ "rewritten and shrunk", 8, 0, 3, 100, "shrank from 8 to 3 entries" },
};

static void test_fault(void **state)
{
	const struct fault *c = *state;
	witness_checkpoint held;
	struct th_log now;
	receipt_info info;
	accord_error e = { 0 };
	audit_proof p;
	char *note;

	held_of(c->held_size, c->held_first, &held);
	th_log_open(&now, NULL);
	for (uint64_t i = 0; i < c->now_size; i++) {
		audit_entry en;

		th_entry(c->now_first + i, &en, 1);
		assert_int_equal(audit_append(now.a, &en, NULL, NULL), 0);
	}
	/* The receiver itself sees the loss when the sender holds more. */
	assert_int_equal(audit_checkpoint(now.a, fx.key, "accord.audit/" RECEIVER, &note,
					  NULL), 0);
	assert_int_equal(receipt_consistency(now.a, held.size, note, &p, NULL),
			 c->now_size < held.size ? ACCORD_EINCONSISTENT : 0);
	free(note);
	assert_int_equal(exchange(now.a, &held, c->now_size >= held.size, &info, &e),
			 ACCORD_EINCONSISTENT);
	if (!strstr(e.msg, c->says))
		fail_msg("'%s' does not say '%s'", e.msg, c->says);
	assert_null(info.checkpoint.note);
	witness_checkpoint_free(&held);
	th_log_close(&now);
}

int main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_kept),
		cmocka_unit_test(test_growing),
		cmocka_unit_test(test_batch),
	};
	const th_table tables[] = {
		TH_TABLE(mismatches, test_mismatch),
		TH_TABLE(proof_cases, test_proof),
		TH_TABLE(faults, test_fault),
	};

	return th_run("receipt", fixed, sizeof fixed / sizeof fixed[0], tables,
		      sizeof tables / sizeof tables[0], setup, teardown);
}
