/* test_witness.c - the checkpoints held of partners: get, put and list,
 * kept across a restart, never moved back, malformed ones refused, and a
 * put in the same transaction as an audit entry: both kept, or neither. */
#include "accord/witness.h"
#include "helper.h"

static crypto_signer *key;

static int setup(void **state)
{
	return crypto_signer_generate(&key, NULL);
}

static int teardown(void **state)
{
	crypto_signer_close(key);
	return 0;
}

/* A checkpoint note of partner's log at size with a root made of fill. */
static char *note_of(const char *partner, uint64_t size, uint8_t fill)
{
	char origin[AUDIT_NAME_MAX];
	uint8_t root[AUDIT_HASH_LEN];
	char *note;

	memset(root, fill, sizeof root);
	assert_int_equal(audit_origin(partner, origin), 0);
	assert_int_equal(audit_note_sign(origin, size, root, key, &note, NULL), 0);
	return note;
}

struct seen {
	int n;
	char partners[4][16];
	uint64_t sizes[4];
	int stop_after;
};

static int visit(const char *partner, const witness_checkpoint *c, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 4);
	snprintf(s->partners[s->n], sizeof s->partners[0], "%s", partner);
	s->sizes[s->n] = c->size;
	assert_int_equal(strlen(c->note), c->note_len);
	s->n++;
	return s->n == s->stop_after ? 42 : 0;
}

