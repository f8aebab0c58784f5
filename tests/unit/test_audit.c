/* test_audit.c - the audit log: append and read, group commit with the
 * caller's own puts, filters, the subject index and its runs (merged as
 * the log grows, moved in from older stores), checkpoints (forged ones
 * refused), an intruder's changed byte and cut-off tail caught, a full
 * store, and a SIGKILL in the middle of batches. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

static void test_append_read(void **state)
{
	struct th_log l;
	audit_entry en;
	audit_record *r;
	const audit_entry *got;
	uint64_t seq, size;

	th_log_open(&l, NULL);
	for (uint64_t i = 0; i < 3; i++) {
		th_entry(i, &en, 9);
		assert_int_equal(audit_append(l.a, &en, &seq, NULL), 0);
		assert_int_equal(seq, i);
	}
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	assert_int_equal(size, 3);
	th_log_reopen(&l);
	th_entry(2, &en, 9);
	assert_int_equal(audit_read(l.a, 2, &r, NULL), 0);
	got = audit_record_entry(r);
	assert_int_equal(got->sequence, 2);
	assert_int_equal(got->time_ms, en.time_ms);
	assert_int_equal(got->event, en.event);
	assert_string_equal(got->from, en.from);
	assert_string_equal(got->to, en.to);
	assert_string_equal(got->purpose, en.purpose);
	assert_string_equal(got->message_id, en.message_id);
	assert_int_equal(got->n_disclosed, en.n_disclosed);
	assert_string_equal(got->disclosed[6], "consent");
	assert_string_equal(got->withheld[0], "risk_assessment");
	assert_true(got->has_subject);
	assert_memory_equal(got->subject, en.subject, AUDIT_HASH_LEN);
	assert_memory_equal(got->record_sha256, en.record_sha256, CRYPTO_SHA256_LEN);
	assert_int_equal(got->outcome, AUDIT_SUCCESS);
	assert_string_equal(got->reason, "rule allows");
	audit_record_free(r);
	assert_int_equal(audit_read(l.a, 3, &r, NULL), ACCORD_ENOTFOUND);
	th_log_close(&l);
}

static int put_outbox(MDB_txn *txn, void *ctx, accord_error *e)
{
	MDB_dbi *db = ctx;
	MDB_val k = { 3, "m-1" }, v = { 5, "hello" };

	return mdb_put(txn, *db, &k, &v, 0);
}

static int fail_extra(MDB_txn *txn, void *ctx, accord_error *e)
{
	return accord_fail(e, ACCORD_EREFUSED, "the outbox refused it");
}

static void test_batch_with_extra(void **state)
{
	struct th_log l;
	audit_batch *b;
	audit_entry en;
	MDB_dbi outbox;
	MDB_txn *txn;
	MDB_val k = { 3, "m-1" }, v;
	accord_error e = { 0 };
	uint64_t seq, size;

	th_log_open(&l, NULL);
	assert_int_equal(store_db(l.st, "outbox", 0, &outbox, NULL), 0);
	/* A failing extra put keeps nothing of the batch. */
	assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
	th_entry(0, &en, 1);
	assert_int_equal(audit_batch_append(b, &en, &seq, NULL), 0);
	assert_int_equal(audit_batch_commit(b, fail_extra, NULL, &e), ACCORD_EREFUSED);
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	/* One open batch at a time; abort frees it. */
	assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
	assert_int_equal(audit_batch_begin(l.a, &(audit_batch *){ NULL }, NULL),
			 ACCORD_EINVAL);
	audit_batch_abort(b);
	/* Entries and the caller's put in one transaction. */
	assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
	for (uint64_t i = 0; i < 5; i++) {
		th_entry(i, &en, 1);
		assert_int_equal(audit_batch_append(b, &en, &seq, NULL), 0);
		assert_int_equal(seq, i);
	}
	assert_int_equal(audit_batch_commit(b, put_outbox, &outbox, NULL), 0);
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	assert_int_equal(size, 5);
	assert_int_equal(store_read_begin(l.st, &txn, NULL), 0);
	assert_int_equal(mdb_get(txn, outbox, &k, &v), 0);
	assert_memory_equal(v.mv_data, "hello", 5);
	mdb_txn_abort(txn);
	th_log_close(&l);
}

