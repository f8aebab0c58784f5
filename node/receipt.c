/*
 * receipt.c - receipts: made by the receiver, checked by the sender, who
 * witnesses the receiver's log through the checkpoint each one carries.
 *
 * The consistency proof is not signed: it is checked against two
 * checkpoints the receiver did sign, so a wrong one can only fail.
 * A receipt may carry a checkpoint older than the one held (deliveries
 * overlap, and a message delivered again is answered with its first
 * receipt): that is fine when it proves the older tree a prefix of the held
 * one, and the held one then stays.
 */
#include "envelope.pb-c.h"

#include "accord/protocol.h"
#include "accord/receipt.h"
#include "accord/record.h"

#define CONTEXT "accord-receipt-v2\n"
#define CONTEXT_LEN (sizeof CONTEXT - 1)

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	return put_u32(put_u32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static uint8_t *put_field(uint8_t *p, const void *data, size_t len)
{
	p = put_u32(p, (uint32_t)len);
	if (len)
		memcpy(p, data, len);
	return p + len;
}

/* A message's leaf in its batch (envelope.proto). */
static int leaf_hash(const uint8_t *id, size_t id_len, const uint8_t *digest,
		     size_t digest_len, uint8_t out[AUDIT_HASH_LEN])
{
	uint8_t buf[8 + RECEIPT_ID_MAX + CRYPTO_SHA256_LEN], *p;

	if (id_len > RECEIPT_ID_MAX || digest_len != CRYPTO_SHA256_LEN)
		return ACCORD_EINVAL;
	p = put_field(buf, id, id_len);
	p = put_field(p, digest, digest_len);
	return audit_leaf_hash(buf, (size_t)(p - buf), out);
}

/* The SHA-256 of the signed bytes (envelope.proto): the context, the
 * receiver, the time, the checkpoint, the batch's size and root. Every
 * length is bounded by RECEIPT_MAX or AUDIT_NOTE_MAX, so none overflows. */
static int signed_hash(const char *receiver, int64_t at, const ProtobufCBinaryData *note,
		       uint64_t batch_size, const uint8_t root[AUDIT_HASH_LEN],
		       uint8_t out[CRYPTO_SHA256_LEN])
{
	size_t rlen = strlen(receiver);
	size_t len = CONTEXT_LEN + 12 + 8 + 8 + rlen + note->len + AUDIT_HASH_LEN;
	uint8_t *buf = malloc(len), *p;
	int rc;

	if (!buf)
		return ACCORD_ENOMEM;
	memcpy(buf, CONTEXT, CONTEXT_LEN);
	p = put_field(buf + CONTEXT_LEN, receiver, rlen);
	p = put_u64(p, (uint64_t)at);
	p = put_field(p, note->data, note->len);
	p = put_u64(p, batch_size);
	put_field(p, root, AUDIT_HASH_LEN);
	rc = crypto_sha256(buf, len, out);
	free(buf);
	return rc;
}

/* Point r's repeated hashes at p's (which outlives the pack). */
static void set_hashes(ProtobufCBinaryData *to, const audit_proof *p)
{
	for (size_t i = 0; p && i < p->n; i++)
		to[i] = (ProtobufCBinaryData){ AUDIT_HASH_LEN, (uint8_t *)p->hash[i] };
}

/* Pack r with p as its consistency proof into a new buffer. */
static int pack(Accord__Envelope__Receipt *r, const audit_proof *p, uint8_t **out,
		size_t *out_len, accord_error *e)
{
	ProtobufCBinaryData proof[AUDIT_PROOF_MAX];
	size_t n = p ? p->n : 0;
	uint8_t *buf;

	if (n > AUDIT_PROOF_MAX)
		return accord_fail(e, ACCORD_EINVAL, "a consistency proof has at most %d "
				   "hashes", AUDIT_PROOF_MAX);
	set_hashes(proof, p);
	r->n_consistency = n;
	r->consistency = proof;
	*out_len = accord__envelope__receipt__get_packed_size(r);
	buf = malloc(*out_len ? *out_len : 1);
	if (buf)
		accord__envelope__receipt__pack(r, buf);
	/* r must not keep pointing at this frame's proof. */
	r->n_consistency = 0;
	r->consistency = NULL;
	if (!buf)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	*out = buf;
	return 0;
}

/* Pack an unpacked receipt r with p (NULL: none) as its consistency proof,
 * leaving r its own proof to free. */
static int repack(Accord__Envelope__Receipt *r, const audit_proof *p, uint8_t **out,
		  size_t *out_len, accord_error *e)
{
	ProtobufCBinaryData *own = r->consistency;
	size_t n_own = r->n_consistency;
	int rc = pack(r, p, out, out_len, e);

	r->consistency = own;
	r->n_consistency = n_own;
	return rc;
}

/* ---- the receiver's batch ------------------------------------------------- */

struct receipt_batch {
	size_t n, cap;
	struct batch_item {
		uint8_t id[RECEIPT_ID_MAX];
		size_t id_len;
		uint8_t digest[CRYPTO_SHA256_LEN];
	} *items;
	uint8_t (*leaves)[AUDIT_HASH_LEN];
	audit_memtree *tree;            /* set by receipt_batch_sign */
	char receiver[PROTOCOL_MAX_ID + 1];
	int64_t received_at;
	char *note;
	uint8_t sig[CRYPTO_ED25519_SIG_LEN];
};

int receipt_batch_new(receipt_batch **out, accord_error *e)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : accord_fail(e, ACCORD_ENOMEM, "out of memory");
}

