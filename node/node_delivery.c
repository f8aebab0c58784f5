/*
 * node_delivery.c - a Delivery of many envelopes in one request, without
 * the node: unpacking it within its limits, and collecting the answers of
 * its envelopes into one DeliveryAnswer. node_receive_batch (node_recv.c)
 * receives each envelope between the two.
 */
#include "node_int.h"

int node_delivery_unpack(const void *body, size_t len, Accord__Envelope__Delivery **out,
			 char *why, size_t size)
{
	Accord__Envelope__Delivery *dv = accord__envelope__delivery__unpack(NULL, len, body);
	accord_error e = { 0 };

	*out = NULL;
	if (!dv)
		return snprintf(why, size, "the body is not a Delivery"), 422;
	if (record_exact(&dv->base, body, len, "the delivery", &e) != 0) {
		snprintf(why, size, "%s", accord_error_msg(&e));
		accord__envelope__delivery__free_unpacked(dv, NULL);
		return 422;
	}
	if (dv->n_envelopes > NODE_DELIVERY_MAX) {
		snprintf(why, size, "a delivery holds at most %d envelopes, not %zu",
			 NODE_DELIVERY_MAX, dv->n_envelopes);
		accord__envelope__delivery__free_unpacked(dv, NULL);
		return 413;
	}
	*out = dv;
	return 0;
}

int node_delivery_envelope_check(const ProtobufCBinaryData *b, size_t i, size_t cap,
				 char *why, size_t size)
{
	if (b->len > cap)
		return snprintf(why, size, "envelope %zu is %zu bytes, over this node's limit "
				"of %zu", i, b->len, cap), 413;
	return 0;
}

/* The answers to one Delivery, collected as its envelopes are answered. */
struct delivery {
	node_reply_fn fn;
	void *arg;
	size_t n, left;             /* envelopes; answers still owed, plus one */
	Accord__Envelope__DeliveryAnswer__Result *res;
	Accord__Envelope__DeliveryAnswer__Result **ptrs;
	struct slot {
		struct delivery *d;
		size_t i;
	} *slots;
};

static void delivery_free(struct delivery *d)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->res[i].error != protobuf_c_empty_string)
			free(d->res[i].error);
		free(d->res[i].receipt.data);
	}
	free(d->res);
	free(d->ptrs);
	free(d->slots);
	free(d);
}

/* One answer fewer owed; with none left, the DeliveryAnswer goes out. */
static void delivery_step(struct delivery *d)
{
	Accord__Envelope__DeliveryAnswer a = ACCORD__ENVELOPE__DELIVERY_ANSWER__INIT;
	node_reply r = { .status = 200, .content_type = "application/x-protobuf" };
	uint8_t *buf;

	if (--d->left > 0)
		return;
	a.n_results = d->n;
	a.results = d->ptrs;
	r.len = accord__envelope__delivery_answer__get_packed_size(&a);
	buf = malloc(r.len ? r.len : 1);
	if (buf) {
		accord__envelope__delivery_answer__pack(&a, buf);
		r.bytes = buf;
	} else {
		r = (node_reply){ .status = 503,
				  .json = json_pack("{s:s}", "error", "out of memory") };
	}
	d->fn(&r, d->arg);
	free(buf);
	delivery_free(d);
}

void node_delivery_collect(const node_reply *r, void *slot)
{
	struct slot *sl = slot;
	Accord__Envelope__DeliveryAnswer__Result *res = &sl->d->res[sl->i];
	const char *why = r->json ? json_string_value(json_object_get(r->json, "error")) : NULL;

	res->status = (uint32_t)r->status;
	if (why) {
		char *copy = strdup(why);

		if (copy)
			res->error = copy;
	}
	if (r->status == 200 && r->bytes && (res->receipt.data = malloc(r->len)) != NULL) {
		memcpy(res->receipt.data, r->bytes, r->len);
		res->receipt.len = r->len;
	} else if (r->status == 200) {
		res->status = 503;      /* out of memory: the sender asks again */
	}
	json_decref(r->json);
	delivery_step(sl->d);
}

struct delivery *node_delivery_new(size_t n, node_reply_fn fn, void *arg)
{
	struct delivery *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->fn = fn;
	d->arg = arg;
	d->n = n;
	d->left = n + 1;
	d->res = calloc(n ? n : 1, sizeof *d->res);
	d->ptrs = calloc(n ? n : 1, sizeof(Accord__Envelope__DeliveryAnswer__Result *));
	d->slots = calloc(n ? n : 1, sizeof *d->slots);
	if (!d->res || !d->ptrs || !d->slots) {
		d->n = 0;
		delivery_free(d);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		accord__envelope__delivery_answer__result__init(&d->res[i]);
		d->ptrs[i] = &d->res[i];
		d->slots[i] = (struct slot){ d, i };
	}
	return d;
}

void *node_delivery_slot(struct delivery *d, size_t i)
{
	return &d->slots[i];
}

void node_delivery_close(struct delivery *d)
{
	delivery_step(d);
}
