/*
 * protocol.h - the signed information-sharing protocol.
 *
 * A protocol is a YAML document (see policies/README.md for every key) and a
 * detached signature file beside it (NAME.yaml.sig). protocol_parse checks
 * the document completely and reports every problem it finds with its line
 * and column; a protocol handle exists only for a valid document. Whether a
 * valid protocol is *in force* is a separate question: every partner must
 * have signed exactly its bytes (protocol_sigs_check) and the date must lie
 * within effective_from..review_by (protocol_in_force).
 */
#ifndef ACCORD_PROTOCOL_H
#define ACCORD_PROTOCOL_H

#include "accord/crypto.h"
#include "accord/date.h"
#include "accord/error.h"

/* Input limits: a protocol is written by people, so these are generous. */
#define PROTOCOL_MAX_BYTES ((size_t)1024 * 1024)
#define PROTOCOL_MAX_DEPTH 8
#define PROTOCOL_MAX_NODES 100000
#define PROTOCOL_MAX_SCALAR 4096
#define PROTOCOL_MAX_ID 64
#define PROTOCOL_MAX_DAYS 100   /* review_by - effective_from, at most */
#define PROTOCOL_SIG_MAX_BYTES ((size_t)64 * 1024)

typedef struct protocol protocol;

/* One problem found in a document: where, and a sentence saying what. */
typedef struct protocol_diag {
	int line;    /* 1-based; 0 when the problem is the whole file */
	int column;  /* 1-based; 0 when unknown */
	char msg[384];
} protocol_diag;

#define PROTOCOL_MAX_DIAGS 64

typedef struct protocol_diags {
	char file[256];
	size_t count;        /* diagnostics kept in items */
	size_t dropped;      /* more were found than items holds */
	protocol_diag items[PROTOCOL_MAX_DIAGS];
} protocol_diags;

/* Add a diagnostic (kept up to PROTOCOL_MAX_DIAGS, then counted). */
void protocol_diag_add(protocol_diags *d, int line, int column, const char *fmt, ...)
	ACCORD_PRINTF(4, 5);

/* Whether s is a well-formed id (partner, purpose, rule, protocol): 1 to
 * PROTOCOL_MAX_ID lower-case letters, digits and '-', not at either end. */
bool protocol_id_ok(const char *s);

/* Print each diagnostic as "file:line:column: message" to f, the message
 * escaped as record_term_escape does (record.h). */
void protocol_diags_print(const protocol_diags *d, FILE *f);

typedef struct protocol_partner {
	const char *id;
	const char *name;
	const char *responsibilities;
	const char *endpoint;            /* https://host:port */
	const char *tls_spki_sha256_b64;
	uint8_t tls_spki_sha256[CRYPTO_SHA256_LEN];
	const char *signing_key_b64;
	uint8_t signing_key[CRYPTO_ED25519_PUB_LEN];
	int line;
} protocol_partner;

typedef struct protocol_purpose {
	const char *id;
	const char *description;
	const char *legal_basis;
	int line;
} protocol_purpose;

typedef enum { PROTOCOL_CONSENT_REQUIRED, PROTOCOL_CONSENT_NOT_REQUIRED } protocol_consent;
typedef enum { PROTOCOL_WHEN_ANYTIME, PROTOCOL_WHEN_IN_CASE } protocol_when;

/* The words the document uses: "required", "not-required"; "anytime",
 * "in-case". */
const char *protocol_consent_name(protocol_consent c);
const char *protocol_when_name(protocol_when w);

typedef struct protocol_rule {
	const char *id;
	const char *from;
	const char *const *to;
	size_t n_to;
	const char *purpose;
	const char *record;              /* record type, e.g. "Referral" */
	const char *const *fields;       /* field paths within record */
	size_t n_fields;
	protocol_consent consent;
	protocol_when when;
	int retention_days;
	int line;
} protocol_rule;

/*
 * Parse and validate len bytes of YAML. name is used in diagnostics (the
 * file name). On success *out is a new protocol (protocol_close it) and
 * returns 0; on failure returns ACCORD_EINVALID (the document is wrong: see
 * d), ACCORD_ETOOBIG, ACCORD_EPARSE or ACCORD_ENOMEM, and d holds at least
 * one diagnostic. d may not be NULL.
 */
int protocol_parse(const char *name, const void *buf, size_t len,
		   protocol **out, protocol_diags *d) ACCORD_MUST_CHECK;

/* protocol_parse of the file at path (at most PROTOCOL_MAX_BYTES). */
int protocol_load(const char *path, protocol **out, protocol_diags *d)
	ACCORD_MUST_CHECK;

void protocol_close(protocol *p);

