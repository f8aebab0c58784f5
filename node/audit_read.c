/* audit_read.c - reading entries back, filtering them, and the subject
 * pseudonym with its index. */
#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/params.h>

#include "audit.pb-c.h"

#include "accord/date.h"
#include "accord/fs.h"
#include "audit_internal.h"

struct audit_record {
	uint8_t *bytes;
	size_t len;
	Accord__Audit__AuditEntry *m;
	audit_entry entry;
};

static const char *const event_names[] = {
	"UNSPECIFIED", "DISCLOSED", "RECEIVED", "REFUSED", "DELIVERED", "PURGED",
	"CONSENT_WITHDRAWN", "PROTOCOL_LOADED", "PROTOCOL_REFUSED",
	"PEER_INCONSISTENT",
};
static const char *const outcome_names[] = {
	"UNSPECIFIED", "SUCCESS", "FAILURE", "DENIED",
};
#define N_EVENTS (int)(sizeof event_names / sizeof event_names[0])
#define N_OUTCOMES (int)(sizeof outcome_names / sizeof outcome_names[0])

const char *audit_event_name(int ev)
{
	return ev >= 0 && ev < N_EVENTS ? event_names[ev] : NULL;
}

const char *audit_outcome_name(int oc)
{
	return oc >= 0 && oc < N_OUTCOMES ? outcome_names[oc] : NULL;
}

static int find_name(const char *const *names, int n, const char *s)
{
	for (int i = 1; i < n; i++)
		if (strcasecmp(names[i], s) == 0)
			return i;
	return -1;
}

int audit_event_parse(const char *name)
{
	return find_name(event_names, N_EVENTS, name);
}

int audit_outcome_parse(const char *name)
{
	return find_name(outcome_names, N_OUTCOMES, name);
}

/* NULL for an empty string: absent and empty read the same. */
static const char *opt(const char *s)
{
	return s && *s ? s : NULL;
}

static bool copy_hash(ProtobufCBinaryData b, uint8_t *out)
{
	if (b.len != CRYPTO_SHA256_LEN)
		return false;
	memcpy(out, b.data, CRYPTO_SHA256_LEN);
	return true;
}

int audit_record_parse(const void *bytes, size_t len, audit_record **out)
{
	audit_record *r;
	Accord__Audit__AuditEntry *m;
	audit_entry *en;

	if (len > AUDIT_ENTRY_MAX)
		return ACCORD_ETOOBIG;
	r = calloc(1, sizeof *r);
	if (!r)
		return ACCORD_ENOMEM;
	r->bytes = malloc(len ? len : 1);
	if (!r->bytes) {
		free(r);
		return ACCORD_ENOMEM;
	}
	memcpy(r->bytes, bytes, len);
	r->len = len;
	m = r->m = accord__audit__audit_entry__unpack(NULL, len, r->bytes);
	if (!m) {
		audit_record_free(r);
		return ACCORD_EPARSE;
	}
	en = &r->entry;
	en->sequence = m->sequence;
	en->time_ms = m->time_ms;
	en->event = (int)m->event;
	en->protocol_id = opt(m->protocol_id);
	en->protocol_version = m->protocol_version;
	en->has_protocol_digest = copy_hash(m->protocol_digest, en->protocol_digest);
	en->rule_id = opt(m->rule_id);
	en->purpose = opt(m->purpose);
	en->from = opt(m->from);
	en->to = opt(m->to);
	en->record_type = opt(m->record_type);
	en->disclosed = (const char *const *)m->disclosed;
	en->n_disclosed = m->n_disclosed;
	en->withheld = (const char *const *)m->withheld;
	en->n_withheld = m->n_withheld;
	en->has_record_sha256 = copy_hash(m->record_sha256, en->record_sha256);
	en->message_id = opt(m->message_id);
	en->has_subject = copy_hash(m->subject, en->subject);
	en->has_peer_key = copy_hash(m->peer_key, en->peer_key);
	en->actor = opt(m->actor);
	en->outcome = (int)m->outcome;
	en->reason = opt(m->reason);
	*out = r;
	return 0;
}

int audit_read(audit *a, uint64_t seq, audit_record **out, accord_error *e)
{
	MDB_txn *txn;
	uint8_t key[8];
	MDB_val k = { sizeof key, key }, v;
	int rc = store_read_begin(a->st, &txn, e);

	if (rc != 0)
		return rc;
	audit_be64(seq, key);
	rc = mdb_get(txn, a->db.entry, &k, &v);
	if (rc == 0)
		rc = audit_record_parse(v.mv_data, v.mv_size, out);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return accord_fail(e, ACCORD_ENOTFOUND, "the audit log has no entry %llu",
				   (unsigned long long)seq);
	if (store_mdb_code(rc))
		return store_fail(e, rc, "reading the audit log");
	if (rc != 0)
		return accord_fail(e, rc, "audit entry %llu does not decode: run 'accord "
				   "audit verify'", (unsigned long long)seq);
	return 0;
}

const audit_entry *audit_record_entry(const audit_record *r)
{
	return &r->entry;
}

const uint8_t *audit_record_bytes(const audit_record *r, size_t *len)
{
	*len = r->len;
	return r->bytes;
}

void audit_record_free(audit_record *r)
{
	if (!r)
		return;
	if (r->m)
		accord__audit__audit_entry__free_unpacked(r->m, NULL);
	free(r->bytes);
	free(r);
}

static bool same(const char *want, const char *have)
{
	return !want || (have && strcmp(want, have) == 0);
}

