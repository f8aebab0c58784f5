/*
 * audit_merkle.c - the Merkle tree of RFC 9162 section 2.1: hashes, proof
 * generation over stored complete subtrees, and proof verification. Nothing
 * here touches LMDB; the caller supplies the subtree hashes.
 */
/* The low-level SHA256_* calls: see merkle_hasher in audit_internal.h. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "audit_internal.h"

static const uint8_t empty_sha256[AUDIT_HASH_LEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
	0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

int merkle_hasher_init(merkle_hasher *h)
{
	return SHA256_Init(&h->c) == 1 ? 0 : ACCORD_ECRYPTO;
}

void merkle_hasher_free(merkle_hasher *h)
{
	memset(h, 0, sizeof *h);
}

static int hash2(merkle_hasher *h, uint8_t prefix, const void *a, size_t alen,
		 const void *b, size_t blen, uint8_t out[AUDIT_HASH_LEN])
{
	if (SHA256_Init(&h->c) != 1 || SHA256_Update(&h->c, &prefix, 1) != 1 ||
	    SHA256_Update(&h->c, a, alen) != 1 ||
	    (blen && SHA256_Update(&h->c, b, blen) != 1) ||
	    SHA256_Final(out, &h->c) != 1)
		return ACCORD_ECRYPTO;
	return 0;
}

int merkle_leaf(merkle_hasher *h, const void *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	return hash2(h, 0x00, data, len, NULL, 0, out);
}

int merkle_node(merkle_hasher *h, const uint8_t l[AUDIT_HASH_LEN],
		const uint8_t r[AUDIT_HASH_LEN], uint8_t out[AUDIT_HASH_LEN])
{
	return hash2(h, 0x01, l, AUDIT_HASH_LEN, r, AUDIT_HASH_LEN, out);
}

/* The one-shot forms build a hasher each time: for proofs, not loops. */
int audit_leaf_hash(const void *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	merkle_hasher h;

	int rc = merkle_hasher_init(&h);

	if (rc == 0)
		rc = merkle_leaf(&h, data, len, out);
	merkle_hasher_free(&h);
	return rc;
}

int audit_node_hash(const uint8_t left[AUDIT_HASH_LEN],
		    const uint8_t right[AUDIT_HASH_LEN], uint8_t out[AUDIT_HASH_LEN])
{
	merkle_hasher h;

	int rc = merkle_hasher_init(&h);

	if (rc == 0)
		rc = merkle_node(&h, left, right, out);
	merkle_hasher_free(&h);
	return rc;
}