static void test_round_trip(void **state)
{
	struct th_log l;
	witness *w;
	witness_checkpoint c;
	struct seen s = { 0 };
	char *police = note_of("police", 12, 0xaa), *ngo = note_of("ngo", 3, 0xbb);
	accord_error e = { 0 };

	th_log_open(&l, NULL);
	assert_int_equal(witness_open(l.st, &w, NULL), 0);
	assert_int_equal(witness_get(w, "police", &c, &e), ACCORD_ENOTFOUND);
	assert_non_null(strstr(e.msg, "no checkpoint of 'police'"));
	assert_null(c.note);
	assert_int_equal(witness_list(w, visit, &s, NULL), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(witness_put(w, "police", police, NULL), 0);
	assert_int_equal(witness_put(w, "ngo", ngo, NULL), 0);
	/* Kept across a restart. */
	witness_close(w);
	th_log_reopen(&l);
	assert_int_equal(witness_open(l.st, &w, NULL), 0);
	assert_int_equal(witness_get(w, "police", &c, NULL), 0);
	assert_int_equal(c.size, 12);
	assert_int_equal(c.root[0], 0xaa);
	assert_string_equal(c.note, police);
	assert_true(c.stored_at > 1700000000);
	witness_checkpoint_free(&c);
	assert_int_equal(witness_list(w, visit, &s, NULL), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.partners[0], "ngo");
	assert_int_equal(s.sizes[0], 3);
	assert_string_equal(s.partners[1], "police");
	assert_int_equal(s.sizes[1], 12);
	/* A visitor stops the walk with its own result. */
	memset(&s, 0, sizeof s);
	s.stop_after = 1;
	assert_int_equal(witness_list(w, visit, &s, NULL), 42);
	assert_int_equal(s.n, 1);
	witness_close(w);
	th_log_close(&l);
	free(police);
	free(ngo);
}

static const struct put_case {
	const char *name;
	const char *partner, *note_partner;
	uint64_t size;
	uint8_t fill;
	int want;
	uint64_t held;            /* the size held afterwards */
	const char *says;
} put_cases[] = {
	{ "a larger checkpoint replaces", "police", "police", 20, 0x11, 0, 20, NULL },
	{ "the same one again is fine", "police", "police", 10, 0x10, 0, 10, NULL },
	{ "a smaller one leaves the held one", "police", "police", 4, 0x12, 0, 10, NULL },
	{ "the same size, another root: forked", "police", "police", 10, 0x13,
	  ACCORD_EINCONSISTENT, 10, "forked" },
	{ "a checkpoint of another log", "police", "ngo", 20, 0x11, ACCORD_EINVAL, 10,
	  "of the log 'accord.audit/ngo'" },
	{ "not a partner id", "Police!", "police", 20, 0x11, ACCORD_EINVAL, 10,
	  "not a partner id" },
};

static void test_put(void **state)
{
	const struct put_case *c = *state;
	char *first = note_of("police", 10, 0x10);
	char *note = note_of(c->note_partner, c->size, c->fill);
	witness_checkpoint got;
	accord_error e = { 0 };
	struct th_log l;
	witness *w;

	th_log_open(&l, NULL);
	assert_int_equal(witness_open(l.st, &w, NULL), 0);
	assert_int_equal(witness_put(w, "police", first, NULL), 0);
	assert_int_equal(witness_put(w, c->partner, note, &e), c->want);
	if (c->says && !strstr(e.msg, c->says))
		fail_msg("'%s' does not say '%s'", e.msg, c->says);
	assert_int_equal(witness_get(w, "police", &got, NULL), 0);
	assert_int_equal(got.size, c->held);
	witness_checkpoint_free(&got);
	witness_close(w);
	th_log_close(&l);
	free(first);
	free(note);
}

static void test_malformed(void **state)
{
	struct th_log l;
	witness *w;
	char *note = note_of("police", 10, 0x10), *bad = th_replace(note, "\n10\n", "\nten\n");

	th_log_open(&l, NULL);
	assert_int_equal(witness_open(l.st, &w, NULL), 0);
	assert_int_equal(witness_put(w, "police", bad, NULL), ACCORD_EINVAL);
	assert_int_equal(witness_put(w, "police", NULL, NULL), ACCORD_EINVAL);
	assert_int_equal(witness_put(w, "police", "", NULL), ACCORD_EINVAL);
	assert_int_equal(witness_put(w, NULL, note, NULL), ACCORD_EINVAL);
	assert_int_equal(witness_get(w, "", &(witness_checkpoint){ 0 }, NULL),
			 ACCORD_EINVAL);
	witness_close(w);
	th_log_close(&l);
	free(note);
	free(bad);
}

/* DELIVERED and the checkpoint the receipt carried, in one transaction. */
struct delivered {
	witness_put_args put;
	bool fail_after;
};

static int put_extra(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct delivered *d = ctx;
	int rc = witness_put_fn(txn, &d->put, e);

	if (rc == 0 && d->fail_after)
		rc = accord_fail(e, ACCORD_EREFUSED, "the outbox refused it");
	return rc;
}

static void test_with_audit_entry(void **state)
{
	struct th_log l;
	witness *w;
	audit_batch *b;
	audit_entry en;
	witness_checkpoint got;
	char *note = note_of("council", 7, 0x77);
	struct delivered d = { { NULL, "council", note }, true };
	uint64_t size;

	th_log_open(&l, NULL);
	assert_int_equal(witness_open(l.st, &w, NULL), 0);
	d.put.w = w;
	/* Aborted: neither the entry nor the checkpoint. */
	assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
	th_entry(0, &en, 1);
	en.event = AUDIT_DELIVERED;
	assert_int_equal(audit_batch_append(b, &en, NULL, NULL), 0);
	assert_int_equal(audit_batch_commit(b, put_extra, &d, NULL), ACCORD_EREFUSED);
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	assert_int_equal(size, 0);
	assert_int_equal(witness_get(w, "council", &got, NULL), ACCORD_ENOTFOUND);
	/* Committed: both. */
	d.fail_after = false;
	assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
	assert_int_equal(audit_batch_append(b, &en, NULL, NULL), 0);
	assert_int_equal(audit_batch_commit(b, put_extra, &d, NULL), 0);
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	assert_int_equal(size, 1);
	assert_int_equal(witness_get(w, "council", &got, NULL), 0);
	assert_int_equal(got.size, 7);
	witness_checkpoint_free(&got);
	witness_close(w);
	th_log_close(&l);
	free(note);
}

int main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_with_audit_entry),
	};
	const th_table tables[] = { TH_TABLE(put_cases, test_put) };

	return th_run("witness", fixed, sizeof fixed / sizeof fixed[0], tables,
		      sizeof tables / sizeof tables[0], setup, teardown);
}
