/* test_audit_merkle.c - the audit log's Merkle tree against an independent
 * reference: MTH, PATH and PROOF written straight from RFC 9162 2.1.1,
 * 2.1.3.1 and 2.1.4.1 over the entry bytes read back from the log. Every
 * inclusion proof for tree sizes 1..300, every consistency proof for
 * 1 <= m <= n <= 64, and wrong proofs refused. */
#include "helper.h"

#define N_INCL 300
#define N_CONS 64
#define H AUDIT_HASH_LEN

struct ref {
	uint8_t leaf[N_INCL][H];
	/* memo[start][size]: MTH(D[start:start+size]), computed once */
	uint8_t (*memo)[N_INCL + 1][H];
	bool (*have)[N_INCL + 1];
};

static struct th_log log_;
static struct ref ref;

static void sha(const void *a, size_t an, const void *b, size_t bn, uint8_t pre,
		uint8_t out[H])
{
	uint8_t buf[1 + AUDIT_ENTRY_MAX];

	buf[0] = pre;
	memcpy(buf + 1, a, an);
	if (bn)
		memcpy(buf + 1 + an, b, bn);
	assert_int_equal(crypto_sha256(buf, 1 + an + bn, out), 0);
}

static uint64_t k_of(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[start:start+n]) as RFC 9162 2.1.1 defines it. */
static const uint8_t *mth(uint64_t start, uint64_t n)
{
	uint8_t *out = ref.memo[start][n];

	if (ref.have[start][n])
		return out;
	if (n == 1) {
		memcpy(out, ref.leaf[start], H);
	} else {
		uint64_t k = k_of(n);

		sha(mth(start, k), H, mth(start + k, n - k), H, 0x01, out);
	}
	ref.have[start][n] = true;
	return out;
}

static void add(audit_proof *p, const uint8_t h[H])
{
	assert_true(p->n < AUDIT_PROOF_MAX);
	memcpy(p->hash[p->n++], h, H);
}

/* PATH(m, D[start:start+n]) */
static void ref_path(uint64_t m, uint64_t start, uint64_t n, audit_proof *p)
{
	uint64_t k;

	if (n == 1)
		return;
	k = k_of(n);
	if (m < k) {
		ref_path(m, start, k, p);
		add(p, mth(start + k, n - k));
	} else {
		ref_path(m - k, start + k, n - k, p);
		add(p, mth(start, k));
	}
}

/* SUBPROOF(m, D[start:start+n], b) */
static void ref_subproof(uint64_t m, uint64_t start, uint64_t n, bool b, audit_proof *p)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			add(p, mth(start, n));
		return;
	}
	k = k_of(n);
	if (m <= k) {
		ref_subproof(m, start, k, b, p);
		add(p, mth(start + k, n - k));
	} else {
		ref_subproof(m - k, start + k, n - k, false, p);
		add(p, mth(start, k));
	}
}

static int setup(void **state)
{
	accord_error e = { 0 };

	th_log_open(&log_, NULL);
	th_fill(log_.a, N_INCL, 37);
	ref.memo = calloc(N_INCL, sizeof *ref.memo);
	ref.have = calloc(N_INCL, sizeof *ref.have);
	assert_non_null(ref.memo);
	assert_non_null(ref.have);
	for (uint64_t i = 0; i < N_INCL; i++) {
		audit_record *r;
		const uint8_t *b;
		size_t len;

		if (audit_read(log_.a, i, &r, &e) != 0)
			fail_msg("read %llu: %s", (unsigned long long)i, accord_error_msg(&e));
		b = audit_record_bytes(r, &len);
		sha(b, len, NULL, 0, 0x00, ref.leaf[i]);
		audit_record_free(r);
	}
	return 0;
}

static int teardown(void **state)
{
	th_log_close(&log_);
	free(ref.memo);
	free(ref.have);
	return 0;
}

static void assert_proof_equal(const audit_proof *a, const audit_proof *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_memory_equal(a->hash[i], b->hash[i], H);
}

static void test_roots(void **state)
{
	uint8_t root[H], empty[H];

	for (uint64_t n = 1; n <= N_INCL; n++) {
		assert_int_equal(audit_root(log_.a, n, root, NULL), 0);
		assert_memory_equal(root, mth(0, n), H);
	}
	assert_int_equal(audit_root(log_.a, 0, root, NULL), 0);
	assert_int_equal(crypto_sha256("", 0, empty), 0);
	assert_memory_equal(root, empty, H);
	assert_int_equal(audit_root(log_.a, N_INCL + 1, root, NULL), ACCORD_ENOTFOUND);
}

