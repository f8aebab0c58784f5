/*
 * bench_decide.c - decisions plus minimisations a second on the example
 * referral, beside a bare protobuf pack + unpack of the same full record.
 *
 * One operation is what a node does before a disclosure: decide
 * police -> council for reintegration-referral on a Referral, minimise the
 * record under the rule, pack the minimised record (what would go in the
 * envelope), free it. The baseline packs the full referral and unpacks it
 * again. Both run for about 1.5 s in this process; one JSON line out.
 */
#include <time.h>

#include "accord/fs.h"
#include "accord/policy.h"
#include "accord/record.h"

#define RUN_SECONDS 1.5

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

struct ctx {
	const policy *pl;
	const policy_request *rq;
	const ProtobufCMessage *ref;
	uint8_t *buf;
};

static int op_decide(const struct ctx *c)
{
	policy_decision dn;
	ProtobufCMessage *min;

	if (policy_decide(c->pl, c->rq, &dn) != 0 ||
	    record_minimise(dn.selection, c->ref, &min, NULL, NULL) != 0)
		return -1;
	sink += protobuf_c_message_pack(min, c->buf);
	record_free(min);
	return 0;
}

static int op_baseline(const struct ctx *c)
{
	size_t len = protobuf_c_message_pack(c->ref, c->buf);
	ProtobufCMessage *m = protobuf_c_message_unpack(c->ref->descriptor, NULL, len, c->buf);

	if (!m)
		return -1;
	sink += len;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* Operations a second of op, in batches, for about RUN_SECONDS. */
static double rate(int (*op)(const struct ctx *), const struct ctx *c)
{
	double start = now(), t;
	unsigned long n = 0;

	for (int i = 0; i < 10000; i++) /* warm up */
		if (op(c) != 0)
			return -1;
	start = now();
	do {
		for (int i = 0; i < 10000; i++)
			if (op(c) != 0)
				return -1;
		n += 10000;
		t = now() - start;
	} while (t < RUN_SECONDS);
	return (double)n / t;
}

static int load(const char *src, protocol **p, protocol_sigs **s, ProtobufCMessage **ref)
{
	char path[4096], *text;
	protocol_diags d;
	accord_error e = { 0 };
	size_t len;
	int rc;

	if (fs_path(path, sizeof path, "%s/policies/examples/eastshire.yaml", src) != 0 ||
	    protocol_load(path, p, &d) != 0 || protocol_sigs_load(*p, path, s, &d) != 0) {
		fprintf(stderr, "bench_decide: cannot load the example protocol from %s\n", src);
		return -1;
	}
	if (fs_path(path, sizeof path, "%s/policies/examples/referral.json", src) != 0 ||
	    fs_read_file(path, RECORD_JSON_MAX_BYTES, &text, &len, &e) != 0) {
		fprintf(stderr, "bench_decide: %s\n", accord_error_msg(&e));
		return -1;
	}
	rc = record_from_json_text(record_type_find("Referral"), text, len, ref, &e);
	free(text);
	if (rc != 0)
		fprintf(stderr, "bench_decide: %s\n", accord_error_msg(&e));
	return rc;
}

int main(void)
{
	const char *src = getenv("SRCDIR");
	protocol *p = NULL;
	protocol_sigs *s = NULL;
	policy *pl = NULL;
	ProtobufCMessage *ref = NULL;
	accord_error e = { 0 };
	policy_request rq = {
		.from = "police", .to = "council", .purpose = "reintegration-referral",
		.record_type = "Referral", .case_state = POLICY_CASE_NONE,
	};
	struct ctx c;
	double v, base;
	int status = 1;

	if (load(src ? src : ".", &p, &s, &ref) != 0)
		goto out;
	if (policy_open(p, s, &pl, &e) != 0) {
		fprintf(stderr, "bench_decide: %s\n", accord_error_msg(&e));
		goto out;
	}
	if (date_parse("2026-11-05", &rq.day) != 0)
		goto out;
	rq.record = ref;
	c = (struct ctx){ .pl = pl, .rq = &rq, .ref = ref,
			  .buf = malloc(protobuf_c_message_get_packed_size(ref)) };
	if (!c.buf)
		goto out;
	v = rate(op_decide, &c);
	base = rate(op_baseline, &c);
	free(c.buf);
	if (v < 0 || base <= 0) {
		fprintf(stderr, "bench_decide: an operation failed\n");
		goto out;
	}
	printf("{\"bench\":\"decide\",\"value\":%.0f,\"unit\":\"ops/s\","
	       "\"baseline\":\"protobuf_pack_unpack\",\"baseline_value\":%.0f,"
	       "\"ratio\":%.3f}\n", v, base, v / base);
	status = 0;
out:
	record_free(ref);
	policy_close(pl);
	protocol_sigs_free(s);
	protocol_close(p);
	return status;
}
