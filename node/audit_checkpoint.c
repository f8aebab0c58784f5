/*
 * audit_checkpoint.c - checkpoints as C2SP signed notes
 * (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint).
 *
 * Parsing is strict because a note comes from outside: another partner's
 * receipt, or a file a DPO was handed. Unknown signature lines (another
 * key, another algorithm) are allowed and ignored, as the spec asks.
 */
#include <errno.h>

#include "accord/protocol.h"
#include "audit_internal.h"

#define EM_DASH "\xe2\x80\x94"
#define SIG_PREFIX EM_DASH " "
#define ALG_ED25519 0x01
#define BODY_LINES_MAX 16
#define SIG_BLOB_LEN (4 + CRYPTO_ED25519_SIG_LEN)

int audit_origin(const char *partner_id, char out[AUDIT_NAME_MAX])
{
	int n;

	if (!protocol_id_ok(partner_id))
		return ACCORD_EINVAL;
	n = snprintf(out, AUDIT_NAME_MAX, "accord.audit/%s", partner_id);
	return n > 0 && n < AUDIT_NAME_MAX ? 0 : ACCORD_ETOOBIG;
}

static int key_hash(const char *name, const uint8_t pub[CRYPTO_ED25519_PUB_LEN],
		    uint8_t out[4])
{
	size_t n = strlen(name);
	uint8_t buf[AUDIT_NAME_MAX + 2 + CRYPTO_ED25519_PUB_LEN];
	uint8_t h[CRYPTO_SHA256_LEN];

	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = ALG_ED25519;
	memcpy(buf + n + 2, pub, CRYPTO_ED25519_PUB_LEN);
	if (crypto_sha256(buf, n + 2 + CRYPTO_ED25519_PUB_LEN, h) != 0)
		return ACCORD_ENOMEM;
	memcpy(out, h, 4);
	return 0;
}

/* A key name: non-empty, printable, no spaces or '+' (signed-note). */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= AUDIT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '+')
			return false;
	return true;
}

int audit_note_sign(const char *origin, uint64_t size,
		    const uint8_t root[AUDIT_HASH_LEN], const crypto_signer *signer,
		    char **out, accord_error *e)
{
	char root64[CRYPTO_B64_LEN(AUDIT_HASH_LEN)];
	char sig64[CRYPTO_B64_LEN(SIG_BLOB_LEN)];
	uint8_t pub[CRYPTO_ED25519_PUB_LEN], blob[SIG_BLOB_LEN];
	char *text;
	int body, n;

	if (!name_ok(origin, strlen(origin)))
		return accord_fail(e, ACCORD_EINVAL, "checkpoint origin '%s' is empty, too "
				   "long or holds spaces", origin);
	text = malloc(AUDIT_NOTE_MAX);
	if (!text)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	crypto_b64_encode(root, AUDIT_HASH_LEN, root64);
	body = snprintf(text, AUDIT_NOTE_MAX, "%s\n%llu\n%s\n", origin,
			(unsigned long long)size, root64);
	if (body < 0 || body >= AUDIT_NOTE_MAX / 2) {
		free(text);
		return accord_fail(e, ACCORD_ETOOBIG, "checkpoint too long");
	}
	crypto_signer_public(signer, pub);
	if (key_hash(origin, pub, blob) != 0 ||
	    crypto_signer_sign(signer, text, (size_t)body, blob + 4) != 0) {
		free(text);
		return accord_fail(e, ACCORD_ECRYPTO, "cannot sign the checkpoint");
	}
	crypto_b64_encode(blob, sizeof blob, sig64);
	n = snprintf(text + body, AUDIT_NOTE_MAX - (size_t)body, "\n" SIG_PREFIX "%s %s\n",
		     origin, sig64);
	if (n < 0 || n >= AUDIT_NOTE_MAX - body) {
		free(text);
		return accord_fail(e, ACCORD_ETOOBIG, "checkpoint too long");
	}
	*out = text;
	return 0;
}

/* The next line of text[*pos..len) without its '\n' (which must be there). */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line,
		      size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return false;
	nl = memchr(text + *pos, '\n', len - *pos);
	if (!nl)
		return false;
	*line = text + *pos;
	*n = (size_t)(nl - *line);
	*pos += *n + 1;
	return true;
}

