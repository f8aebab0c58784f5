/*
 * bench_audit.c - the audit log against its baselines, in one run:
 *   durable appends a second at batches of 1, 10, 100 and 1000, beside
 *   SQLite (WAL, synchronous=FULL) inserting the same entries;
 *   verification of a 1M-entry log in entries a second, and in bytes a
 *   second beside raw SHA-256 over the same entry bytes;
 *   a subject query (pseudonym, index, entries read) at 1M entries, beside
 *   the same query on SQLite with an index;
 *   the disk's rate of write + fdatasync, which bounds durable appends.
 * Scratch stores go under $BENCH_DIR (the build directory, on disk).
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "accord/audit.h"

#define BIG 1000000
#define SUBJECTS 100000
#define QUERIES 2000

static const char *const paths[] = {
	"subject.given_name", "subject.family_name", "subject.birth_date", "needs",
	"summary", "urgency", "consent",
};
static const char *const withheld[] = { "risk_assessment" };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const accord_error *e)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, e ? accord_error_msg(e) : "failed");
	exit(1);
}

static void entry(uint64_t i, audit_entry *en, const uint8_t subject[AUDIT_HASH_LEN])
{
	static char msgid[40];

	memset(en, 0, sizeof *en);
	en->time_ms = 1790000000000 + (int64_t)i;
	en->event = AUDIT_DISCLOSED;
	en->protocol_id = "eastshire-reintegration";
	en->protocol_version = 3;
	en->has_protocol_digest = true;
	memset(en->protocol_digest, 0xab, CRYPTO_SHA256_LEN);
	en->rule_id = "police-refers-to-council";
	en->purpose = "reintegration-referral";
	en->from = "police";
	en->to = "council";
	en->record_type = "Referral";
	en->disclosed = paths;
	en->n_disclosed = sizeof paths / sizeof paths[0];
	en->withheld = withheld;
	en->n_withheld = 1;
	en->has_record_sha256 = true;
	if (crypto_sha256(&i, sizeof i, en->record_sha256) != 0)
		abort();
	snprintf(msgid, sizeof msgid, "msg-%016llx", (unsigned long long)i);
	en->message_id = msgid;
	en->has_subject = true;
	memcpy(en->subject, subject, AUDIT_HASH_LEN);
	en->has_peer_key = true;
	memset(en->peer_key, 0x5a, CRYPTO_SHA256_LEN);
	en->actor = "case-worker-17";
	en->outcome = AUDIT_SUCCESS;
	en->reason = "rule allows";
}

static char *scratch(const char *name)
{
	const char *base = getenv("BENCH_DIR");
	char *p = malloc(4096);

	if (!p)
		die("out of memory", NULL);
	snprintf(p, 4096, "%s/%s-XXXXXX", base ? base : "/tmp", name);
	if (!mkdtemp(p))
		die("mkdtemp", NULL);
	return p;
}

static void rm_rf(const char *dir)
{
	char cmd[4200];

	if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd &&
	    system(cmd) != 0)
		fprintf(stderr, "bench_audit: could not remove %s\n", dir);
}

/* CPU seconds (user and system) this process has used. */
static double cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void line(const char *bench, double v, const char *unit, const char *base,
		 double bv)
{
	printf("{\"bench\":\"%s\",\"value\":%.6g,\"unit\":\"%s\",\"baseline\":\"%s\","
	       "\"baseline_value\":%.6g,\"ratio\":%.4g}\n", bench, v, unit, base, bv,
	       bv > 0 ? v / bv : 0);
	fflush(stdout);
}

struct log {
	char *dir;
	store *st;
	audit *a;
};

static void log_open(struct log *l, const char *name)
{
	store_options o = { .map_size = 1ull << 30 };
	accord_error e = { 0 };

	l->dir = scratch(name);
	if (store_open(l->dir, &o, &l->st, &e) || audit_open(l->st, &l->a, &e))
		die("open", &e);
}

static void log_close(struct log *l)
{
	audit_close(l->a);
	store_close(l->st);
	rm_rf(l->dir);
	free(l->dir);
}