void audit_be64(uint64_t v, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t audit_get_be64(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

void audit_tree_key(unsigned level, uint64_t index, uint8_t key[AUDIT_TREE_KEY_LEN])
{
	audit_be64(((index + 1) << level) - 1, key);
	key[8] = (uint8_t)level;
}

/* The largest power of two smaller than n (n >= 2), RFC 9162's k. */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static bool pow2(uint64_t n)
{
	return n && !(n & (n - 1));
}

/* A helper passing the hasher and the source down the recursions. */
struct walk {
	merkle_get_fn get;
	void *ctx;
	merkle_hasher h;
	audit_proof *p;
};

/* MTH(D[start:start+size]), size >= 1. The ranges RFC 9162 asks for start at
 * a multiple of their power-of-two size, so each perfect one is stored. */
static int range_hash(struct walk *w, uint64_t start, uint64_t size,
		      uint8_t out[AUDIT_HASH_LEN])
{
	uint8_t l[AUDIT_HASH_LEN], r[AUDIT_HASH_LEN];
	uint64_t k;
	int rc;

	if (size == 0)
		return ACCORD_EINVAL; /* no caller asks for an empty range */
	/* size > 0 here; the analyser loses that through pow2(). */
	if (pow2(size) && start % size == 0) // NOLINT(clang-analyzer-core.DivideZero)
		return w->get(w->ctx, (unsigned)__builtin_ctzll(size), start / size, out);
	k = split(size);
	rc = range_hash(w, start, k, l);
	if (rc == 0)
		rc = range_hash(w, start + k, size - k, r);
	if (rc == 0)
		rc = merkle_node(&w->h, l, r, out);
	return rc;
}

static int push_range(struct walk *w, uint64_t start, uint64_t size)
{
	if (w->p->n >= AUDIT_PROOF_MAX)
		return ACCORD_ETOOBIG;
	return range_hash(w, start, size, w->p->hash[w->p->n++]);
}

static int walk_begin(struct walk *w, merkle_get_fn get, void *ctx, audit_proof *p)
{
	w->get = get;
	w->ctx = ctx;
	w->p = p;
	if (p)
		p->n = 0;
	return merkle_hasher_init(&w->h);
}

int merkle_root(merkle_get_fn get, void *ctx, uint64_t size,
		uint8_t out[AUDIT_HASH_LEN])
{
	struct walk w;
	int rc;

	if (size == 0) {
		memcpy(out, empty_sha256, AUDIT_HASH_LEN);
		return 0;
	}
	rc = walk_begin(&w, get, ctx, NULL);
	if (rc != 0)
		return rc;
	rc = range_hash(&w, 0, size, out);
	merkle_hasher_free(&w.h);
	return rc;
}

/* PATH(m, D[start:start+size]) of RFC 9162 2.1.3.1. */
static int path(struct walk *w, uint64_t m, uint64_t start, uint64_t size)
{
	uint64_t k;
	int rc;

	if (size <= 1)
		return 0;
	k = split(size);
	if (m < k) {
		rc = path(w, m, start, k);
		return rc ? rc : push_range(w, start + k, size - k);
	}
	rc = path(w, m - k, start + k, size - k);
	return rc ? rc : push_range(w, start, k);
}

int merkle_inclusion(merkle_get_fn get, void *ctx, uint64_t index, uint64_t size,
		     audit_proof *p)
{
	struct walk w;
	int rc;

	if (index >= size)
		return ACCORD_EINVAL;
	rc = walk_begin(&w, get, ctx, p);
	if (rc != 0)
		return rc;
	rc = path(&w, index, 0, size);
	merkle_hasher_free(&w.h);
	return rc;
}

/* SUBPROOF(m, D[start:start+size], b) of RFC 9162 2.1.4.1. */
static int subproof(struct walk *w, uint64_t m, uint64_t start, uint64_t size, bool b)
{
	uint64_t k;
	int rc;

	if (m == size)
		return b ? 0 : push_range(w, start, size);
	k = split(size);
	if (m <= k) {
		rc = subproof(w, m, start, k, b);
		return rc ? rc : push_range(w, start + k, size - k);
	}
	rc = subproof(w, m - k, start + k, size - k, false);
	return rc ? rc : push_range(w, start, k);
}

int merkle_consistency(merkle_get_fn get, void *ctx, uint64_t m, uint64_t n,
		       audit_proof *p)
{
	struct walk w;
	int rc;

	if (m > n)
		return ACCORD_EINVAL;
	rc = walk_begin(&w, get, ctx, p);
	if (rc != 0)
		return rc;
	if (m > 0 && m < n)
		rc = subproof(&w, m, 0, n, true);
	merkle_hasher_free(&w.h);
	return rc;
}

bool audit_inclusion_verify(const uint8_t leaf[AUDIT_HASH_LEN], uint64_t index,
			    uint64_t size, const audit_proof *p,
			    const uint8_t root[AUDIT_HASH_LEN])
{
	uint8_t r[AUDIT_HASH_LEN];
	uint64_t fn = index, sn;
	merkle_hasher h;

	if (index >= size || p->n > AUDIT_PROOF_MAX || merkle_hasher_init(&h) != 0)
		return false;
	sn = size - 1;
	memcpy(r, leaf, AUDIT_HASH_LEN);
	for (size_t i = 0; i < p->n; i++) {
		if (sn == 0)
			goto fail;
		if ((fn & 1) || fn == sn) {
			if (merkle_node(&h, p->hash[i], r, r) != 0)
				goto fail;
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (merkle_node(&h, r, p->hash[i], r) != 0) {
			goto fail;
		}
		fn >>= 1;
		sn >>= 1;
	}
	merkle_hasher_free(&h);
	return sn == 0 && memcmp(r, root, AUDIT_HASH_LEN) == 0;
fail:
	merkle_hasher_free(&h);
	return false;
}

bool audit_consistency_verify(uint64_t m, const uint8_t root_m[AUDIT_HASH_LEN],
			      uint64_t n, const uint8_t root_n[AUDIT_HASH_LEN],
			      const audit_proof *p)
{
	uint8_t fr[AUDIT_HASH_LEN], sr[AUDIT_HASH_LEN];
	uint64_t fn, sn;
	size_t i = 0;
	merkle_hasher h;
	bool ok;

	if (m > n || p->n > AUDIT_PROOF_MAX)
		return false;
	if (m == 0)
		return p->n == 0;
	if (m == n)
		return p->n == 0 && memcmp(root_m, root_n, AUDIT_HASH_LEN) == 0;
	if (p->n == 0 || merkle_hasher_init(&h) != 0)
		return false;
	/* Step 2: a power-of-two first tree is its own first proof node. */
	if (pow2(m))
		memcpy(fr, root_m, AUDIT_HASH_LEN);
	else
		memcpy(fr, p->hash[i++], AUDIT_HASH_LEN);
	memcpy(sr, fr, AUDIT_HASH_LEN);
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < p->n; i++) {
		if (sn == 0)
			goto fail;
		if ((fn & 1) || fn == sn) {
			if (merkle_node(&h, p->hash[i], fr, fr) != 0 ||
			    merkle_node(&h, p->hash[i], sr, sr) != 0)
				goto fail;
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (merkle_node(&h, sr, p->hash[i], sr) != 0) {
			goto fail;
		}
		fn >>= 1;
		sn >>= 1;
	}
	ok = sn == 0 && memcmp(fr, root_m, AUDIT_HASH_LEN) == 0 &&
	     memcmp(sr, root_n, AUDIT_HASH_LEN) == 0;
	merkle_hasher_free(&h);
	return ok;
fail:
	merkle_hasher_free(&h);
	return false;
}

/* ---- a tree in memory ---------------------------------------------------- */

struct audit_memtree {
	size_t n;                           /* leaves */
	unsigned levels;                    /* level[0] = leaves .. the top */
	uint8_t (*level[64])[AUDIT_HASH_LEN]; /* level k: n >> k complete subtrees */
	uint8_t root[AUDIT_HASH_LEN];
};

static int memtree_get(void *ctx, unsigned level, uint64_t index, uint8_t out[AUDIT_HASH_LEN])
{
	const audit_memtree *t = ctx;

	if (level >= t->levels || index >= (t->n >> level))
		return ACCORD_EINVAL;
	memcpy(out, t->level[level][index], AUDIT_HASH_LEN);
	return 0;
}

void audit_memtree_free(audit_memtree *t)
{
	if (!t)
		return;
	for (unsigned k = 0; k < t->levels; k++)
		free(t->level[k]);
	free(t);
}

int audit_memtree_build(const uint8_t (*leaves)[AUDIT_HASH_LEN], size_t n,
			audit_memtree **out)
{
	audit_memtree *t;
	merkle_hasher h;
	int rc = 0;

	*out = NULL;
	if (n == 0 || n > AUDIT_MEMTREE_MAX)
		return ACCORD_EINVAL;
	t = calloc(1, sizeof *t);
	if (!t)
		return ACCORD_ENOMEM;
	t->n = n;
	if (merkle_hasher_init(&h) != 0) {
		free(t);
		return ACCORD_ENOMEM;
	}
	for (size_t w = n; w > 0 && rc == 0; w >>= 1) {
		unsigned k = t->levels;

		t->level[k] = malloc(w * AUDIT_HASH_LEN);
		if (!t->level[k]) {
			rc = ACCORD_ENOMEM;
			break;
		}
		t->levels++;
		if (k == 0)
			memcpy(t->level[0], leaves, n * AUDIT_HASH_LEN);
		for (size_t i = 0; k > 0 && i < w && rc == 0; i++)
			rc = merkle_node(&h, t->level[k - 1][2 * i], t->level[k - 1][2 * i + 1],
					 t->level[k][i]);
	}
	merkle_hasher_free(&h);
	if (rc == 0)
		rc = merkle_root(memtree_get, t, n, t->root);
	if (rc != 0) {
		audit_memtree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void audit_memtree_root(const audit_memtree *t, uint8_t out[AUDIT_HASH_LEN])
{
	memcpy(out, t->root, AUDIT_HASH_LEN);
}

int audit_memtree_inclusion(const audit_memtree *t, uint64_t index, audit_proof *p)
{
	return merkle_inclusion(memtree_get, (void *)t, index, t->n, p);
}