static void test_limits(void **state)
{
	struct th_log l;
	audit_entry en;
	char *big = malloc(AUDIT_TEXT_MAX + 2);
	accord_error e = { 0 };

	assert_non_null(big);
	memset(big, 'x', AUDIT_TEXT_MAX + 1);
	big[AUDIT_TEXT_MAX + 1] = '\0';
	th_log_open(&l, NULL);
	th_entry(0, &en, 1);
	en.reason = big;
	assert_int_equal(audit_append(l.a, &en, NULL, &e), ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "longer than"));
	th_entry(0, &en, 1);
	en.event = 1000;
	assert_int_equal(audit_append(l.a, &en, NULL, NULL), ACCORD_EINVAL);
	th_log_close(&l);
	free(big);
}

struct count {
	int n;
	uint64_t last;
};

static int count_visit(const audit_entry *en, void *ctx)
{
	struct count *c = ctx;

	c->n++;
	c->last = en->sequence;
	return 0;
}

static void test_filters(void **state)
{
	static const struct {
		audit_filter f;
		int want;
	} cases[] = {
		{ { 0 }, 30 },
		{ { .partner = "police" }, 20 },
		{ { .purpose = "progress-report" }, 15 },
		{ { .event = AUDIT_RECEIVED }, 10 },
		{ { .rule_id = "no-such-rule" }, 0 },
		{ { .since_ms = 1790000000000 + 10000, .until_ms = 1790000000000 + 20000 }, 10 },
		{ { .first = 25 }, 5 },
		{ { .first = 3, .last = 4 }, 2 },
		{ { .partner = "council", .event = AUDIT_DISCLOSED }, 10 },
		{ { .partner = "ngo", .event = AUDIT_DISCLOSED }, 0 },
	};
	struct th_log l;

	th_log_open(&l, NULL);
	th_fill(l.a, 30, 7);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct count c = { 0 };

		assert_int_equal(audit_iterate(l.a, &cases[i].f, count_visit, &c, NULL), 0);
		if (c.n != cases[i].want)
			fail_msg("filter case %zu: %d entries, wanted %d", i, c.n,
				 cases[i].want);
	}
	th_log_close(&l);
}