void receipt_batch_free(receipt_batch *b)
{
	if (!b)
		return;
	audit_memtree_free(b->tree);
	free(b->items);
	free(b->leaves);
	free(b->note);
	free(b);
}

int receipt_batch_add(receipt_batch *b, const uint8_t *message_id, size_t id_len,
		      const uint8_t record_digest[CRYPTO_SHA256_LEN], size_t *index,
		      accord_error *e)
{
	if (!message_id || id_len == 0 || id_len > RECEIPT_ID_MAX)
		return accord_fail(e, ACCORD_EINVAL, "a receipt's message id is 1 to %d "
				   "bytes, not %zu", RECEIPT_ID_MAX, id_len);
	if (b->tree || b->n >= RECEIPT_BATCH_MAX)
		return accord_fail(e, ACCORD_EINVAL, "the receipt batch is %s",
				   b->tree ? "signed already" : "full");
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct batch_item *it = reallocarray(b->items, cap, sizeof *it);
		uint8_t (*lv)[AUDIT_HASH_LEN];

		if (!it)
			return accord_fail(e, ACCORD_ENOMEM, "out of memory");
		b->items = it;
		lv = reallocarray(b->leaves, cap, AUDIT_HASH_LEN);
		if (!lv)
			return accord_fail(e, ACCORD_ENOMEM, "out of memory");
		b->leaves = lv;
		b->cap = cap;
	}
	memcpy(b->items[b->n].id, message_id, id_len);
	b->items[b->n].id_len = id_len;
	memcpy(b->items[b->n].digest, record_digest, CRYPTO_SHA256_LEN);
	if (leaf_hash(message_id, id_len, record_digest, CRYPTO_SHA256_LEN,
		      b->leaves[b->n]) != 0)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	*index = b->n++;
	return 0;
}

int receipt_batch_sign(receipt_batch *b, const crypto_signer *signer,
		       const char *receiver, int64_t received_at,
		       const char *checkpoint_note, accord_error *e)
{
	size_t note_len = checkpoint_note ? strnlen(checkpoint_note, AUDIT_NOTE_MAX + 1) : 0;
	uint8_t root[AUDIT_HASH_LEN], hash[CRYPTO_SHA256_LEN];
	ProtobufCBinaryData note;
	int rc;

	if (b->n == 0 || b->tree)
		return accord_fail(e, ACCORD_EINVAL, "the receipt batch is %s",
				   b->tree ? "signed already" : "empty");
	if (!receiver || !protocol_id_ok(receiver))
		return accord_fail(e, ACCORD_EINVAL, "'%s' is not a partner id",
				   receiver ? receiver : "(null)");
	if (note_len == 0 || note_len > AUDIT_NOTE_MAX)
		return accord_fail(e, ACCORD_EINVAL, "a receipt's checkpoint is 1 to %d "
				   "bytes", AUDIT_NOTE_MAX);
	b->note = strndup(checkpoint_note, note_len);
	if (!b->note)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	rc = audit_memtree_build((const uint8_t (*)[AUDIT_HASH_LEN])b->leaves, b->n, &b->tree);
	if (rc != 0)
		return accord_fail(e, rc, "cannot build the receipt batch's tree");
	audit_memtree_root(b->tree, root);
	note = (ProtobufCBinaryData){ note_len, (uint8_t *)b->note };
	if (signed_hash(receiver, received_at, &note, b->n, root, hash) != 0 ||
	    crypto_signer_sign(signer, hash, sizeof hash, b->sig) != 0) {
		audit_memtree_free(b->tree);
		b->tree = NULL;
		return accord_fail(e, ACCORD_ECRYPTO, "cannot sign the receipts");
	}
	memcpy(b->receiver, receiver, strlen(receiver) + 1);
	b->received_at = received_at;
	return 0;
}

