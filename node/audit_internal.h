/* audit_internal.h - what the audit module's files share (not installed). */
#ifndef ACCORD_AUDIT_INTERNAL_H
#define ACCORD_AUDIT_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "accord/audit.h"

/* A SHA-256 state kept across many hashes, one per thread. It uses the
 * low-level SHA256_* calls, deprecated in OpenSSL 3 but kept there: they
 * neither allocate nor go through a provider, where EVP allocates and frees
 * a context at every init, a cost near that of hashing an interior node;
 * verification hashes two an entry. */
typedef struct merkle_hasher {
	SHA256_CTX c;
} merkle_hasher;

int merkle_hasher_init(merkle_hasher *h) ACCORD_MUST_CHECK;
void merkle_hasher_free(merkle_hasher *h);
/* RFC 9162 leaf and node hashes; ACCORD_ECRYPTO if OpenSSL fails, which
 * the low-level calls do not. */
int merkle_leaf(merkle_hasher *h, const void *data, size_t len,
		uint8_t out[AUDIT_HASH_LEN]) ACCORD_MUST_CHECK;
int merkle_node(merkle_hasher *h, const uint8_t l[AUDIT_HASH_LEN],
		const uint8_t r[AUDIT_HASH_LEN], uint8_t out[AUDIT_HASH_LEN])
	ACCORD_MUST_CHECK;

/* Fetch the hash of the complete subtree (level, index): the one covering
 * leaves index*2^level .. (index+1)*2^level - 1. 0 or ACCORD_E*. */
typedef int (*merkle_get_fn)(void *ctx, unsigned level, uint64_t index,
			     uint8_t out[AUDIT_HASH_LEN]);

/* MTH of the first size leaves (size 0: SHA-256 of nothing). */
int merkle_root(merkle_get_fn get, void *ctx, uint64_t size,
		uint8_t out[AUDIT_HASH_LEN]) ACCORD_MUST_CHECK;
/* RFC 9162 PATH(index, D[size]) and PROOF(m, D[n]). */
int merkle_inclusion(merkle_get_fn get, void *ctx, uint64_t index, uint64_t size,
		     audit_proof *p) ACCORD_MUST_CHECK;
int merkle_consistency(merkle_get_fn get, void *ctx, uint64_t m, uint64_t n,
		       audit_proof *p) ACCORD_MUST_CHECK;

/* The audit_tree key of subtree (level, index): BE64 of its last leaf,
 * then the level. */
#define AUDIT_TREE_KEY_LEN 9
void audit_tree_key(unsigned level, uint64_t index, uint8_t key[AUDIT_TREE_KEY_LEN]);

void audit_be64(uint64_t v, uint8_t out[8]);
uint64_t audit_get_be64(const uint8_t in[8]);

/* The databases, opened by audit_open. */
struct audit_dbs {
	MDB_dbi entry, tree, subject, subject_runs, checkpoint, meta;
};
struct audit {
	store *st;
	struct audit_dbs db;
	merkle_hasher h;
	/* HMAC-SHA256 keyed with the audit secret (audit.key), made at the
	 * first pseudonym and duplicated for each: the file is read once. */
	EVP_MAC_CTX *pseudonym;
	bool batch_open;
	bool has_subject_runs;  /* audit_subject_runs exists */
	bool has_old_subject;   /* audit_subject, the older index, holds pairs */
};

/* Entries in the log as seen by txn. */
int audit_size_in(audit *a, MDB_txn *txn, uint64_t *size);

/* One subject index pair: an entry and the pseudonym it is about. */
struct audit_subject_put {
	uint8_t subject[AUDIT_HASH_LEN];
	uint64_t seq;
};

/* The subject index (audit_subject.c). Sort a batch's pairs into the order
 * audit_subject_index writes them; write them, in the transaction that
 * grows the log from entries from to to, merging the runs the growth
 * completes. An LMDB error code. */
void audit_subject_sort(struct audit_subject_put *p, size_t n);
int audit_subject_index(audit *a, MDB_txn *txn, const struct audit_subject_put *p,
			size_t n, uint64_t from, uint64_t to);
/* Open the runs; on a writable store, move what an older store's index
 * ("audit_subject") holds into them and delete it, in one transaction. */
int audit_subject_open(audit *a, accord_error *e) ACCORD_MUST_CHECK;

/* Read meta key name into buf (up to cap bytes; *len set). */
int audit_meta_get(audit *a, MDB_txn *txn, const char *name, void *buf,
		   size_t cap, size_t *len);

#endif
