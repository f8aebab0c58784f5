/*
 * forge.c - a test client's envelope, made without the node's decision or
 * minimisation, to show that a receiver refuses what a sender should never
 * have sent: forge PROTOCOL FROM TO RULE TYPE RECORD.json [wrong-digest]
 * writes the packed Envelope to stdout.
 */
#include <unistd.h>

#include "accord/crypto.h"
#include "accord/fs.h"
#include "accord/protocol.h"
#include "accord/record.h"
#include "envelope.pb-c.h"

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