const char *protocol_id(const protocol *p);
long protocol_version(const protocol *p);
const char *protocol_title(const protocol *p);
const char *protocol_coordinator(const protocol *p);
accord_date protocol_effective_from(const protocol *p);
accord_date protocol_review_by(const protocol *p);
/* SHA-256 of the document's exact bytes: what envelopes name. */
const uint8_t *protocol_digest(const protocol *p);
const void *protocol_bytes(const protocol *p, size_t *len);

size_t protocol_partner_count(const protocol *p);
const protocol_partner *protocol_partner_at(const protocol *p, size_t i);
const protocol_partner *protocol_partner_find(const protocol *p, const char *id);
size_t protocol_purpose_count(const protocol *p);
const protocol_purpose *protocol_purpose_at(const protocol *p, size_t i);
const protocol_purpose *protocol_purpose_find(const protocol *p, const char *id);
size_t protocol_rule_count(const protocol *p);
const protocol_rule *protocol_rule_at(const protocol *p, size_t i);
const protocol_rule *protocol_rule_find(const protocol *p, const char *id);
/* never_share entries as written: "Type.path". */
size_t protocol_never_share_count(const protocol *p);
const char *protocol_never_share_at(const protocol *p, size_t i);

/* Whether the date lies within effective_from..review_by (both inclusive). */
bool protocol_dates_cover(const protocol *p, accord_date day);

/*
 * Signatures.
 *
 * The signature file holds one line per partner, "ID SIGNATURE", where
 * SIGNATURE is the base64 Ed25519 signature of
 *     "accord-protocol-signature-v1\n" || SHA-256(document bytes)
 * under the partner's signing_key. Lines starting with '#' and blank lines
 * are ignored. No canonicalisation: any changed byte needs new signatures.
 */
#define PROTOCOL_SIG_CONTEXT "accord-protocol-signature-v1\n"

typedef enum {
	PROTOCOL_SIG_MISSING = 0,
	PROTOCOL_SIG_SIGNED,
	PROTOCOL_SIG_BAD,      /* a line is there, its signature does not verify */
} protocol_sig_state;

typedef struct protocol_sig_stranger {
	char id[PROTOCOL_MAX_ID + 1];
	int line;
} protocol_sig_stranger;

typedef struct protocol_sigs {
	size_t n_partners;              /* as protocol_partner_count */
	protocol_sig_state *state;      /* per partner, in protocol order */
	size_t n_strangers;             /* lines from ids that are not partners */
	protocol_sig_stranger *strangers;
	bool all_signed;                /* every partner SIGNED */
} protocol_sigs;

/*
 * Check a signature file's contents against p. Malformed files (a line that
 * is not "ID BASE64SIG", a signature of the wrong length, the same partner
 * twice, no final newline, over PROTOCOL_SIG_MAX_BYTES) return
 * ACCORD_EINVALID with diagnostics in d (named sig_name). Otherwise returns
 * 0 and *out (protocol_sigs_free it) says, per partner, signed, missing or
 * bad, and lists lines from non-partners.
 */
int protocol_sigs_check(const protocol *p, const char *sig_name,
			const void *buf, size_t len, protocol_sigs **out,
			protocol_diags *d) ACCORD_MUST_CHECK;

/* Read PATH.sig beside the protocol file at path and check it. A missing
 * file is not an error: every partner is then MISSING. */
int protocol_sigs_load(const protocol *p, const char *path, protocol_sigs **out,
		       protocol_diags *d) ACCORD_MUST_CHECK;

void protocol_sigs_free(protocol_sigs *s);

/* The message a partner signs (PROTOCOL_SIG_CONTEXT || digest). */
#define PROTOCOL_SIG_MSG_LEN (sizeof(PROTOCOL_SIG_CONTEXT) - 1 + CRYPTO_SHA256_LEN)
void protocol_sig_message(const protocol *p, uint8_t msg[PROTOCOL_SIG_MSG_LEN]);

/*
 * Sign p as partner_id with signer and write the signature file at
 * sig_path, adding that partner's line or replacing it, keeping the other
 * lines as they are. Refuses (ACCORD_EINVAL) when partner_id is not a
 * partner, ACCORD_ESIG when the key is not that partner's signing_key, and
 * ACCORD_EINVALID when the existing file is malformed.
 */
int protocol_sign(const protocol *p, const char *partner_id,
		  const crypto_signer *signer, const char *sig_path,
		  accord_error *e) ACCORD_MUST_CHECK;

/*
 * In force: valid, every partner signed, day within the dates. Returns 0,
 * or ACCORD_ESIG / ACCORD_ENOTINFORCE with a sentence in e saying which
 * partner has not signed or which date has passed.
 */
int protocol_in_force(const protocol *p, const protocol_sigs *s,
		      accord_date day, accord_error *e) ACCORD_MUST_CHECK;

#endif