int receipt_batch_make(const receipt_batch *b, size_t index,
		       const audit_proof *consistency, uint8_t **out, size_t *out_len,
		       accord_error *e)
{
	Accord__Envelope__Receipt r = ACCORD__ENVELOPE__RECEIPT__INIT;
	ProtobufCBinaryData path[AUDIT_PROOF_MAX];
	uint8_t root[AUDIT_HASH_LEN];
	audit_proof incl;
	const struct batch_item *it;

	if (!b->tree || index >= b->n)
		return accord_fail(e, ACCORD_EINVAL, "no receipt %zu in this batch", index);
	if (audit_memtree_inclusion(b->tree, index, &incl) != 0)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	it = &b->items[index];
	audit_memtree_root(b->tree, root);
	set_hashes(path, &incl);
	r.message_id = (ProtobufCBinaryData){ it->id_len, (uint8_t *)it->id };
	r.record_digest = (ProtobufCBinaryData){ CRYPTO_SHA256_LEN, (uint8_t *)it->digest };
	r.receiver = (char *)b->receiver;
	r.received_at = b->received_at;
	r.checkpoint = (ProtobufCBinaryData){ strlen(b->note), (uint8_t *)b->note };
	r.signature = (ProtobufCBinaryData){ sizeof b->sig, (uint8_t *)b->sig };
	r.batch_size = b->n;
	r.batch_index = index;
	r.batch_root = (ProtobufCBinaryData){ AUDIT_HASH_LEN, root };
	r.n_batch_proof = incl.n;
	r.batch_proof = path;
	return pack(&r, consistency, out, out_len, e);
}

int receipt_make(const crypto_signer *signer, const uint8_t *message_id,
		 size_t id_len, const uint8_t record_digest[CRYPTO_SHA256_LEN],
		 const char *receiver, int64_t received_at,
		 const char *checkpoint_note, const audit_proof *consistency,
		 uint8_t **out, size_t *out_len, accord_error *e)
{
	receipt_batch *b;
	size_t i;
	int rc = receipt_batch_new(&b, e);

	if (rc == 0)
		rc = receipt_batch_add(b, message_id, id_len, record_digest, &i, e);
	if (rc == 0)
		rc = receipt_batch_sign(b, signer, receiver, received_at, checkpoint_note, e);
	if (rc == 0)
		rc = receipt_batch_make(b, i, consistency, out, out_len, e);
	receipt_batch_free(b);
	return rc;
}

int receipt_consistency(audit *a, uint64_t witness_size, const char *checkpoint_note,
			audit_proof *out, accord_error *e)
{
	audit_note n;
	uint64_t size;
	size_t len = checkpoint_note ? strnlen(checkpoint_note, AUDIT_NOTE_MAX + 1) : 0;
	int rc;

	out->n = 0;
	if (!checkpoint_note || audit_note_parse(checkpoint_note, len, &n, NULL) != 0)
		return accord_fail(e, ACCORD_EINVAL, "the receipt's checkpoint is not a "
				   "checkpoint note");
	if (witness_size == 0 || witness_size == n.size)
		return 0;
	rc = audit_size(a, &size, e);
	if (rc != 0)
		return rc;
	if (witness_size > size)
		return accord_fail(e, ACCORD_EINCONSISTENT, "the sender holds a checkpoint "
				   "of this node's audit log at size %llu, but the log has "
				   "only %llu entries: entries were lost from it; restore "
				   "the store from a backup and tell the DPO",
				   (unsigned long long)witness_size, (unsigned long long)size);
	if (witness_size < n.size)
		return audit_consistency_proof(a, witness_size, n.size, out, e);
	return audit_consistency_proof(a, n.size, witness_size, out, e);
}

