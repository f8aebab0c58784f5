/*
 * fuzz_delivery.c - libFuzzer target: a Delivery as node_receive_batch
 * takes it, without a node. The bytes are unpacked within the Delivery's
 * limits; each envelope is checked against a small body limit (so that the
 * 413 of one envelope is reached) and answered as a stand-in for the node
 * would: 413 or 422 with a reason (which may carry the envelope's own
 * bytes, as the node's reasons do), or 200 with the envelope itself as
 * the receipt. Half the envelopes are answered before the Delivery is closed,
 * the rest after, last first, as the group commit answers them out of
 * order. The DeliveryAnswer must come once, after the last answer, with
 * one result an envelope, in order, each as it was answered.
 *
 * The seeds are Deliveries of the envelope seeds, made with the test tool
 * (after `make build-tests`), e.g.:
 *
 *   build/tests/tools/forge --delivery tests/fuzz/corpus/envelope/a.bin ... \
 *     >tests/fuzz/corpus/delivery/NAME.bin
 */
#include "../../node/node_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CAP 512            /* the node's body limit, small */

/* What the DeliveryAnswer was, once it came. */
struct got {
	int calls;
	int status;
	uint8_t *bytes;
	size_t len;
};

static void got_answer(const node_reply *r, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->status = r->status;
	if (r->len) {
		g->bytes = malloc(r->len);
		if (!g->bytes)
			abort();
		memcpy(g->bytes, r->bytes, r->len);
	}
	g->len = r->len;
	json_decref(r->json);
}

/* The answer envelope i gets: its status, and its reason in why or its
 * receipt in *receipt (b itself). */
static int expect(const ProtobufCBinaryData *b, size_t i, char *why, size_t size,
		  ProtobufCBinaryData *receipt)
{
	Accord__Envelope__Envelope *env;
	int status = node_delivery_envelope_check(b, i, FUZZ_CAP, why, size);

	*receipt = (ProtobufCBinaryData){ 0, NULL };
	if (status != 0)
		return status;
	env = accord__envelope__envelope__unpack(NULL, b->len, b->data);
	if (!env)
		return snprintf(why, size, "the body is not an Envelope"), 422;
	if (env->message_id.len == STATE_ID_LEN) {
		status = 200;
		*receipt = *b;
	} else {
		status = 422;
		snprintf(why, size, "message_id must be 16 bytes (from '%s')", env->sender);
	}
	protobuf_c_message_free_unpacked(&env->base, NULL);
	return status;
}

static void answer_one(struct delivery *d, const ProtobufCBinaryData *b, size_t i)
{
	char why[300];
	ProtobufCBinaryData receipt;
	node_reply r = { .status = expect(b, i, why, sizeof why, &receipt) };

	if (r.status == 200) {
		r.bytes = receipt.data;
		r.len = receipt.len;
	} else {
		r.json = json_pack("{s:s}", "error", why);   /* NULL when not UTF-8 */
	}
	node_delivery_collect(&r, node_delivery_slot(d, i));
}

/* The DeliveryAnswer holds each envelope's answer, in order. */
static void check_answer(const Accord__Envelope__Delivery *dv, const struct got *g)
{
	Accord__Envelope__DeliveryAnswer *a;

	if (g->calls != 1 || g->status != 200)
		__builtin_trap();
	a = accord__envelope__delivery_answer__unpack(NULL, g->len, g->bytes);
	if (!a || a->n_results != dv->n_envelopes)
		__builtin_trap();
	for (size_t i = 0; i < a->n_results; i++) {
		const Accord__Envelope__DeliveryAnswer__Result *res = a->results[i];
		char why[300];
		ProtobufCBinaryData receipt;
		int status = expect(&dv->envelopes[i], i, why, sizeof why, &receipt);
		json_t *j = status == 200 ? NULL : json_string(why);

		if (res->status != (uint32_t)status ||
		    strcmp(res->error, j ? why : "") != 0 ||
		    res->receipt.len != receipt.len ||
		    (receipt.len && memcmp(res->receipt.data, receipt.data, receipt.len) != 0))
			__builtin_trap();
		json_decref(j);
	}
	accord__envelope__delivery_answer__free_unpacked(a, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Accord__Envelope__Delivery *dv;
	struct delivery *d;
	struct got g = { 0 };
	char why[200];
	int status = node_delivery_unpack(data, size, &dv, why, sizeof why);
	size_t n;

	if (status != 0) {
		/* the whole request refused: not a Delivery, or too many */
		if (dv || (status != 422 && status != 413) ||
		    (status == 413 && strncmp(why, "a delivery holds at most", 24) != 0))
			__builtin_trap();
		return 0;
	}
	n = dv->n_envelopes;
	if (n > NODE_DELIVERY_MAX)
		__builtin_trap();
	d = node_delivery_new(n, got_answer, &g);
	if (!d)
		abort();
	for (size_t i = 0; i < n; i += 2)
		answer_one(d, &dv->envelopes[i], i);
	node_delivery_close(d);
	for (size_t i = n; i-- > 0;) {
		if (i % 2 == 0)
			continue;
		if (g.calls != 0)
			__builtin_trap();      /* answered before the last envelope */
		answer_one(d, &dv->envelopes[i], i);
	}
	check_answer(dv, &g);
	free(g.bytes);
	accord__envelope__delivery__free_unpacked(dv, NULL);
	return 0;
}
