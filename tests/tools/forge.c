/*
 * forge.c - a test client's envelope, made without the node's decision or
 * minimisation, to show that a receiver refuses what a sender should never
 * have sent: forge PROTOCOL FROM TO RULE TYPE RECORD.json [wrong-digest]
 * writes the packed Envelope to stdout.
 *
 * forge --delivery ENVELOPE.bin... writes a Delivery of those envelopes;
 * forge --answer reads a DeliveryAnswer on stdin and prints one line a
 * result: "N STATUS receipt|ERROR".
 */
#include <unistd.h>

#include "accord/crypto.h"
#include "accord/fs.h"
#include "accord/protocol.h"
#include "accord/record.h"
#include "envelope.pb-c.h"

static int delivery(int argc, char **argv)
{
	Accord__Envelope__Delivery d = ACCORD__ENVELOPE__DELIVERY__INIT;
	ProtobufCBinaryData envs[64];
	uint8_t *out;
	size_t len;

	if (argc > 64)
		return 2;
	for (int i = 0; i < argc; i++) {
		char *b;

		if (fs_read_file(argv[i], 1 << 20, &b, &len, NULL) != 0)
			return 1;
		envs[i] = (ProtobufCBinaryData){ len, (uint8_t *)b };
	}
	d.n_envelopes = (size_t)argc;
	d.envelopes = envs;
	len = accord__envelope__delivery__get_packed_size(&d);
	out = malloc(len ? len : 1);
	accord__envelope__delivery__pack(&d, out);
	if (fwrite(out, 1, len, stdout) != len)
		return 1;
	for (int i = 0; i < argc; i++)
		free(envs[i].data);
	free(out);
	return 0;
}

static int answer(void)
{
	static uint8_t buf[8 << 20];
	size_t len = fread(buf, 1, sizeof buf, stdin);
	Accord__Envelope__DeliveryAnswer *a =
		accord__envelope__delivery_answer__unpack(NULL, len, buf);

	if (!a) {
		fprintf(stderr, "forge: not a DeliveryAnswer (%zu bytes)\n", len);
		return 1;
	}
	for (size_t i = 0; i < a->n_results; i++)
		printf("%zu %u %s\n", i, a->results[i]->status,
		       a->results[i]->status == 200 && a->results[i]->receipt.len ? "receipt" :
		       a->results[i]->error);
	accord__envelope__delivery_answer__free_unpacked(a, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	Accord__Envelope__Envelope env = ACCORD__ENVELOPE__ENVELOPE__INIT;
	protocol_diags d;
	protocol *p;
	const protocol_rule *r;
	const ProtobufCMessageDescriptor *t;
	ProtobufCMessage *rec;
	uint8_t id[16], digest[CRYPTO_SHA256_LEN], *rbytes, *out;
	char *json;
	size_t len, n;
	accord_error e = { 0 };

	if (argc > 1 && strcmp(argv[1], "--delivery") == 0)
		return delivery(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "--answer") == 0)
		return answer();
	if (argc < 7) {
		fprintf(stderr, "usage: forge PROTOCOL FROM TO RULE TYPE RECORD.json [wrong-digest]\n");
		return 2;
	}
	if (protocol_load(argv[1], &p, &d) != 0 || !(r = protocol_rule_find(p, argv[4])) ||
	    !(t = record_type_find(argv[5])) ||
	    fs_read_file(argv[6], RECORD_JSON_MAX_BYTES, &json, &len, &e) != 0 ||
	    record_from_json_text(t, json, len, &rec, &e) != 0 || crypto_random(id, 16) != 0) {
		fprintf(stderr, "forge: cannot build the envelope: %s\n", accord_error_msg(&e));
		return 1;
	}
	n = protobuf_c_message_get_packed_size(rec);
	rbytes = malloc(n + 1);
	protobuf_c_message_pack(rec, rbytes);
	memcpy(digest, protocol_digest(p), sizeof digest);
	if (argc > 7)
		digest[0] ^= 1;
	env.message_id = (ProtobufCBinaryData){ 16, id };
	env.protocol_id = (char *)protocol_id(p);
	env.protocol_version = (uint64_t)protocol_version(p);
	env.protocol_digest = (ProtobufCBinaryData){ sizeof digest, digest };
	env.rule_id = (char *)r->id;
	env.purpose = (char *)r->purpose;
	env.sender = argv[2];
	env.recipient = argv[3];
	env.record_type = argv[5];
	env.record = (ProtobufCBinaryData){ n, rbytes };
	len = accord__envelope__envelope__get_packed_size(&env);
	out = malloc(len);
	accord__envelope__envelope__pack(&env, out);
	if (fwrite(out, 1, len, stdout) != len)
		return 1;
	free(out);
	free(rbytes);
	free(json);
	record_free(rec);
	protocol_close(p);
	return 0;
}