int receipt_reprove(audit *a, const uint8_t *receipt, size_t len,
		    uint64_t witness_size, uint8_t **out, size_t *out_len,
		    accord_error *e)
{
	Accord__Envelope__Receipt *r;
	audit_proof p;
	char *note;
	int rc;

	if (len > RECEIPT_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "a stored receipt is over %zu bytes",
				   RECEIPT_MAX);
	r = accord__envelope__receipt__unpack(NULL, len, receipt);
	if (!r)
		return accord_fail(e, ACCORD_EINVAL, "a stored receipt is not a Receipt "
				   "message");
	note = r->checkpoint.len <= AUDIT_NOTE_MAX ?
	       strndup((const char *)r->checkpoint.data, r->checkpoint.len) : NULL;
	if (!note)
		rc = accord_fail(e, ACCORD_EINVAL, "a stored receipt has no checkpoint");
	else
		rc = receipt_consistency(a, witness_size, note, &p, e);
	if (rc == 0)
		rc = repack(r, &p, out, out_len, e);
	accord__envelope__receipt__free_unpacked(r, NULL);
	free(note);
	return rc;
}

void receipt_info_free(receipt_info *r)
{
	if (!r)
		return;
	witness_checkpoint_free(&r->checkpoint);
	free(r->kept);
	memset(r, 0, sizeof *r);
}

static bool bytes_eq(const ProtobufCBinaryData *b, const uint8_t *want, size_t len)
{
	return b->len == len && memcmp(b->data, want, len) == 0;
}

static int check_fields(const Accord__Envelope__Receipt *r, const receipt_expect *x,
			accord_error *e)
{
	char hex[2 * RECEIPT_ID_MAX + 1];

	if (x->id_len == 0 || x->id_len > RECEIPT_ID_MAX)
		return accord_fail(e, ACCORD_EINVAL, "a message id is 1 to %d bytes",
				   RECEIPT_ID_MAX);
	crypto_hex(x->message_id, x->id_len, hex);
	if (!bytes_eq(&r->message_id, x->message_id, x->id_len))
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' for message %s "
				   "names another message", x->receiver, hex);
	if (!bytes_eq(&r->record_digest, x->record_digest, CRYPTO_SHA256_LEN))
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' for message %s "
				   "acknowledges other record bytes than were sent",
				   x->receiver, hex);
	if (!r->receiver || strcmp(r->receiver, x->receiver) != 0)
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' for message %s "
				   "names another receiver", x->receiver, hex);
	if (r->signature.len != CRYPTO_ED25519_SIG_LEN)
		return accord_fail(e, ACCORD_ESIG, "the receipt from '%s' for message %s "
				   "has no Ed25519 signature", x->receiver, hex);
	return 0;
}

/* The receipt's leaf under its batch's root, by its inclusion proof. */
static int check_batch(const Accord__Envelope__Receipt *r, const receipt_expect *x,
		       accord_error *e)
{
	uint8_t leaf[AUDIT_HASH_LEN];
	audit_proof p;

	if (r->batch_size == 0 || r->batch_size > RECEIPT_BATCH_MAX ||
	    r->batch_index >= r->batch_size || r->batch_root.len != AUDIT_HASH_LEN ||
	    r->n_batch_proof > AUDIT_PROOF_MAX)
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' does not say "
				   "which batch of receipts it is in", x->receiver);
	p.n = r->n_batch_proof;
	for (size_t i = 0; i < p.n; i++) {
		if (r->batch_proof[i].len != AUDIT_HASH_LEN)
			return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' has a "
					   "batch proof hash of %zu bytes", x->receiver,
					   r->batch_proof[i].len);
		memcpy(p.hash[i], r->batch_proof[i].data, AUDIT_HASH_LEN);
	}
	if (leaf_hash(r->message_id.data, r->message_id.len, r->record_digest.data,
		      r->record_digest.len, leaf) != 0)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	if (!audit_inclusion_verify(leaf, r->batch_index, r->batch_size, &p,
				    r->batch_root.data))
		return accord_fail(e, ACCORD_ESIG, "the receipt from '%s' is not in the "
				   "batch of receipts it names: it was forged or altered",
				   x->receiver);
	return 0;
}

static int check_signature(const Accord__Envelope__Receipt *r, const receipt_expect *x,
			   const uint8_t hash[CRYPTO_SHA256_LEN], accord_error *e)
{
	if (!crypto_ed25519_verify(x->receiver_key, hash, CRYPTO_SHA256_LEN, r->signature.data))
		return accord_fail(e, ACCORD_ESIG, "the receipt from '%s' is not signed by "
				   "its signing key in the protocol: it was forged or "
				   "altered", x->receiver);
	return 0;
}