static bool parse_size(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

/* Decode base64 of a bounded line; false unless exactly want bytes. */
static bool b64_field(const char *s, size_t n, uint8_t *out, size_t want)
{
	char buf[CRYPTO_B64_LEN(SIG_BLOB_LEN) + 1];

	if (n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return crypto_b64_decode_exact(buf, out, want) == 0;
}

static int parse_sig(const char *line, size_t n, audit_note *out, accord_error *e)
{
	size_t pre = sizeof SIG_PREFIX - 1;
	const char *sp;
	size_t name_len;
	uint8_t blob[SIG_BLOB_LEN];

	if (n < pre || memcmp(line, SIG_PREFIX, pre) != 0)
		return accord_fail(e, ACCORD_EPARSE, "a signature line does not start "
				   "with an em dash and a space");
	line += pre;
	n -= pre;
	sp = memchr(line, ' ', n);
	if (!sp)
		return accord_fail(e, ACCORD_EPARSE, "a signature line has no signature");
	name_len = (size_t)(sp - line);
	if (!name_ok(line, name_len))
		return accord_fail(e, ACCORD_EPARSE, "a signature line has a malformed "
				   "key name");
	/* Not an Ed25519 signature (another algorithm, a cosignature): skip it. */
	if (!b64_field(sp + 1, n - name_len - 1, blob, sizeof blob)) {
		uint8_t any[SIG_BLOB_LEN + 64];
		size_t got;
		char buf[CRYPTO_B64_LEN(sizeof any) + 1];
		size_t bn = n - name_len - 1;

		if (bn >= sizeof buf)
			return accord_fail(e, ACCORD_EPARSE, "a signature is too long");
		memcpy(buf, sp + 1, bn);
		buf[bn] = '\0';
		if (crypto_b64_decode(buf, any, sizeof any, &got) != 0 || got < 5)
			return accord_fail(e, ACCORD_EPARSE, "a signature is not base64 of "
					   "a key hash and a signature");
		return 0;
	}
	if (out->n_sigs == AUDIT_NOTE_SIGS_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "more than %d signatures",
				   AUDIT_NOTE_SIGS_MAX);
	memcpy(out->sigs[out->n_sigs].name, line, name_len);
	out->sigs[out->n_sigs].name[name_len] = '\0';
	memcpy(out->sigs[out->n_sigs].key_hash, blob, 4);
	memcpy(out->sigs[out->n_sigs].sig, blob + 4, CRYPTO_ED25519_SIG_LEN);
	out->n_sigs++;
	return 0;
}

static int parse_body(const char *text, size_t len, size_t *pos, audit_note *out,
		      accord_error *e)
{
	const char *line;
	size_t n, lines = 0;

	if (!next_line(text, len, pos, &line, &n) || !name_ok(line, n))
		return accord_fail(e, ACCORD_EPARSE, "the first line must be the log's "
				   "origin (no spaces)");
	memcpy(out->origin, line, n);
	out->origin[n] = '\0';
	if (!next_line(text, len, pos, &line, &n) || !parse_size(line, n, &out->size))
		return accord_fail(e, ACCORD_EPARSE, "the second line must be the tree "
				   "size in decimal");
	if (!next_line(text, len, pos, &line, &n) ||
	    !b64_field(line, n, out->root, AUDIT_HASH_LEN))
		return accord_fail(e, ACCORD_EPARSE, "the third line must be the root "
				   "hash in base64 (32 bytes)");
	/* Extension lines, up to the blank line that ends the body. */
	for (;;) {
		if (!next_line(text, len, pos, &line, &n))
			return accord_fail(e, ACCORD_EPARSE, "no blank line before the "
					   "signatures");
		if (n == 0)
			break;
		if (++lines > BODY_LINES_MAX)
			return accord_fail(e, ACCORD_ETOOBIG, "too many lines");
	}
	out->body_len = *pos - 1; /* the body ends with the newline before the blank line */
	return 0;
}

int audit_note_parse(const char *text, size_t len, audit_note *out,
		     accord_error *e)
{
	const char *line;
	size_t pos = 0, n, lines = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (len > AUDIT_NOTE_MAX)
		return accord_fail(e, ACCORD_ETOOBIG, "a checkpoint is at most %d bytes",
				   AUDIT_NOTE_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return accord_fail(e, ACCORD_EPARSE, "a checkpoint holds a "
					   "control character at byte %zu", i);
	}
	rc = parse_body(text, len, &pos, out, e);
	if (rc != 0)
		return rc;
	while (pos < len) {
		if (!next_line(text, len, &pos, &line, &n))
			return accord_fail(e, ACCORD_EPARSE, "the last line does not end "
					   "with a newline");
		if (++lines > AUDIT_NOTE_SIGS_MAX)
			return accord_fail(e, ACCORD_ETOOBIG, "more than %d signature lines",
					   AUDIT_NOTE_SIGS_MAX);
		rc = parse_sig(line, n, out, e);
		if (rc != 0)
			return rc;
	}
	if (lines == 0)
		return accord_fail(e, ACCORD_EPARSE, "the checkpoint has no signature");
	return 0;
}

int audit_note_verify(const char *text, size_t len,
		      const uint8_t pub[CRYPTO_ED25519_PUB_LEN], audit_note *out,
		      accord_error *e)
{
	uint8_t want[4];
	bool named = false;
	int rc = audit_note_parse(text, len, out, e);

	if (rc != 0)
		return rc;
	if (key_hash(out->origin, pub, want) != 0)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	for (size_t i = 0; i < out->n_sigs; i++) {
		if (strcmp(out->sigs[i].name, out->origin) != 0)
			continue;
		named = true;
		if (memcmp(out->sigs[i].key_hash, want, 4) != 0)
			continue;
		if (crypto_ed25519_verify(pub, text, out->body_len, out->sigs[i].sig))
			return 0;
		return accord_fail(e, ACCORD_ESIG, "the checkpoint's signature by '%s' "
				   "does not verify: the checkpoint was forged or altered",
				   out->origin);
	}
	if (named)
		return accord_fail(e, ACCORD_ESIG, "the checkpoint is signed as '%s' but "
				   "by another key than the one given", out->origin);
	return accord_fail(e, ACCORD_ESIG, "the checkpoint has no signature by its "
			   "log '%s'", out->origin);
}