static void test_subject(void **state)
{
	static const struct {
		const char *given, *family, *birth;
		bool same;
	} cases[] = {
		{ "Amina", "Khan", "1990-02-03", true },
		{ "  AMINA ", "khan", "1990-02-03", true },
		{ "amina", "KHAN\t", "1990-02-03", true },
		{ "Amina", "Khan", "1990-02-04", false },
		{ "Amin", "aKhan", "1990-02-03", false },
		{ "Amina Noor", "Khan", "1990-02-03", false },
	};
	struct th_log l;
	uint8_t p0[AUDIT_HASH_LEN], p[AUDIT_HASH_LEN];
	audit_entry en;
	uint64_t *seqs;
	size_t n;

	th_log_open(&l, NULL);
	assert_int_equal(audit_subject_pseudonym(l.a, "Amina", "Khan", "1990-02-03", p0,
						 NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(audit_subject_pseudonym(l.a, cases[i].given, cases[i].family,
							 cases[i].birth, p, NULL), 0);
		if ((memcmp(p, p0, sizeof p) == 0) != cases[i].same)
			fail_msg("case %zu: pseudonym %s", i, cases[i].same ? "differs" : "same");
	}
	assert_int_equal(audit_subject_pseudonym(l.a, "A  Noor", "K", "1990-02-03", p0, NULL), 0);
	assert_int_equal(audit_subject_pseudonym(l.a, "a noor", "k", "1990-02-03", p, NULL), 0);
	assert_memory_equal(p, p0, sizeof p);
	assert_int_equal(audit_subject_pseudonym(l.a, " ", "Khan", "1990-02-03", p, NULL),
			 ACCORD_EINVAL);
	assert_int_equal(audit_subject_pseudonym(l.a, "A", "K", "1990-02-30", p, NULL),
			 ACCORD_EINVAL);
	/* The index: entries 1, 4, 7 are about p0. */
	th_fill(l.a, 10, 4);
	for (uint64_t i = 1; i < 10; i += 3) {
		th_entry(i, &en, 1);
		memcpy(en.subject, p0, sizeof p0);
		assert_int_equal(audit_append(l.a, &en, NULL, NULL), 0);
	}
	assert_int_equal(audit_subject_entries(l.a, p0, &seqs, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(seqs[0], 10);
	assert_int_equal(seqs[2], 12);
	free(seqs);
	memset(p, 0xee, sizeof p);
	assert_int_equal(audit_subject_entries(l.a, p, &seqs, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(seqs);
	th_log_close(&l);
}

/* ---- the subject index's runs ------------------------------------------ */

/* Entry i of these tests is about subject (i % 5, i % 7), or about nobody
 * when i % 13 == 0. */
static void runs_entry(uint64_t i, audit_entry *en)
{
	th_entry(i, en, (uint8_t)(i % 5));
	en->has_subject = i % 13 != 0;
}

static void runs_append(audit *a, uint64_t from, uint64_t to, size_t batch)
{
	while (from < to) {
		audit_batch *b;
		audit_entry en;

		assert_int_equal(audit_batch_begin(a, &b, NULL), 0);
		for (size_t j = 0; j < batch && from < to; j++, from++) {
			runs_entry(from, &en);
			assert_int_equal(audit_batch_append(b, &en, NULL, NULL), 0);
		}
		assert_int_equal(audit_batch_commit(b, NULL, NULL, NULL), 0);
	}
}

/* Every subject's entries in a log of size entries, against the formula. */
static void runs_check(audit *a, uint64_t size)
{
	for (unsigned s = 0; s < 35; s++) {
		uint8_t p[AUDIT_HASH_LEN] = { 0 };
		uint64_t *seqs, want = 0;
		size_t n, k = 0;

		p[0] = (uint8_t)(s % 5);
		p[1] = (uint8_t)(s % 7);
		assert_int_equal(audit_subject_entries(a, p, &seqs, &n, NULL), 0);
		for (uint64_t i = 0; i < size; i++) {
			if (i % 13 == 0 || i % 5 != s % 5 || i % 7 != s % 7)
				continue;
			if (k >= n || seqs[k] != i)
				fail_msg("size %llu, subject %u: entry %llu is missing "
					 "(result %zu of %zu)", (unsigned long long)size, s,
					 (unsigned long long)i, k, n);
			k++;
			want++;
		}
		if (n != want)
			fail_msg("size %llu, subject %u: %zu entries, want %llu",
				 (unsigned long long)size, s, n, (unsigned long long)want);
		free(seqs);
	}
}

/* The runs are merged as the log crosses 256, 4,096 and 65,536 entries,
 * by batches of every size, some crossing several runs at once; every
 * query finds exactly its subject's entries, in order, before and after a
 * restart, and read only. */
static void test_subject_runs(void **state)
{
	static const uint64_t stops[] = {
		1, 255, 256, 257, 4095, 4096, 4097, 8192, 9000, 65535, 65536, 65537, 70000,
	};
	static const size_t batches[] = { 1, 7, 100, 255, 1000, 3000 };
	store_options ro = { .read_only = true };
	struct th_log l;
	uint64_t size = 0;
	store *st;
	audit *a;

	th_log_open(&l, NULL);
	runs_check(l.a, 0);
	for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
		for (size_t j = 0; size < stops[k]; j++) {
			uint64_t to = size + batches[(k + j) % 6];

			to = to < stops[k] ? to : stops[k];
			runs_append(l.a, size, to, batches[(k + j) % 6]);
			size = to;
		}
		runs_check(l.a, size);
	}
	th_log_reopen(&l);
	runs_check(l.a, size);
	assert_int_equal(store_open(l.dir, &ro, &st, NULL), 0);
	assert_int_equal(audit_open(st, &a, NULL), 0);
	runs_check(a, size);
	audit_close(a);
	store_close(st);
	th_log_close(&l);
}

/* Subjects scattered over the blocks: 1,009 of them, entry i about
 * (i * 617) mod 1,009, so each 256-entry block holds a different set and
 * each run's first pseudonym is not the merged run's. Every subject's
 * entries come back exactly, past merges of both levels. */
#define SCATTER 1009

static uint16_t scattered(uint64_t i)
{
	return (uint16_t)(i * 617 % SCATTER);
}

static void test_subject_runs_scattered(void **state)
{
	static const size_t batches[] = { 1, 99, 256, 1000, 2999 };
	const uint64_t size = 70000;
	struct th_log l;
	size_t *want_n = calloc(SCATTER, sizeof *want_n), k = 0;

	assert_non_null(want_n);
	th_log_open(&l, NULL);
	for (uint64_t from = 0; from < size; k++) {
		uint64_t to = from + batches[k % 5] < size ? from + batches[k % 5] : size;
		audit_batch *b;

		assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
		for (; from < to; from++) {
			audit_entry en;

			th_entry(from, &en, 0);
			en.has_subject = from % 13 != 0;
			en.subject[0] = (uint8_t)(scattered(from) >> 8);
			en.subject[1] = (uint8_t)scattered(from);
			want_n[scattered(from)] += en.has_subject;
			assert_int_equal(audit_batch_append(b, &en, NULL, NULL), 0);
		}
		assert_int_equal(audit_batch_commit(b, NULL, NULL, NULL), 0);
	}
	for (unsigned s = 0; s < SCATTER; s++) {
		uint8_t p[AUDIT_HASH_LEN] = { (uint8_t)(s >> 8), (uint8_t)s };
		uint64_t *seqs, last = 0;
		size_t n;

		assert_int_equal(audit_subject_entries(l.a, p, &seqs, &n, NULL), 0);
		if (n != want_n[s])
			fail_msg("subject %u: %zu entries, want %zu", s, n, want_n[s]);
		for (size_t j = 0; j < n; j++) {
			if (scattered(seqs[j]) != s || seqs[j] % 13 == 0 || (j && seqs[j] <= last))
				fail_msg("subject %u: entry %llu is not its, or out of order", s,
					 (unsigned long long)seqs[j]);
			last = seqs[j];
		}
		free(seqs);
	}
	free(want_n);
	th_log_close(&l);
}

/* A store from before the runs: its index in "audit_subject" (pseudonym ->
 * sequences) is read as it is by a read-only open, and moved into the runs
 * by the first writable one, which deletes it; then the log grows as any
 * other. */
static void test_subject_upgrade(void **state)
{
	store_options ro = { .read_only = true };
	struct th_log l;
	MDB_txn *txn;
	MDB_dbi old, runs;
	store *rst;
	audit *a;

	th_log_open(&l, NULL);
	runs_append(l.a, 0, 5000, 1000);
	/* As the older code left it: no runs, every pair in the old index. */
	assert_int_equal(mdb_txn_begin(store_env(l.st), NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit_subject_runs", 0, &runs), 0);
	assert_int_equal(mdb_drop(txn, runs, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit_subject",
				      MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &old), 0);
	for (uint64_t i = 0; i < 5000; i++) {
		audit_entry en;
		uint8_t seq[8];
		MDB_val k = { AUDIT_HASH_LEN, en.subject }, v = { 8, seq };

		runs_entry(i, &en);
		if (!en.has_subject)
			continue;
		for (int b = 0; b < 8; b++)
			seq[b] = (uint8_t)(i >> (56 - 8 * b));
		assert_int_equal(mdb_put(txn, old, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	th_log_shut(&l);

	assert_int_equal(store_open(l.dir, &ro, &rst, NULL), 0);
	assert_int_equal(audit_open(rst, &a, NULL), 0);
	runs_check(a, 5000);
	audit_close(a);
	store_close(rst);

	th_log_reopen(&l);
	runs_check(l.a, 5000);
	/* Gone: an older build would fail to open it, not find it empty. */
	assert_int_equal(mdb_txn_begin(store_env(l.st), NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit_subject", 0, &old), MDB_NOTFOUND);
	mdb_txn_abort(txn);
	runs_append(l.a, 5000, 9000, 700);
	runs_check(l.a, 9000);
	/* An older node started on it creates the old index again, empty:
	 * the next open deletes it, the runs untouched. */
	assert_int_equal(mdb_txn_begin(store_env(l.st), NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit_subject",
				      MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &old), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	th_log_reopen(&l);
	runs_check(l.a, 9000);
	assert_int_equal(mdb_txn_begin(store_env(l.st), NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit_subject", 0, &old), MDB_NOTFOUND);
	mdb_txn_abort(txn);
	th_log_close(&l);
}

/* ---- checkpoints and tampering ----------------------------------------- */

static crypto_signer *signer(void)
{
	crypto_signer *s;

	assert_int_equal(crypto_signer_generate(&s, NULL), 0);
	return s;
}

static void test_checkpoint(void **state)
{
	struct th_log l;
	crypto_signer *s = signer(), *other = signer();
	uint8_t pub[CRYPTO_ED25519_PUB_LEN], root[AUDIT_HASH_LEN];
	char origin[AUDIT_NAME_MAX], *note, *again, *forged;
	audit_note n;
	accord_error e = { 0 };

	crypto_signer_public(s, pub);
	assert_int_equal(audit_origin("police", origin), 0);
	assert_string_equal(origin, "accord.audit/police");
	assert_int_equal(audit_origin("Not OK", origin), ACCORD_EINVAL);
	th_log_open(&l, NULL);
	th_fill(l.a, 11, 5);
	assert_int_equal(audit_checkpoint(l.a, s, NULL, &note, &e), ACCORD_EINVAL);
	assert_int_equal(audit_checkpoint(l.a, s, "accord.audit/police", &note, &e), 0);
	assert_int_equal(audit_note_verify(note, strlen(note), pub, &n, &e), 0);
	assert_int_equal(n.size, 11);
	assert_int_equal(audit_root(l.a, 11, root, NULL), 0);
	assert_memory_equal(n.root, root, sizeof root);
	assert_non_null(strstr(note, "\n\n\xe2\x80\x94 accord.audit/police "));
	/* Nothing appended: the same note comes back. */
	assert_int_equal(audit_checkpoint(l.a, s, NULL, &again, NULL), 0);
	assert_string_equal(note, again);
	free(again);
	/* Another signer or origin is refused for this log. */
	assert_int_equal(audit_checkpoint(l.a, other, NULL, &again, &e), ACCORD_EINVAL);
	assert_int_equal(audit_checkpoint(l.a, s, "accord.audit/ngo", &again, &e),
			 ACCORD_EINVAL);
	/* Forged: another size with the old signature; another key. */
	forged = th_replace(note, "\n11\n", "\n12\n");
	assert_int_equal(audit_note_verify(forged, strlen(forged), pub, &n, &e), ACCORD_ESIG);
	assert_non_null(strstr(e.msg, "forged"));
	free(forged);
	crypto_signer_public(other, pub);
	assert_int_equal(audit_note_verify(note, strlen(note), pub, &n, &e), ACCORD_ESIG);
	free(note);
	crypto_signer_close(other);
	crypto_signer_close(s);
	th_log_close(&l);
}

static void test_note_malformed(void **state)
{
	static const char sig[] = "\n\xe2\x80\x94 o AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n";
	static const char root[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
	static const struct {
		const char *body;
		int rc;
	} cases[] = {
		{ "o\n1\n%s\n", 0 },
		{ "o\n1\n%s\next\n", 0 },
		{ "\n1\n%s\n", ACCORD_EPARSE },
		{ "o o\n1\n%s\n", ACCORD_EPARSE },
		{ "o\n01\n%s\n", ACCORD_EPARSE },
		{ "o\n-1\n%s\n", ACCORD_EPARSE },
		{ "o\n18446744073709551616\n%s\n", ACCORD_EPARSE },
		{ "o\n1\n%s=\n", ACCORD_EPARSE },
		{ "o\n1\nAAAA\n", ACCORD_EPARSE },
		{ "o\n1\x01\n%s\n", ACCORD_EPARSE },
	};
	char text[512];
	audit_note n;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *body = strstr(cases[i].body, "%s") ?
			     th_replace(cases[i].body, "%s", root) : strdup(cases[i].body);
		size_t len = strlen(body);

		assert_true(len + sizeof sig < sizeof text);
		memcpy(text, body, len);
		memcpy(text + len, sig, sizeof sig);
		free(body);
		if (audit_note_parse(text, strlen(text), &n, NULL) != cases[i].rc)
			fail_msg("case %zu: wanted %d", i, cases[i].rc);
	}
	/* No signature line, no final newline, not an em dash. */
	assert_int_equal(audit_note_parse("o\n1\nx\n\n", 7, &n, NULL), ACCORD_EPARSE);
	snprintf(text, sizeof text, "o\n1\n%s\n\n", root);
	assert_int_equal(audit_note_parse(text, strlen(text), &n, NULL), ACCORD_EPARSE);
	snprintf(text, sizeof text, "o\n1\n%s\n\n- o AAAA\n", root);
	assert_int_equal(audit_note_parse(text, strlen(text), &n, NULL), ACCORD_EPARSE);
	snprintf(text, sizeof text, "o\n1\n%s%s", root, sig);
	text[strlen(text) - 1] = '\0';
	assert_int_equal(audit_note_parse(text, strlen(text), &n, NULL), ACCORD_EPARSE);
}

/* Open the log's environment directly, as an intruder with the files would. */
static void intrude(const char *dir, const char *db, uint64_t seq, int byte, bool del)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t key[8], *copy;
	MDB_val k = { sizeof key, key }, v;

	for (int i = 7; i >= 0; i--, seq >>= 8)
		key[i] = (uint8_t)seq;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (del) {
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	} else {
		assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
		copy = malloc(v.mv_size);
		assert_non_null(copy);
		memcpy(copy, v.mv_data, v.mv_size);
		copy[byte % v.mv_size] ^= 0x20;
		v.mv_data = copy;
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
		free(copy);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void verify(struct th_log *l, const uint8_t *pub, const char *ext,
		   audit_report *r)
{
	accord_error e = { 0 };

	if (audit_verify(l->a, pub, ext, ext ? strlen(ext) : 0, r, &e) != 0)
		fail_msg("verify: %s", accord_error_msg(&e));
}

static void test_tamper_byte(void **state)
{
	struct th_log l;
	audit_report r;

	th_log_open(&l, NULL);
	th_fill(l.a, 50, 10);
	verify(&l, NULL, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(r.size, 50);
	th_log_shut(&l);
	intrude(l.dir, "audit_entry", 37, 60, false);
	th_log_reopen(&l);
	verify(&l, NULL, NULL, &r);
	assert_false(r.ok);
	assert_true(r.bad_has_seq);
	assert_int_equal(r.bad_seq, 37);
	assert_non_null(strstr(r.why, "do not match its stored leaf hash"));
	th_log_close(&l);
}

static void test_tamper_hash(void **state)
{
	struct th_log l;
	audit_report r;
	uint8_t key[9] = { 0, 0, 0, 0, 0, 0, 0, 15, 2 };
	MDB_dbi dbi;
	MDB_env *env;
	MDB_txn *txn;
	MDB_val k = { 9, key }, v = { 32, (uint8_t[32]){ 1 } };

	th_log_open(&l, NULL);
	th_fill(l.a, 20, 20);
	/* The level-2 subtree ending at entry 15, overwritten. */
	env = store_env(l.st);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit_tree", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	verify(&l, NULL, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.bad_seq, 15);
	assert_non_null(strstr(r.why, "level 2"));
	th_log_close(&l);
}

static void test_cut_tail(void **state)
{
	struct th_log l;
	crypto_signer *s = signer();
	uint8_t pub[CRYPTO_ED25519_PUB_LEN];
	audit_report r;
	char *kept, *late;

	crypto_signer_public(s, pub);
	th_log_open(&l, NULL);
	th_fill(l.a, 40, 8);
	assert_int_equal(audit_checkpoint(l.a, s, "accord.audit/police", &kept, NULL), 0);
	th_fill(l.a, 5, 5);
	verify(&l, pub, kept, &r);
	assert_true(r.ok);
	assert_int_equal(r.checkpoints, 1);
	/* The intruder cuts entries 38 and 39 and everything after, with their
	 * hashes and the log's own checkpoint: only the partner's copy tells. */
	th_log_shut(&l);
	for (uint64_t i = 44; i >= 38; i--)
		intrude(l.dir, "audit_entry", i, 0, true);
	th_log_reopen(&l);
	verify(&l, pub, NULL, &r);
	assert_false(r.ok); /* the stray tree hashes and checkpoint give it away */
	verify(&l, pub, kept, &r);
	assert_false(r.ok);
	assert_int_equal(r.bad_seq, 38);
	assert_non_null(strstr(r.why, "cut off"));
	/* A forged external checkpoint is refused outright. */
	late = th_replace(kept, "\n40\n", "\n38\n");
	assert_int_equal(audit_verify(l.a, pub, late, strlen(late), &r, NULL), ACCORD_ESIG);
	free(late);
	free(kept);
	crypto_signer_close(s);
	th_log_close(&l);
}

/* A log of several of verify's batches: the first bad entry is named,
 * whichever batch it is in and whatever comes after it. */
static void test_tamper_late(void **state)
{
	struct th_log l;
	crypto_signer *s = signer();
	audit_report r;
	char *note;

	th_log_open(&l, NULL);
	th_fill(l.a, 1500, 500);
	assert_int_equal(audit_checkpoint(l.a, s, "accord.audit/police", &note, NULL), 0);
	free(note);
	th_fill(l.a, 1700, 500);
	verify(&l, NULL, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(r.size, 3200);
	assert_int_equal(r.checkpoints, 1);
	th_log_shut(&l);
	intrude(l.dir, "audit_entry", 2500, 0, true);
	intrude(l.dir, "audit_entry", 2100, 40, false);
	th_log_reopen(&l);
	verify(&l, NULL, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.bad_seq, 2100);
	assert_non_null(strstr(r.why, "do not match its stored leaf hash"));
	th_log_shut(&l);
	intrude(l.dir, "audit_entry", 1300, 40, false);
	th_log_reopen(&l);
	verify(&l, NULL, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.bad_seq, 1300);
	assert_int_equal(r.checkpoints, 0);
	crypto_signer_close(s);
	th_log_close(&l);
}

/* What a module writes beside an entry, failing as the state module's puts
 * do (store_fail's ACCORD_EFULL, not LMDB's code), grows the map too. */
struct big_put {
	MDB_dbi dbi;
	uint8_t key[8];
	size_t len;
};

static int put_big(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct big_put *p = ctx;
	MDB_val k = { sizeof p->key, p->key }, v = { p->len, NULL };
	int rc = mdb_put(txn, p->dbi, &k, &v, MDB_RESERVE);

	if (rc != 0)
		return store_fail(e, rc, "writing a big value");
	memset(v.mv_data, 0x5a, p->len);
	return 0;
}

static void test_full_beside(void **state)
{
	store_options o = { .map_size = 1 << 20, .map_max = 16 << 20 };
	struct big_put p = { .len = 300 * 1024 };
	struct th_log l;
	audit_entry en;
	accord_error e = { 0 };
	int rc = 0;

	th_log_open(&l, &o);
	assert_int_equal(store_db(l.st, "big", MDB_CREATE, &p.dbi, NULL), 0);
	for (int i = 0; i < 200 && rc == 0; i++) {
		audit_batch *b;

		p.key[7] = (uint8_t)i;
		assert_int_equal(audit_batch_begin(l.a, &b, NULL), 0);
		th_entry((uint64_t)i, &en, 1);
		assert_int_equal(audit_batch_append(b, &en, NULL, NULL), 0);
		rc = audit_batch_commit(b, put_big, &p, &e);
		if (i < 20)
			assert_int_equal(rc, 0);   /* 6 MiB: grown, not full */
	}
	assert_int_equal(rc, ACCORD_EFULL);
	assert_non_null(strstr(e.msg, "size limit of 16 MiB"));
	assert_int_equal(store_map_size(l.st), 16 << 20);
	th_log_close(&l);
}

static void test_full(void **state)
{
	store_options o = { .map_size = 1 << 20, .map_max = 4 << 20 };
	struct th_log l;
	audit_entry en;
	accord_error e = { 0 };
	uint64_t n = 0, size;
	int rc;

	th_log_open(&l, &o);
	/* Grows from 1 MiB to the 4 MiB limit, then refuses, whole batches. */
	for (;;) {
		audit_batch *b;

		rc = audit_batch_begin(l.a, &b, &e);
		if (rc != 0)
			break;
		for (int j = 0; j < 100; j++) {
			th_entry(n + (uint64_t)j, &en, 1);
			assert_int_equal(audit_batch_append(b, &en, NULL, NULL), 0);
		}
		rc = audit_batch_commit(b, NULL, NULL, &e);
		if (rc != 0)
			break;
		n += 100;
	}
	assert_int_equal(rc, ACCORD_EFULL);
	assert_non_null(strstr(e.msg, "size limit of 4 MiB"));
	assert_true(n > 2000);
	assert_int_equal(store_map_size(l.st), 4 << 20);
	th_entry(0, &en, 1);
	assert_int_equal(audit_append(l.a, &en, NULL, NULL), ACCORD_EFULL);
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	assert_int_equal(size, n);
	th_log_reopen(&l);
	{
		audit_report r;

		verify(&l, NULL, NULL, &r);
		assert_true(r.ok);
		assert_int_equal(r.size, n);
	}
	th_log_close(&l);
}

/* A child appends batches of 50 and writes each committed batch's last
 * sequence to a pipe; killed mid-run, its log must verify and hold every
 * entry it reported. */
static void test_sigkill(void **state)
{
	struct th_log l;
	int fd[2];
	pid_t pid;
	uint64_t last = 0, got, size;
	int reports = 0, status;
	audit_report r;

	th_log_open(&l, NULL);
	th_log_shut(&l);
	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store *st;
		audit *a;

		close(fd[0]);
		if (store_open(l.dir, NULL, &st, NULL) != 0 || audit_open(st, &a, NULL) != 0)
			_exit(1);
		for (uint64_t i = 0;; ) {
			audit_batch *b;
			uint64_t seq = 0;

			if (audit_batch_begin(a, &b, NULL) != 0)
				_exit(1);
			for (int j = 0; j < 50; j++, i++) {
				audit_entry en;

				th_entry(i, &en, 1);
				if (audit_batch_append(b, &en, &seq, NULL) != 0)
					_exit(1);
			}
			if (audit_batch_commit(b, NULL, NULL, NULL) != 0 ||
			    write(fd[1], &seq, sizeof seq) != sizeof seq)
				_exit(1);
		}
	}
	close(fd[1]);
	while (reports < 40 && read(fd[0], &got, sizeof got) == sizeof got) {
		last = got;
		reports++;
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	close(fd[0]);
	assert_int_equal(reports, 40);
	th_log_reopen(&l);
	verify(&l, NULL, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(audit_size(l.a, &size, NULL), 0);
	assert_true(size > last);
	assert_int_equal(size % 50, 0);
	th_log_close(&l);
}

static void test_unsafe_dir(void **state)
{
	char *dir = th_tmpdir();
	store *st;
	accord_error e = { 0 };

	assert_int_equal(chmod(dir, 0750), 0);
	assert_int_equal(store_open(dir, NULL, &st, &e), ACCORD_EPERM);
	assert_non_null(strstr(e.msg, "chmod 700"));
	assert_int_equal(chmod(dir, 0700), 0);
	{
		store_options ro = { .read_only = true };

		assert_int_equal(store_open(dir, &ro, &st, &e), ACCORD_ENOTFOUND);
	}
	th_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_read),
		cmocka_unit_test(test_batch_with_extra),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_subject_runs),
		cmocka_unit_test(test_subject_runs_scattered),
		cmocka_unit_test(test_subject_upgrade),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_note_malformed),
		cmocka_unit_test(test_tamper_byte),
		cmocka_unit_test(test_tamper_hash),
		cmocka_unit_test(test_cut_tail),
		cmocka_unit_test(test_tamper_late),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_full_beside),
		cmocka_unit_test(test_sigkill),
		cmocka_unit_test(test_unsafe_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
