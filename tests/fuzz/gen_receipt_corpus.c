/*
 * gen_receipt_corpus.c - write the seed receipts of fuzz_receipt into a
 * directory, and print the held root fuzz_receipt expects. Not built by
 * default; from the top directory, after `make`:
 *
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Ibuild/gen -o build/gen_receipt_corpus \
 *     tests/fuzz/gen_receipt_corpus.c build/libaccord.a \
 *     $(pkg-config --libs libssl libcrypto libprotobuf-c yaml-0.1 libcurl jansson lmdb)
 *   build/gen_receipt_corpus tests/fuzz/corpus/receipt
 *
 * The log is council's, five entries with fixed fields, signed with
 * policies/examples/test-keys/council/signing.key: the same bytes every
 * run (Ed25519 signatures are deterministic).
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accord/fs.h"
#include "accord/receipt.h"

static const uint8_t msg_id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t digest[32] = { 0xd1, 0x9e, 0x57 };

static void die(const char *what, const accord_error *e)
{
	fprintf(stderr, "gen_receipt_corpus: %s: %s\n", what, accord_error_msg(e));
	exit(1);
}

/* The test key, copied to a private file as crypto_signer_load wants. */
static crypto_signer *load_key(const char *tmp)
{
	char path[4096];
	accord_error e = { 0 };
	crypto_signer *s;
	char *pem;
	size_t len;

	if (fs_read_file("policies/examples/test-keys/council/signing.key", 4096, &pem,
			 &len, &e) != 0)
		die("reading the key", &e);
	snprintf(path, sizeof path, "%s/signing.key", tmp);
	if (fs_create_private(path, pem, len, &e) != 0 ||
	    crypto_signer_load(path, &s, &e) != 0)
		die("loading the key", &e);
	free(pem);
	unlink(path);
	return s;
}

static void seed(const char *dir, const char *name, const crypto_signer *s,
		 audit *a, uint64_t size, uint64_t witness_size)
{
	char path[4096], *note;
	uint8_t root[AUDIT_HASH_LEN], *bytes;
	audit_proof p;
	accord_error e = { 0 };
	size_t len;
	FILE *f;

	if (audit_root(a, size, root, &e) != 0 ||
	    audit_note_sign("accord.audit/council", size, root, s, &note, &e) != 0 ||
	    receipt_consistency(a, witness_size, note, &p, &e) != 0 ||
	    receipt_make(s, msg_id, sizeof msg_id, digest, "council", 1790000000, note,
			 &p, &bytes, &len, &e) != 0)
		die(name, &e);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_receipt_corpus: cannot write %s\n", path);
		exit(1);
	}
	free(bytes);
	free(note);
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/accord-seeds-XXXXXX";
	char root64[CRYPTO_B64_LEN(AUDIT_HASH_LEN)];
	uint8_t root[AUDIT_HASH_LEN];
	accord_error e = { 0 };
	crypto_signer *s;
	store *st;
	audit *a;

	if (argc != 2 || !mkdtemp(tmp))
		return 2;
	s = load_key(tmp);
	if (store_open(tmp, NULL, &st, &e) != 0 || audit_open(st, &a, &e) != 0)
		die("opening a log", &e);
	for (int i = 0; i < 5; i++) {
		audit_entry en = { .time_ms = 1790000000000 + i, .event = AUDIT_RECEIVED,
				   .from = "police", .to = "council",
				   .outcome = AUDIT_SUCCESS };

		if (audit_append(a, &en, NULL, &e) != 0)
			die("appending", &e);
	}
	seed(argv[1], "size2", s, a, 2, 2);        /* the one held: no proof */
	seed(argv[1], "size5_from2", s, a, 5, 2);  /* grown, proved */
	seed(argv[1], "size1_to2", s, a, 1, 2);    /* older, proved */
	seed(argv[1], "size5_unproved", s, a, 5, 0); /* grown, no proof */
	if (audit_root(a, 2, root, &e) != 0)
		die("root", &e);
	crypto_b64_encode(root, sizeof root, root64);
	printf("held root at size 2: %s\n", root64);
	audit_close(a);
	store_close(st);
	crypto_signer_close(s);
	for (size_t i = 0; i < 3; i++) {
		static const char *const files[] = { "data.mdb", "lock.mdb", "audit.key" };
		char path[4096];

		snprintf(path, sizeof path, "%s/%s", tmp, files[i]);
		unlink(path);
	}
	rmdir(tmp);
	return 0;
}
