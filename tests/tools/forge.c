/*
 * forge.c - a test client's envelope, made without the node's decision or
 * minimisation, to show that a receiver refuses what a sender should never
 * have sent: forge [--id HEX] PROTOCOL FROM TO RULE TYPE RECORD.json
 * [wrong-digest] writes the packed Envelope to stdout, with message id HEX
 * (32 hex digits, for an id another envelope already has) or a random one.
 * --text FIELD HEX (before the arguments) then sets the envelope's string
 * field FIELD ("sender", "rule_id", ...) to the bytes HEX, whether UTF-8
 * or not, 00 included (put in after packing: a C string ends there).
 * --nul (likewise) turns each 7f byte of the packed record into 00, for a
 * record string holding a NUL (written \u007f in RECORD.json).
 *
 * forge --delivery [--repeat N] ENVELOPE.bin... writes a Delivery of those
 * envelopes, the list N times over (once without --repeat); forge --answer
 * reads a DeliveryAnswer on stdin and prints one line a result:
 * "N STATUS receipt|ERROR".
 */
#include <unistd.h>

#include "accord/crypto.h"
#include "accord/fs.h"
#include "accord/protocol.h"
#include "accord/record.h"
#include "envelope.pb-c.h"

#define FORGE_MAX_FILES 64
#define FORGE_MAX_REPEAT 100000

static int delivery(int argc, char **argv)
{
	Accord__Envelope__Delivery d = ACCORD__ENVELOPE__DELIVERY__INIT;
	ProtobufCBinaryData files[FORGE_MAX_FILES];
	unsigned long repeat = 1;
	uint8_t *out = NULL;
	size_t len;
	int rc = 1, n = 0;

	if (argc > 1 && strcmp(argv[0], "--repeat") == 0) {
		char *end;

		repeat = strtoul(argv[1], &end, 10);
		if (*end || repeat < 1 || repeat > FORGE_MAX_REPEAT) {
			fprintf(stderr, "forge: --repeat takes 1 to %d, not '%s'\n",
				FORGE_MAX_REPEAT, argv[1]);
			return 2;
		}
		argc -= 2;
		argv += 2;
	}
	if (argc > FORGE_MAX_FILES)
		return 2;
	for (; n < argc; n++) {
		char *b;

		if (fs_read_file(argv[n], 1 << 20, &b, &len, NULL) != 0)
			goto out;
		files[n] = (ProtobufCBinaryData){ len, (uint8_t *)b };
	}
	d.n_envelopes = (size_t)argc * repeat;
	d.envelopes = calloc(d.n_envelopes ? d.n_envelopes : 1, sizeof *d.envelopes);
	if (!d.envelopes)
		goto out;
	for (size_t i = 0; i < d.n_envelopes; i++)
		d.envelopes[i] = files[i % (size_t)argc];
	len = accord__envelope__delivery__get_packed_size(&d);
	out = malloc(len ? len : 1);
	if (!out)
		goto out;
	accord__envelope__delivery__pack(&d, out);
	rc = fwrite(out, 1, len, stdout) == len ? 0 : 1;
out:
	free(out);
	free(d.envelopes);
	while (n-- > 0)
		free(files[n].data);
	return rc;
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

/* --text FIELD HEX: the bytes HEX, and the same with each 00 as 01 (a C
 * string) set as string field FIELD of env. */
struct text {
	uint8_t *bytes;
	char *str;
	size_t len;
};

static int set_text(Accord__Envelope__Envelope *env, const char *field, const char *hex,
		    struct text *t)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(env->base.descriptor, field);

	t->bytes = malloc(strlen(hex) / 2 + 1);
	t->str = malloc(strlen(hex) / 2 + 1);
	if (!f || f->type != PROTOBUF_C_TYPE_STRING || !t->bytes || !t->str ||
	    crypto_hex_decode(hex, t->bytes, strlen(hex) / 2, &t->len) != 0) {
		fprintf(stderr, "forge: --text takes a string field of an Envelope and hex, "
			"not '%s' '%s'\n", field, hex);
		return 2;
	}
	for (size_t i = 0; i < t->len; i++)
		t->str[i] = t->bytes[i] ? (char)t->bytes[i] : '\x01';
	t->str[t->len] = '\0';
	*(char **)(void *)((char *)env + f->offset) = t->str;
	return 0;
}

