/*
 * test_alloc_failure.c - every allocation that can fail, made to fail.
 *
 * This program replaces malloc and friends for the whole process (our code,
 * libyaml, OpenSSL, protobuf-c) with versions that fail the Nth call once
 * armed. Each scenario runs first unarmed (so lazy library state is set up),
 * then with N = 1, 2, ... until it runs through without reaching N. Every
 * run must end without a crash and leave as many blocks allocated as before
 * it; a run whose failed allocation our code saw must return an error (a
 * library may recover from one internally, and then success is right).
 *
 * Under AddressSanitizer, ThreadSanitizer or valgrind, which bring their own
 * allocators, the sweep cannot inject failures: each scenario then runs
 * once, unarmed.
 */
#include <malloc.h>
#include <jansson.h>
#include <openssl/err.h>
#include <unistd.h>

#include "accord/audit.h"
#include "accord/fs.h"
#include "accord/policy.h"
#include "accord/protocol.h"
#include "accord/receipt.h"
#include "helper.h"

/* AddressSanitizer and ThreadSanitizer bring their own allocators: leave
 * them alone there. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define FAILALLOC 1
#endif

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long countdown = -1;   /* fail when it reaches 0; -1 = disarmed */
static long live;             /* blocks allocated and not freed */
static bool injected;

#ifdef FAILALLOC
static bool should_fail(void)
{
	if (countdown < 0)
		return false;
	if (countdown-- == 0) {
		injected = true;
		return true;
	}
	return false;
}

void *malloc(size_t n)
{
	void *p = should_fail() ? NULL : __libc_malloc(n);

	live += p != NULL;
	return p;
}

void *calloc(size_t a, size_t b)
{
	void *p = should_fail() ? NULL : __libc_calloc(a, b);

	live += p != NULL;
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (should_fail())
		return NULL;
	p = __libc_realloc(old, n);
	if (!old && p)
		live++;
	else if (old && !p && n == 0)
		live--;
	return p;
}

void *reallocarray(void *old, size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n))
		return NULL;
	return realloc(old, n);
}

void free(void *p)
{
	live -= p != NULL;
	__libc_free(p);
}
#endif

/* Allocations the tests make for themselves, outside the count. */
static void *raw_malloc(size_t n)
{
#ifdef FAILALLOC
	return __libc_malloc(n);
#else
	return malloc(n);
#endif
}

static void raw_free(void *p)
{
#ifdef FAILALLOC
	__libc_free(p);
#else
	free(p);
#endif
}

/* Is our malloc the one in use? (Not under ASan or valgrind.) */
static bool interposed(void)
{
#ifndef FAILALLOC
	return false;
#endif
	/* Called through a volatile pointer so the compiler cannot drop it. */
	void *(*volatile m)(size_t) = malloc;
	void *p;

	countdown = 0;
	injected = false;
	p = m(1);
	countdown = -1;
	if (p) {
		free(p);
		return false;
	}
	return injected;
}

typedef int (*scenario)(void *arg);

/* Run scenario with allocation n failing; returns the blocks it left. */
static long run_failing(scenario run, void *arg, long n, int *rc)
{
	long before = live;

	injected = false;
	countdown = n;
	*rc = run(arg);
	countdown = -1;
	return live - before;
}

/* Sweep scenario over every allocation it makes. */
static void sweep(scenario run, void *arg, const char *name)
{
	long n, left;
	int rc;

	if (!interposed()) {
		/* no injection here (a sanitizer's allocator): the run alone */
		assert_int_equal(run(arg), 0);
		return;
	}
	/* OpenSSL keeps a per-thread error queue, made at the first error:
	 * make it now, so it does not count as a block leaked later. */
	ERR_raise(ERR_LIB_USER, ERR_R_MALLOC_FAILURE);
	ERR_clear_error();
	assert_int_equal(run(arg), 0); /* warm up, and it must succeed */
	for (n = 0;; n++) {
		left = run_failing(run, arg, n, &rc);
		if (!injected) {
			assert_int_equal(rc, 0);
			break;
		}
		/* A library may fill a cache of its own once, on the path a
		 * failure takes: a leak is what the same failure leaves again. */
		if (left != 0)
			left = run_failing(run, arg, n, &rc);
		if (left != 0)
			print_message("%s: allocation %ld failed and %ld block(s) leaked\n",
				      name, n, left);
		assert_int_equal(left, 0);
	}
	print_message("%s: %ld allocations, each failed once\n", name, n);
}

static crypto_signer *keys[3];
static char *doc;
static char *dir;