static void test_inclusion_all(void **state)
{
	for (uint64_t n = 1; n <= N_INCL; n++) {
		const uint8_t *root = mth(0, n);

		for (uint64_t i = 0; i < n; i++) {
			audit_proof got, want = { 0 }, bad;

			assert_int_equal(audit_inclusion_proof(log_.a, i, n, &got, NULL), 0);
			ref_path(i, 0, n, &want);
			assert_proof_equal(&got, &want);
			assert_true(audit_inclusion_verify(ref.leaf[i], i, n, &got, root));
			/* Wrong index or leaf; a flipped byte; short or long. (A
			 * larger size can verify: RFC 9162's algorithm binds the
			 * root, and some roots are the same for n and n + 1 when
			 * read this way; the signed checkpoint binds the size.) */
			assert_false(audit_inclusion_verify(ref.leaf[i], n, n, &got, root));
			if (n > 1) {
				uint64_t j = i + 1 < n ? i + 1 : i - 1;

				assert_false(audit_inclusion_verify(ref.leaf[i], j, n, &got, root));
				assert_false(audit_inclusion_verify(ref.leaf[j], i, n, &got, root));
				bad = got;
				bad.hash[i % bad.n][(i * 7) % H] ^= 0x01;
				assert_false(audit_inclusion_verify(ref.leaf[i], i, n, &bad, root));
				bad = got;
				bad.n--;
				assert_false(audit_inclusion_verify(ref.leaf[i], i, n, &bad, root));
			}
			bad = got;
			memset(bad.hash[bad.n++], 0, H);
			assert_false(audit_inclusion_verify(ref.leaf[i], i, n, &bad, root));
		}
	}
}

static void test_consistency_all(void **state)
{
	for (uint64_t n = 1; n <= N_CONS; n++) {
		for (uint64_t m = 1; m <= n; m++) {
			audit_proof got, want = { 0 }, bad;
			const uint8_t *rm = mth(0, m), *rn = mth(0, n);

			assert_int_equal(audit_consistency_proof(log_.a, m, n, &got, NULL), 0);
			if (m < n)
				ref_subproof(m, 0, n, true, &want);
			assert_proof_equal(&got, &want);
			assert_true(audit_consistency_verify(m, rm, n, rn, &got));
			if (m == n) {
				if (m > 1)
					assert_false(audit_consistency_verify(m, rm, n,
									      mth(0, n - 1), &got));
				continue;
			}
			/* Swapped roots, wrong first size, a flipped byte, short,
			 * long. */
			assert_false(audit_consistency_verify(m, rn, n, rm, &got));
			assert_false(audit_consistency_verify(n, rm, m, rn, &got));
			if (m > 1)
				assert_false(audit_consistency_verify(m - 1, rm, n, rn, &got));
			for (size_t i = 0; i < got.n; i++) {
				bad = got;
				bad.hash[i][(m + n) % H] ^= 0x80;
				assert_false(audit_consistency_verify(m, rm, n, rn, &bad));
			}
			bad = got;
			bad.n--;
			assert_false(audit_consistency_verify(m, rm, n, rn, &bad));
			bad = got;
			memset(bad.hash[bad.n++], 0, H);
			assert_false(audit_consistency_verify(m, rm, n, rn, &bad));
		}
	}
}

static void test_edges(void **state)
{
	audit_proof p = { 0 };
	uint8_t r[H] = { 0 };

	/* Every tree extends the empty one, with an empty proof. */
	assert_int_equal(audit_consistency_proof(log_.a, 0, 5, &p, NULL), 0);
	assert_int_equal(p.n, 0);
	assert_true(audit_consistency_verify(0, r, 5, mth(0, 5), &p));
	assert_int_equal(audit_consistency_proof(log_.a, 6, 5, &p, NULL), ACCORD_ENOTFOUND);
	assert_int_equal(audit_inclusion_proof(log_.a, 5, 5, &p, NULL), ACCORD_ENOTFOUND);
	assert_int_equal(audit_inclusion_proof(log_.a, 0, N_INCL + 1, &p, NULL),
			 ACCORD_ENOTFOUND);
	/* A proof longer than any tree needs is refused, not read past. */
	p.n = AUDIT_PROOF_MAX + 1;
	assert_false(audit_inclusion_verify(ref.leaf[0], 0, 2, &p, mth(0, 2)));
	assert_false(audit_consistency_verify(1, mth(0, 1), 2, mth(0, 2), &p));
	/* The one-shot hashes agree with the definition. */
	assert_int_equal(audit_node_hash(ref.leaf[0], ref.leaf[1], r), 0);
	assert_memory_equal(r, mth(0, 2), H);
}

/* The tree in memory gives the reference's roots and paths for every size
 * and index, the stored tree's proofs with it. */
static void test_memtree(void **state)
{
	audit_memtree *t;

	assert_int_equal(audit_memtree_build(NULL, 0, &t), ACCORD_EINVAL);
	assert_null(t);
	for (uint64_t n = 1; n <= N_INCL; n++) {
		uint8_t root[H];

		assert_int_equal(audit_memtree_build((const uint8_t (*)[H])ref.leaf, n, &t), 0);
		audit_memtree_root(t, root);
		assert_memory_equal(root, mth(0, n), H);
		for (uint64_t i = 0; i < n; i++) {
			audit_proof got, want = { 0 };

			assert_int_equal(audit_memtree_inclusion(t, i, &got), 0);
			ref_path(i, 0, n, &want);
			assert_proof_equal(&got, &want);
			assert_true(audit_inclusion_verify(ref.leaf[i], i, n, &got, root));
		}
		assert_int_not_equal(audit_memtree_inclusion(t, n, &(audit_proof){ 0 }), 0);
		audit_memtree_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_inclusion_all),
		cmocka_unit_test(test_consistency_all),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_memtree),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