static bool matches(const audit_filter *f, const audit_entry *en)
{
	if (f->since_ms && en->time_ms < f->since_ms)
		return false;
	if (f->until_ms && en->time_ms >= f->until_ms)
		return false;
	if (f->partner && !same(f->partner, en->from) && !same(f->partner, en->to))
		return false;
	if (f->event && f->event != en->event)
		return false;
	return same(f->purpose, en->purpose) && same(f->rule_id, en->rule_id);
}

int audit_iterate(audit *a, const audit_filter *f, audit_visit_fn fn, void *ctx,
		  accord_error *e)
{
	static const audit_filter all;
	MDB_txn *txn;
	MDB_cursor *c;
	uint8_t key[8];
	MDB_val k = { sizeof key, key }, v;
	int rc = store_read_begin(a->st, &txn, e);

	if (rc != 0)
		return rc;
	if (!f)
		f = &all;
	rc = mdb_cursor_open(txn, a->db.entry, &c);
	if (rc != 0)
		goto out_abort;
	audit_be64(f->first, key);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		audit_record *r;
		uint64_t seq = k.mv_size == 8 ? audit_get_be64(k.mv_data) : 0;

		if (f->last && seq > f->last)
			break;
		rc = audit_record_parse(v.mv_data, v.mv_size, &r);
		if (rc != 0) {
			mdb_cursor_close(c);
			mdb_txn_abort(txn);
			return accord_fail(e, rc, "audit entry %llu does not decode: run "
					   "'accord audit verify'", (unsigned long long)seq);
		}
		rc = matches(f, &r->entry) ? fn(&r->entry, ctx) : 0;
		audit_record_free(r);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(c);
out_abort:
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (store_mdb_code(rc))
		return store_fail(e, rc, "reading the audit log");
	return rc;
}

/* Trim, collapse inner whitespace to one space, lower-case ASCII. */
static int normalise(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	bool space = false;

	for (; *in; in++) {
		char ch = *in;

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			space = n > 0;
			continue;
		}
		if (n + (space ? 2 : 1) >= cap)
			return ACCORD_ETOOBIG;
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	out[n] = '\0';
	return n ? 0 : ACCORD_EINVAL;
}

static int read_secret(audit *a, uint8_t key[32], accord_error *e)
{
	char path[4096], *buf;
	size_t len;
	int rc;

	if (fs_path(path, sizeof path, "%s/audit.key", store_dir(a->st)) != 0)
		return accord_fail(e, ACCORD_ETOOBIG, "%s: path too long", store_dir(a->st));
	rc = fs_read_private(path, 64, &buf, &len, e);
	if (rc != 0)
		return rc;
	if (len == 32)
		memcpy(key, buf, 32);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (len != 32)
		return accord_fail(e, ACCORD_EINVAL, "%s: the audit secret must be 32 bytes",
				   path);
	return 0;
}

/* An HMAC-SHA256 context keyed with key, ready to be duplicated. */
static int keyed_mac(const uint8_t key[32], EVP_MAC_CTX **out, accord_error *e)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = hmac ? EVP_MAC_CTX_new(hmac) : NULL;

	EVP_MAC_free(hmac);    /* the context holds its own reference */
	if (!c || !EVP_MAC_init(c, key, 32, params)) {
		EVP_MAC_CTX_free(c);
		return accord_fail(e, ACCORD_ECRYPTO, "cannot set up HMAC-SHA256");
	}
	*out = c;
	return 0;
}

int audit_subject_pseudonym(audit *a, const char *given, const char *family,
			    const char *birth_date, uint8_t out[AUDIT_HASH_LEN],
			    accord_error *e)
{
	EVP_MAC_CTX *mac;
	static const char tag[] = "accord-subject-v1";
	char g[AUDIT_TEXT_MAX + 1], f[AUDIT_TEXT_MAX + 1], d[11];
	char msg[sizeof tag + 2 * sizeof g + sizeof d + 4];
	uint8_t key[32];
	accord_date day;
	size_t outlen = 0;
	int n, rc = 0;

	if (normalise(given, g, sizeof g) != 0 || normalise(family, f, sizeof f) != 0)
		return accord_fail(e, ACCORD_EINVAL, "a given and a family name are needed, "
				   "each at most %d bytes", AUDIT_TEXT_MAX);
	if (date_parse(birth_date, &day) != 0)
		return accord_fail(e, ACCORD_EINVAL, "birth date '%s' is not a date: write "
				   "YYYY-MM-DD", birth_date);
	date_format(day, d);
	n = snprintf(msg, sizeof msg, "%s\x1f%s\x1f%s\x1f%s", tag, g, f, d);
	if (n < 0 || (size_t)n >= sizeof msg)
		return accord_fail(e, ACCORD_ETOOBIG, "names too long");
	if (!a->pseudonym) {
		rc = read_secret(a, key, e);
		if (rc == 0)
			rc = keyed_mac(key, &a->pseudonym, e);
		OPENSSL_cleanse(key, sizeof key);
		if (rc != 0)
			return rc;
	}
	mac = EVP_MAC_CTX_dup(a->pseudonym);
	if (!mac || !EVP_MAC_init(mac, NULL, 0, NULL) ||
	    !EVP_MAC_update(mac, (unsigned char *)msg, (size_t)n) ||
	    !EVP_MAC_final(mac, out, &outlen, AUDIT_HASH_LEN) || outlen != AUDIT_HASH_LEN)
		rc = accord_fail(e, ACCORD_ECRYPTO, "HMAC-SHA256 failed");
	EVP_MAC_CTX_free(mac);
	OPENSSL_cleanse(msg, sizeof msg);
	return rc;
}