/* The checkpoint: signed by the receiver, of its log; into out. */
static int check_checkpoint(const Accord__Envelope__Receipt *r, const receipt_expect *x,
			    bool verified, witness_checkpoint *out, accord_error *e)
{
	char origin[AUDIT_NAME_MAX];
	accord_error why = { 0 };
	audit_note n;
	int rc;

	if (x->origin) {
		if (strlen(x->origin) >= sizeof origin)
			return accord_fail(e, ACCORD_EINVAL, "a log origin is shorter "
					   "than %d bytes", AUDIT_NAME_MAX);
		memcpy(origin, x->origin, strlen(x->origin) + 1);
	} else if (audit_origin(x->receiver, origin) != 0) {
		return accord_fail(e, ACCORD_EINVAL, "'%s' is not a partner id", x->receiver);
	}
	/* A note whose signature verified in this batch's receipts before
	 * is only parsed again. */
	rc = verified ? audit_note_parse((const char *)r->checkpoint.data, r->checkpoint.len,
					 &n, &why) :
	     audit_note_verify((const char *)r->checkpoint.data, r->checkpoint.len,
			       x->receiver_key, &n, &why);
	if (rc == ACCORD_ESIG || rc == ACCORD_ENOMEM)
		return accord_fail(e, rc, "the receipt from '%s': %s", x->receiver,
				   accord_error_msg(&why));
	if (rc != 0)
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' carries a "
				   "malformed checkpoint: %s", x->receiver,
				   accord_error_msg(&why));
	if (strcmp(n.origin, origin) != 0)
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' carries a "
				   "checkpoint of the log '%s', not of '%s'", x->receiver,
				   n.origin, origin);
	/* The note holds no NUL (audit_note_parse refuses control bytes). */
	out->note = strndup((const char *)r->checkpoint.data, r->checkpoint.len);
	if (!out->note)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	out->note_len = r->checkpoint.len;
	out->size = n.size;
	memcpy(out->root, n.root, AUDIT_HASH_LEN);
	return 0;
}

static int load_proof(const Accord__Envelope__Receipt *r, const receipt_expect *x,
		      audit_proof *p, accord_error *e)
{
	if (r->n_consistency > AUDIT_PROOF_MAX)
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' has a "
				   "consistency proof of more than %d hashes",
				   x->receiver, AUDIT_PROOF_MAX);
	p->n = r->n_consistency;
	for (size_t i = 0; i < p->n; i++) {
		if (r->consistency[i].len != AUDIT_HASH_LEN)
			return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' has a "
					   "consistency proof hash of %zu bytes",
					   x->receiver, r->consistency[i].len);
		memcpy(p->hash[i], r->consistency[i].data, AUDIT_HASH_LEN);
	}
	return 0;
}

/* The new checkpoint against the one held, if any; sets out->advances. */
static int check_consistency(const audit_proof *p, const receipt_expect *x,
			     receipt_info *out, accord_error *e)
{
	const witness_checkpoint *h = x->held, *c = &out->checkpoint;
	char was[CRYPTO_B64_LEN(AUDIT_HASH_LEN)], now[CRYPTO_B64_LEN(AUDIT_HASH_LEN)];

	out->advances = !h || c->size > h->size;
	if (!h || h->size == 0)
		return 0;
	if (c->size > h->size && audit_consistency_verify(h->size, h->root, c->size,
							   c->root, p))
		return 0;
	if (c->size <= h->size && audit_consistency_verify(c->size, c->root, h->size,
							    h->root, p))
		return 0;
	if (c->size < h->size)
		return accord_fail(e, ACCORD_EINCONSISTENT, "the audit log of '%s' shrank "
				   "from %llu to %llu entries: its new checkpoint does "
				   "not prove the one held a continuation of it",
				   x->receiver, (unsigned long long)h->size,
				   (unsigned long long)c->size);
	crypto_b64_encode(h->root, AUDIT_HASH_LEN, was);
	crypto_b64_encode(c->root, AUDIT_HASH_LEN, now);
	if (c->size == h->size)
		return accord_fail(e, ACCORD_EINCONSISTENT, "the audit log of '%s' forked: "
				   "at size %llu its root was %s, now %s", x->receiver,
				   (unsigned long long)h->size, was, now);
	return accord_fail(e, ACCORD_EINCONSISTENT, "the audit log of '%s' forked: its "
			   "checkpoint at size %llu does not extend the one held at "
			   "size %llu (root %s): the log was rewritten, or the "
			   "receipt's consistency proof is wrong", x->receiver,
			   (unsigned long long)c->size, (unsigned long long)h->size, was);
}