/* Append n entries in batches of b; entries/s. Subject i % SUBJECTS. */
static double append(audit *a, uint64_t first, uint64_t n, size_t b,
		     uint8_t (*subjects)[AUDIT_HASH_LEN])
{
	accord_error e = { 0 };
	double t0 = now();

	for (uint64_t i = first; i < first + n;) {
		audit_batch *bt;

		if (audit_batch_begin(a, &bt, &e))
			die("batch", &e);
		for (size_t j = 0; j < b && i < first + n; j++, i++) {
			audit_entry en;

			entry(i, &en, subjects[i % SUBJECTS]);
			if (audit_batch_append(bt, &en, NULL, &e))
				die("append", &e);
		}
		if (audit_batch_commit(bt, NULL, NULL, &e))
			die("commit", &e);
	}
	return (double)n / (now() - t0);
}

static void sq(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_audit: sqlite: %s: %s\n", sql, err);
		exit(1);
	}
}

struct sql {
	char *dir;
	sqlite3 *db;
	sqlite3_stmt *ins;
};

static void sql_open(struct sql *s, bool durable)
{
	char path[4200];

	s->dir = scratch("sqlite");
	snprintf(path, sizeof path, "%s/audit.db", s->dir);
	if (sqlite3_open(path, &s->db) != SQLITE_OK)
		die("sqlite3_open", NULL);
	sq(s->db, "PRAGMA journal_mode=WAL");
	sq(s->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
	sq(s->db, "CREATE TABLE audit (seq INTEGER PRIMARY KEY, subject BLOB NOT NULL, "
	   "entry BLOB NOT NULL)");
	sq(s->db, "CREATE INDEX audit_subject ON audit (subject, seq)");
	if (sqlite3_prepare_v2(s->db, "INSERT INTO audit VALUES (?, ?, ?)", -1, &s->ins,
			       NULL) != SQLITE_OK)
		die("sqlite prepare", NULL);
}

static void sql_close(struct sql *s)
{
	sqlite3_finalize(s->ins);
	sqlite3_close(s->db);
	rm_rf(s->dir);
	free(s->dir);
}

/* Insert n rows in transactions of b: the entry bytes the log packed for
 * its first 1000 entries, reused in turn (same sizes and shape). */
static double sql_append(struct sql *s, uint64_t n, size_t b, uint8_t **bytes,
			 size_t *len, uint8_t (*subjects)[AUDIT_HASH_LEN])
{
	double t0 = now();

	for (uint64_t i = 0; i < n;) {
		sq(s->db, "BEGIN");
		for (size_t j = 0; j < b && i < n; j++, i++) {
			sqlite3_bind_int64(s->ins, 1, (sqlite3_int64)i);
			sqlite3_bind_blob(s->ins, 2, subjects[i % SUBJECTS], AUDIT_HASH_LEN,
					  SQLITE_STATIC);
			sqlite3_bind_blob(s->ins, 3, bytes[i % 1000], (int)len[i % 1000],
					  SQLITE_STATIC);
			if (sqlite3_step(s->ins) != SQLITE_DONE)
				die("sqlite insert", NULL);
			sqlite3_reset(s->ins);
		}
		sq(s->db, "COMMIT");
	}
	return (double)n / (now() - t0);
}

static void bench_appends(uint8_t (*subjects)[AUDIT_HASH_LEN])
{
	static const struct { size_t b; uint64_t n; } runs[] = {
		{ 1, 500 }, { 10, 3000 }, { 100, 30000 }, { 1000, 100000 },
	};
	uint8_t *bytes[1000];
	size_t len[1000];
	struct log l;

	/* Entries as the log packs them, for SQLite to insert. */
	log_open(&l, "audit-src");
	append(l.a, 0, 1000, 1000, subjects);
	for (uint64_t i = 0; i < 1000; i++) {
		audit_record *r;
		const uint8_t *p;

		if (audit_read(l.a, i, &r, NULL))
			die("read", NULL);
		p = audit_record_bytes(r, &len[i]);
		bytes[i] = malloc(len[i]);
		if (!bytes[i])
			die("out of memory", NULL);
		memcpy(bytes[i], p, len[i]);
		audit_record_free(r);
	}
	log_close(&l);
	for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
		char name[64], base[64];
		struct sql s;
		double v, bv, c0, c1, c2, c3;

		log_open(&l, "audit-append");
		c0 = cpu();
		v = append(l.a, 0, runs[k].n, runs[k].b, subjects);
		c1 = cpu();
		log_close(&l);
		sql_open(&s, true);
		c2 = cpu();
		bv = sql_append(&s, runs[k].n, runs[k].b, bytes, len, subjects);
		c3 = cpu();
		sql_close(&s);
		snprintf(name, sizeof name, "audit_append_b%zu", runs[k].b);
		snprintf(base, sizeof base, "sqlite_wal_full_b%zu", runs[k].b);
		line(name, v, "appends/s", base, bv);
		/* The disk's syncs move the rates tenfold between runs; the CPU
		 * time an append hardly at all. */
		snprintf(name, sizeof name, "audit_append_b%zu_cpu", runs[k].b);
		snprintf(base, sizeof base, "sqlite_wal_full_b%zu_cpu", runs[k].b);
		line(name, (c1 - c0) * 1e6 / (double)runs[k].n, "us/append", base,
		     (c3 - c2) * 1e6 / (double)runs[k].n);
	}
	for (int i = 0; i < 1000; i++)
		free(bytes[i]);
}

