/* helper.h - small things the unit tests share. */
#ifndef ACCORD_TEST_HELPER_H
#define ACCORD_TEST_HELPER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "accord/crypto.h"
#include "accord/error.h"

/* A new malloc'd copy of s with the first occurrence of find replaced by
 * repl; fails the test when find is absent. */
char *th_replace(const char *s, const char *find, const char *repl);

/* A new temporary directory (removed by th_rmdir); fails the test on error. */
char *th_tmpdir(void);
void th_rmdir(char *dir);

/* Write len bytes to dir/name with mode; returns a malloc'd path. */
char *th_write(const char *dir, const char *name, const void *data, size_t len,
	       unsigned mode);

/* Base64 of a fresh signer's public key into out. */
void th_pub64(const crypto_signer *s, char out[CRYPTO_B64_LEN(CRYPTO_ED25519_PUB_LEN)]);

#endif

/*
 * A valid three-partner protocol (police, council, ngo) whose signing keys
 * are keys[0..2] (generated when *keys is NULL; close them with
 * th_keys_close) and dated 2026-10-01..2026-12-31. malloc'd.
 * Its lines are numbered in helper_protocol.c, for tests that assert them.
 */
char *th_protocol_doc(crypto_signer *keys[3]);
void th_keys_close(crypto_signer *keys[3]);

/* The audit log of a fresh store in a new temporary directory. */
#include "accord/audit.h"
struct th_log {
	char *dir;
	store *st;
	audit *a;
};
void th_log_open(struct th_log *l, const store_options *opt);
/* Close and reopen the same directory (as after a restart). */
void th_log_reopen(struct th_log *l);
/* Close the log and its store but keep the directory. */
void th_log_shut(struct th_log *l);
void th_log_close(struct th_log *l);
/* A plausible entry number i (fields vary with i; subject i % 7). */
void th_entry(uint64_t i, audit_entry *en, uint8_t subject_key);
/* Append n entries in batches of batch; fails the test on error. */
void th_fill(audit *a, uint64_t n, size_t batch);

#include "accord/protocol.h"
#include "accord/record.h"

/* $SRCDIR/rel read whole (malloc'd, NUL-terminated); fails the test when
 * it cannot be read. SRCDIR defaults to ".". */
char *th_src_file(const char *rel, size_t *len);

/* The example protocol policies/examples/eastshire.yaml and its
 * signatures; fails the test when they do not load. */
void th_example(protocol **p, protocol_sigs **s);

/* A record of the named type from JSON text ("Consent" for a Consent);
 * fails the test on error. */
ProtobufCMessage *th_record(const char *type, const char *json);

/* The example referral, policies/examples/referral.json. */
ProtobufCMessage *th_example_referral(void);

/* A table of cases, each its own cmocka test: every case struct starts
 * with its name (const char *), and fn receives the case as *state. */
typedef struct th_table {
	const void *cases;
	size_t n, size;
	CMUnitTestFunction fn;
} th_table;

#define TH_TABLE(t, f) { (t), sizeof(t) / sizeof((t)[0]), sizeof((t)[0]), (f) }

/* Run the nfixed tests of fixed, then one test per case of each table. */
int th_run(const char *group, const struct CMUnitTest *fixed, size_t nfixed,
	   const th_table *tables, size_t ntables, CMFixtureFunction setup,
	   CMFixtureFunction teardown);

/* m packed and unpacked again with record_unpack: what a receiver gets. */
ProtobufCMessage *th_repack(const ProtobufCMessage *m);

/* Fail the test unless m as JSON equals the JSON text want. */
void th_assert_json(const ProtobufCMessage *m, const char *want);