/* The NULs of t back into the packed envelope out (len bytes). */
static int put_nuls(uint8_t *out, size_t len, const struct text *t)
{
	uint8_t *at;

	if (!t->len || !memchr(t->bytes, 0, t->len))
		return 0;
	at = memmem(out, len, t->str, t->len);
	if (!at) {
		fprintf(stderr, "forge: cannot find the --text bytes in the envelope\n");
		return 1;
	}
	memcpy(at, t->bytes, t->len);
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
	const char *text_field = NULL, *text_hex = NULL;
	struct text text = { 0 };
	size_t len, n;
	bool have_id = false, nul = false;
	accord_error e = { 0 };

	if (argc > 1 && strcmp(argv[1], "--delivery") == 0)
		return delivery(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "--answer") == 0)
		return answer();
	if (argc > 2 && strcmp(argv[1], "--id") == 0) {
		if (crypto_hex_decode(argv[2], id, sizeof id, &len) != 0 || len != sizeof id) {
			fprintf(stderr, "forge: --id takes 32 hex digits, not '%s'\n", argv[2]);
			return 2;
		}
		have_id = true;
		argc -= 2;
		argv += 2;
	}
	if (argc > 3 && strcmp(argv[1], "--text") == 0) {
		text_field = argv[2];
		text_hex = argv[3];
		argc -= 3;
		argv += 3;
	}
	if (argc > 1 && strcmp(argv[1], "--nul") == 0) {
		nul = true;
		argc--;
		argv++;
	}
	if (argc < 7) {
		fprintf(stderr, "usage: forge [--id HEX] [--text FIELD HEX] [--nul] PROTOCOL "
			"FROM TO RULE TYPE RECORD.json [wrong-digest]\n");
		return 2;
	}
	if (protocol_load(argv[1], &p, &d) != 0 || !(r = protocol_rule_find(p, argv[4])) ||
	    !(t = record_type_find(argv[5])) ||
	    fs_read_file(argv[6], RECORD_JSON_MAX_BYTES, &json, &len, &e) != 0 ||
	    record_from_json_text(t, json, len, &rec, &e) != 0 ||
	    (!have_id && crypto_random(id, sizeof id) != 0)) {
		fprintf(stderr, "forge: cannot build the envelope: %s\n", accord_error_msg(&e));
		return 1;
	}
	n = protobuf_c_message_get_packed_size(rec);
	rbytes = malloc(n + 1);
	protobuf_c_message_pack(rec, rbytes);
	for (size_t i = 0; nul && i < n; i++)
		if (rbytes[i] == 0x7f)
			rbytes[i] = 0;
	memcpy(digest, protocol_digest(p), sizeof digest);
	if (argc > 7)
		digest[0] ^= 1;
	env.message_id = (ProtobufCBinaryData){ sizeof id, id };
	env.protocol_id = (char *)protocol_id(p);
	env.protocol_version = (uint64_t)protocol_version(p);
	env.protocol_digest = (ProtobufCBinaryData){ sizeof digest, digest };
	env.rule_id = (char *)r->id;
	env.purpose = (char *)r->purpose;
	env.sender = argv[2];
	env.recipient = argv[3];
	env.record_type = argv[5];
	env.record = (ProtobufCBinaryData){ n, rbytes };
	if (text_field && set_text(&env, text_field, text_hex, &text) != 0)
		return 2;
	len = accord__envelope__envelope__get_packed_size(&env);
	out = malloc(len);
	accord__envelope__envelope__pack(&env, out);
	if (put_nuls(out, len, &text) != 0 || fwrite(out, 1, len, stdout) != len)
		return 1;
	free(out);
	free(text.bytes);
	free(text.str);
	free(rbytes);
	free(json);
	record_free(rec);
	protocol_close(p);
	return 0;
}