static int parse_protocol(void *arg)
{
	protocol_diags *d = raw_malloc(sizeof *d);
	protocol *p = NULL;
	int rc;

	rc = protocol_parse("t.yaml", doc, strlen(doc), &p, d);
	protocol_close(p);
	raw_free(d);
	return rc;
}

static int sign_and_check(void *arg)
{
	protocol_diags *d = raw_malloc(sizeof *d);
	protocol *p = NULL;
	protocol_sigs *s = NULL;
	char sig_path[4096];
	int rc;

	snprintf(sig_path, sizeof sig_path, "%s/t.yaml.sig", dir);
	unlink(sig_path);
	rc = protocol_parse("t.yaml", doc, strlen(doc), &p, d);
	for (int i = 0; rc == 0 && i < 3; i++)
		rc = protocol_sign(p, i == 0 ? "police" : i == 1 ? "council" : "ngo",
				   keys[i], sig_path, NULL);
	if (rc == 0) {
		snprintf(sig_path, sizeof sig_path, "%s/t.yaml", dir);
		rc = protocol_sigs_load(p, sig_path, &s, d);
	}
	if (rc == 0 && !s->all_signed)
		rc = ACCORD_ESIG;
	protocol_sigs_free(s);
	protocol_close(p);
	raw_free(d);
	return rc;
}

static int load_key(void *arg)
{
	char path[4096];
	crypto_signer *s = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/signing.key", dir);
	rc = crypto_signer_load(path, &s, NULL);
	crypto_signer_close(s);
	return rc;
}

/* The audit log: open a store, append a batch, read an entry back, sign a
 * checkpoint, prove an entry, verify the log. Each run uses a store of its
 * own, so a failed run leaves nothing for the next. */
static int audit_round(void *arg)
{
	char path[4096];
	store *st = NULL;
	audit *a = NULL;
	audit_batch *b = NULL;
	audit_record *r = NULL;
	audit_proof p;
	audit_report rep;
	char *note = NULL;
	static unsigned runs;
	int rc;

	snprintf(path, sizeof path, "%s/audit-%u", dir, runs++);
	rc = store_open(path, NULL, &st, NULL);
	if (rc == 0)
		rc = audit_open(st, &a, NULL);
	if (rc == 0)
		rc = audit_batch_begin(a, &b, NULL);
	for (uint64_t i = 0; rc == 0 && i < 5; i++) {
		audit_entry en;
		long armed = countdown;

		countdown = -1;          /* the test's own entry, not the code's */
		th_entry(i, &en, 1);
		countdown = armed;
		rc = audit_batch_append(b, &en, NULL, NULL);
	}
	if (rc == 0) {
		rc = audit_batch_commit(b, NULL, NULL, NULL);
		b = NULL;
	}
	if (rc == 0)
		rc = audit_read(a, 3, &r, NULL);
	if (rc == 0)
		rc = audit_checkpoint(a, keys[0], "accord.audit/police", &note, NULL);
	if (rc == 0)
		rc = audit_inclusion_proof(a, 2, 5, &p, NULL);
	if (rc == 0)
		rc = audit_verify(a, NULL, NULL, 0, &rep, NULL);
	audit_batch_abort(b);
	audit_record_free(r);
	free(note);
	audit_close(a);
	store_close(st);
	return rc;
}

static void test_audit(void **state)
{
	sweep(audit_round, NULL, "audit append, read, checkpoint, prove, verify");
}

/* A receiver's batch of receipts, and the sender's check of each. */
static int receipt_round(void *arg)
{
	static const uint8_t root[AUDIT_HASH_LEN] = { 7 };
	uint8_t id[16] = { 0 }, digest[32] = { 1 }, pub[CRYPTO_ED25519_PUB_LEN];
	receipt_cache cache = { 0 };
	receipt_batch *b = NULL;
	char *note = NULL;
	long armed = countdown;
	int rc;

	countdown = -1;          /* the test's own note, not the code's */
	rc = audit_note_sign("accord.audit/council", 5, root, keys[0], &note, NULL);
	countdown = armed;
	crypto_signer_public(keys[0], pub);
	if (rc == 0)
		rc = receipt_batch_new(&b, NULL);
	for (size_t i = 0; rc == 0 && i < 5; i++) {
		size_t at;

		id[0] = (uint8_t)i;
		rc = receipt_batch_add(b, id, sizeof id, digest, &at, NULL);
	}
	if (rc == 0)
		rc = receipt_batch_sign(b, keys[0], "council", 1790000000, note, NULL);
	for (size_t i = 0; rc == 0 && i < 5; i++) {
		receipt_expect x = { .message_id = id, .id_len = sizeof id, .record_digest = digest,
				     .receiver = "council", .receiver_key = pub };
		receipt_info info;
		uint8_t *bytes = NULL;
		size_t len;

		id[0] = (uint8_t)i;
		rc = receipt_batch_make(b, i, NULL, &bytes, &len, NULL);
		if (rc == 0)
			rc = receipt_check(bytes, len, &x, &cache, &info, NULL);
		if (rc == 0)
			receipt_info_free(&info);
		free(bytes);
	}
	receipt_batch_free(b);
	free(note);
	return rc;
}