/* The disk's sync rate: 4 KiB rewritten then fdatasync'd, SYNCS times, in
 * the scratch directory. An LMDB commit syncs twice (the data pages, then
 * the meta page), so a batch of b entries a commit is bounded by
 * b * rate / 2 appends a second, whatever the CPU does. */
#define SYNCS 2000

static double sync_rate(void)
{
	char *dir = scratch("sync"), path[4200];
	uint8_t page[4096];
	double t0, rate;
	int fd;

	memset(page, 0x5a, sizeof page);
	snprintf(path, sizeof path, "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		die("open the sync file", NULL);
	t0 = now();
	for (int i = 0; i < SYNCS; i++)
		if (pwrite(fd, page, sizeof page, (off_t)(i % 16) * 4096) != sizeof page ||
		    fdatasync(fd) != 0)
			die("write and fdatasync", NULL);
	rate = SYNCS / (now() - t0);
	close(fd);
	rm_rf(dir);
	free(dir);
	return rate;
}

/* Raw SHA-256 over the same entry bytes, copied out first, timed alone:
 * the best of three passes, so a busy moment on the machine does not
 * flatter the log's ratio. */
static double raw_sha256(audit *a, uint64_t n, size_t *total)
{
	uint8_t *buf = NULL, h[32];
	size_t used = 0, cap = 0;
	double t0, best = 0;

	*total = 0;
	for (uint64_t i = 0; i < n; i++) {
		audit_record *r;
		const uint8_t *p;
		size_t len;

		if (audit_read(a, i, &r, NULL))
			die("read", NULL);
		p = audit_record_bytes(r, &len);
		if (used + len > cap) {
			cap = cap ? cap * 2 : 1 << 24;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory", NULL);
		}
		memcpy(buf + used, p, len);
		used += len;
		audit_record_free(r);
	}
	for (int pass = 0; pass < 3; pass++) {
		t0 = now();
		if (crypto_sha256(buf, used, h) != 0)
			abort();
		t0 = now() - t0;
		if (pass == 0 || t0 < best)
			best = t0;
	}
	*total = used;
	free(buf);
	return (double)used / best;
}

static void bench_big(struct log *big, uint8_t (*subjects)[AUDIT_HASH_LEN])
{
	struct log l = *big;
	struct sql s;
	audit_report r;
	accord_error e = { 0 };
	size_t bytes;
	double t0, vt, vw, raw, q, bq;
	uint64_t found = 0;

	append(l.a, 0, BIG, AUDIT_BATCH_MAX, subjects);
	t0 = now();
	if (audit_verify(l.a, NULL, NULL, 0, &r, &e) || !r.ok)
		die("verify", &e);
	vt = now() - t0;
	/* Again in the same process: LMDB's map is now touched, as the raw
	 * baseline's buffer is. */
	t0 = now();
	if (audit_verify(l.a, NULL, NULL, 0, &r, &e) || !r.ok)
		die("verify", &e);
	vw = now() - t0;
	raw = raw_sha256(l.a, BIG, &bytes);
	line("audit_verify", BIG / vt, "entries/s", "none", 0);
	line("audit_verify_bytes", (double)bytes / vt, "bytes/s", "sha256_raw_same_bytes",
	     raw);
	line("audit_verify_bytes_warm", (double)bytes / vw, "bytes/s",
	     "sha256_raw_same_bytes", raw);

	/* Subject queries: pseudonym from the names, index, every entry read. */
	t0 = now();
	for (int i = 0; i < QUERIES; i++) {
		char given[32];
		uint8_t p[AUDIT_HASH_LEN];
		uint64_t *seqs;
		size_t n;

		snprintf(given, sizeof given, "given%d", (i * 7919) % SUBJECTS);
		if (audit_subject_pseudonym(l.a, given, "Family", "1990-02-03", p, &e) ||
		    audit_subject_entries(l.a, p, &seqs, &n, &e))
			die("subject", &e);
		for (size_t j = 0; j < n; j++) {
			audit_record *rec;

			if (audit_read(l.a, seqs[j], &rec, &e))
				die("read", &e);
			audit_record_free(rec);
		}
		found += n;
		free(seqs);
	}
	q = (now() - t0) * 1000 / QUERIES;
	if (found != (uint64_t)QUERIES * (BIG / SUBJECTS))
		die("subject query found the wrong number of entries", NULL);

	/* SQLite, same rows, indexed, same queries (pseudonyms precomputed:
	 * SQLite is given the easier job). */
	sql_open(&s, false);
	sq(s.db, "BEGIN");
	for (uint64_t i = 0; i < BIG; i++) {
		audit_record *rec;
		const uint8_t *p;
		size_t len;

		if (i % 1000 == 0 && audit_read(l.a, i, &rec, NULL) == 0) {
			p = audit_record_bytes(rec, &len);
			sqlite3_bind_blob(s.ins, 3, p, (int)len, SQLITE_TRANSIENT);
			audit_record_free(rec);
		}
		sqlite3_bind_int64(s.ins, 1, (sqlite3_int64)i);
		sqlite3_bind_blob(s.ins, 2, subjects[i % SUBJECTS], AUDIT_HASH_LEN,
				  SQLITE_STATIC);
		if (sqlite3_step(s.ins) != SQLITE_DONE)
			die("sqlite insert", NULL);
		sqlite3_reset(s.ins);
	}
	sq(s.db, "COMMIT");
	{
		sqlite3_stmt *st;
		uint64_t got = 0;

		if (sqlite3_prepare_v2(s.db, "SELECT seq, entry FROM audit WHERE subject = ? "
				       "ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
			die("sqlite prepare", NULL);
		t0 = now();
		for (int i = 0; i < QUERIES; i++) {
			sqlite3_bind_blob(st, 1, subjects[(i * 7919) % SUBJECTS], AUDIT_HASH_LEN,
					  SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW)
				got++;
			sqlite3_reset(st);
		}
		bq = (now() - t0) * 1000 / QUERIES;
		sqlite3_finalize(st);
		if (got != found)
			die("sqlite query found the wrong number of rows", NULL);
	}
	sql_close(&s);
	line("audit_subject_query_1m", q, "ms", "sqlite_indexed_query_1m", bq);
}

int main(void)
{
	uint8_t (*subjects)[AUDIT_HASH_LEN] = calloc(SUBJECTS, AUDIT_HASH_LEN);
	struct log big;
	accord_error e = { 0 };

	if (!subjects)
		die("out of memory", NULL);
	/* Real pseudonyms, under the secret of the log the queries run on. */
	log_open(&big, "audit-1m");
	for (int i = 0; i < SUBJECTS; i++) {
		char given[32];

		snprintf(given, sizeof given, "given%d", i);
		if (audit_subject_pseudonym(big.a, given, "Family", "1990-02-03",
					    subjects[i], &e))
			die("pseudonym", &e);
	}
	{
		double rate = sync_rate();

		line("disk_fdatasync", rate, "syncs/s", "none", 0);
		line("audit_append_b100_sync_ceiling", rate * 100 / 2, "appends/s", "none", 0);
	}
	bench_appends(subjects);
	bench_big(&big, subjects);
	log_close(&big);
	free(subjects);
	return 0;
}