/* The cache's verdicts for r (see receipt_cache): whether its batch was
 * verified, and whether its checkpoint is known consistent with x->held. */
static bool cache_hit(const receipt_cache *c, const receipt_expect *x,
		      const Accord__Envelope__Receipt *r, const uint8_t header[CRYPTO_SHA256_LEN])
{
	return c && c->valid && memcmp(c->header, header, CRYPTO_SHA256_LEN) == 0 &&
	       memcmp(c->key, x->receiver_key, CRYPTO_ED25519_PUB_LEN) == 0 &&
	       memcmp(c->sig, r->signature.data, CRYPTO_ED25519_SIG_LEN) == 0;
}

static bool cache_consistent(const receipt_cache *c, const receipt_expect *x)
{
	const witness_checkpoint *h = x->held;

	if (!c->consistent || c->held_size != (h ? h->size : 0))
		return false;
	return !h || memcmp(c->held_root, h->root, AUDIT_HASH_LEN) == 0;
}

static void cache_keep(receipt_cache *c, const receipt_expect *x,
		       const Accord__Envelope__Receipt *r,
		       const uint8_t header[CRYPTO_SHA256_LEN], bool consistent)
{
	c->valid = true;
	memcpy(c->header, header, CRYPTO_SHA256_LEN);
	memcpy(c->sig, r->signature.data, CRYPTO_ED25519_SIG_LEN);
	memcpy(c->key, x->receiver_key, CRYPTO_ED25519_PUB_LEN);
	c->consistent = consistent;
	c->held_size = x->held ? x->held->size : 0;
	if (x->held)
		memcpy(c->held_root, x->held->root, AUDIT_HASH_LEN);
}

int receipt_check(const uint8_t *bytes, size_t len, const receipt_expect *x,
		  receipt_cache *cache, receipt_info *out, accord_error *e)
{
	Accord__Envelope__Receipt *r;
	uint8_t header[CRYPTO_SHA256_LEN];
	accord_error why = { 0 };
	bool hit = false;
	audit_proof p;
	int rc;

	memset(out, 0, sizeof *out);
	if (!x || !x->message_id || !x->record_digest || !x->receiver ||
	    !x->receiver_key || !protocol_id_ok(x->receiver))
		return accord_fail(e, ACCORD_EINVAL, "checking a receipt needs the message "
				   "id, record digest, receiver id and key");
	if (len > RECEIPT_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "the receipt from '%s' is %zu bytes, "
				   "over the limit of %zu", x->receiver, len, RECEIPT_MAX);
	r = accord__envelope__receipt__unpack(NULL, len, bytes);
	if (!r)
		return accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' is not a "
				   "Receipt message", x->receiver);
	rc = record_exact(&r->base, bytes, len, "the receipt", &why);
	if (rc != 0)
		rc = accord_fail(e, ACCORD_EINVAL, "the receipt from '%s' is refused: %s",
				 x->receiver, accord_error_msg(&why));
	if (rc == 0)
		rc = check_fields(r, x, e);
	if (rc == 0)
		rc = check_batch(r, x, e);
	if (rc == 0 && signed_hash(r->receiver, r->received_at, &r->checkpoint, r->batch_size,
				   r->batch_root.data, header) != 0)
		rc = accord_fail(e, ACCORD_ENOMEM, "out of memory");
	if (rc == 0) {
		hit = cache_hit(cache, x, r, header);
		if (!hit)
			rc = check_signature(r, x, header, e);
	}
	if (rc == 0)
		rc = check_checkpoint(r, x, hit, &out->checkpoint, e);
	if (rc == 0 && hit && cache_consistent(cache, x)) {
		const witness_checkpoint *h = x->held;

		out->advances = !h || out->checkpoint.size > h->size;
	} else {
		if (rc == 0)
			rc = load_proof(r, x, &p, e);
		if (rc == 0)
			rc = check_consistency(&p, x, out, e);
		if (cache && (rc == 0 || rc == ACCORD_EINCONSISTENT))
			cache_keep(cache, x, r, header, rc == 0);
	}
	out->received_at = r->received_at;
	if (rc == 0)
		rc = repack(r, NULL, &out->kept, &out->kept_len, e);
	accord__envelope__receipt__free_unpacked(r, NULL);
	if (rc != 0)
		receipt_info_free(out);
	return rc;
}