static void test_receipts(void **state)
{
	sweep(receipt_round, NULL, "receipt batch: add, sign, make, check");
}

struct fixture {
	ProtobufCMessage *ref;
	char *text;
	size_t len;
	record_selection *sel;
	protocol *p;
	protocol_sigs *s;
};

static struct fixture fx;

static int setup_records(void)
{
	static const char *const fields[] = { "referral_id", "subject.given_name",
					      "subject.identifiers", "needs", "consent", NULL };

	fx.ref = th_example_referral();
	fx.text = th_src_file("policies/examples/referral.json", &fx.len);
	assert_int_equal(record_selection_new(record_type_find("Referral"), fields, 5, NULL,
					      0, &fx.sel, NULL), 0);
	th_example(&fx.p, &fx.s);
	return 0;
}

static void teardown_records(void)
{
	record_free(fx.ref);
	free(fx.text);
	record_selection_free(fx.sel);
	protocol_sigs_free(fx.s);
	protocol_close(fx.p);
}

static int op_minimise(void *arg)
{
	ProtobufCMessage *out = NULL;
	record_withheld w;
	int rc = record_minimise(fx.sel, fx.ref, &out, &w, NULL);

	if (rc != 0)
		assert_null(out);
	record_free(out);
	return rc;
}

static int op_from_json(void *arg)
{
	ProtobufCMessage *out = NULL;
	int rc = record_from_json_text(record_type_find("Referral"), fx.text, fx.len, &out,
				       NULL);

	/* What parses must be the text exactly: a parse that ran out of
	 * memory anywhere is refused, never taken with a piece missing. */
	if (rc == 0) {
		countdown = -1;
		th_assert_json(out, fx.text);
	}
	record_free(out);
	return rc;
}

static int op_to_json(void *arg)
{
	json_t *j = record_to_json(fx.ref);

	json_decref(j);
	return j ? 0 : ACCORD_ENOMEM;
}

static int op_selection(void *arg)
{
	static const char *const fields[] = { "subject.given_name", "subject.identifiers",
					      "needs", "contact.email", NULL };
	record_selection *s = NULL;
	int rc = record_selection_new(record_type_find("Referral"), fields, 4, NULL, 0, &s,
				      NULL);

	record_selection_free(s);
	return rc;
}

static int op_policy(void *arg)
{
	policy *pl = NULL;
	int rc = policy_open(fx.p, fx.s, &pl, NULL);

	policy_close(pl);
	return rc;
}

static void test_minimise(void **state) { sweep(op_minimise, NULL, "record_minimise"); }
static void test_from_json(void **state) { sweep(op_from_json, NULL, "record_from_json_text"); }
static void test_to_json(void **state) { sweep(op_to_json, NULL, "record_to_json"); }
static void test_selection(void **state) { sweep(op_selection, NULL, "record_selection_new"); }
static void test_policy_open(void **state) { sweep(op_policy, NULL, "policy_open"); }

static void test_protocol_parse(void **state)
{
	sweep(parse_protocol, NULL, "protocol_parse");
}

static void test_protocol_sign_and_check(void **state)
{
	sweep(sign_and_check, NULL, "protocol_sign + protocol_sigs_load");
}

static void test_key_load(void **state)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/signing.key", dir);
	assert_int_equal(crypto_signer_save(keys[0], path, NULL), 0);
	sweep(load_key, NULL, "crypto_signer_load");
}

static int setup(void **state)
{
	doc = th_protocol_doc(keys);
	dir = th_tmpdir();
	return setup_records();
}

static int teardown(void **state)
{
	free(doc);
	th_keys_close(keys);
	th_rmdir(dir);
	teardown_records();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_parse),
		cmocka_unit_test(test_receipts),
		cmocka_unit_test(test_protocol_sign_and_check),
		cmocka_unit_test(test_key_load),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_minimise),
		cmocka_unit_test(test_from_json),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_policy_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
