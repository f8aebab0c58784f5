/*
 * protocol_sig.c - the detached signature file, and "in force".
 *
 * Each partner signs PROTOCOL_SIG_CONTEXT || SHA-256(document bytes). The
 * context string keeps a protocol signature from ever being valid as any
 * other Ed25519-signed message of Accord's (checkpoints, receipts).
 */
#include "accord/fs.h"
#include "accord/protocol.h"

#define SIG_B64_LEN (CRYPTO_B64_LEN(CRYPTO_ED25519_SIG_LEN) - 1)

/* One parsed line of a signature file. */
struct sig_line {
	char id[PROTOCOL_MAX_ID + 1];
	uint8_t sig[CRYPTO_ED25519_SIG_LEN];
	int line;
	const char *start;   /* the line's text in the buffer, and its length */
	size_t len;
};

struct sig_file {
	struct sig_line *lines;
	size_t n;
};

void protocol_sig_message(const protocol *p, uint8_t msg[PROTOCOL_SIG_MSG_LEN])
{
	size_t n = sizeof(PROTOCOL_SIG_CONTEXT) - 1;

	memcpy(msg, PROTOCOL_SIG_CONTEXT, n);
	memcpy(msg + n, protocol_digest(p), CRYPTO_SHA256_LEN);
}

/* Parse "ID BASE64" lines; every problem goes to d. */
static int parse_sig_file(const char *buf, size_t len, struct sig_file *f,
			  protocol_diags *d)
{
	const char *p = buf, *end = buf + len;
	int lineno = 0;

	f->lines = NULL;
	f->n = 0;
	if (len > PROTOCOL_SIG_MAX_BYTES) {
		protocol_diag_add(d, 0, 0, "the signature file is %zu bytes, larger than "
				  "the limit of %zu", len, PROTOCOL_SIG_MAX_BYTES);
		return ACCORD_ETOOBIG;
	}
	if (memchr(buf, '\0', len)) {
		protocol_diag_add(d, 0, 0, "the signature file contains a NUL byte: it is "
				  "not a signature file");
		return ACCORD_EINVALID;
	}
	if (len > 0 && buf[len - 1] != '\n') {
		const char *last = buf + len;

		while (last > buf && last[-1] != '\n')
			last--;
		for (const char *q = buf; q < last; q++)
			lineno += *q == '\n';
		protocol_diag_add(d, lineno + 1, 1, "the last line does not end with a "
				  "newline: the signature file looks truncated");
		return ACCORD_EINVALID;
	}
	f->lines = calloc(len / (SIG_B64_LEN + 2) + 1, sizeof *f->lines);
	if (!f->lines)
		return ACCORD_ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p);
		const char *sp = memchr(p, ' ', n);
		struct sig_line *l;
		char b64[SIG_B64_LEN + 1];
		size_t idlen;

		lineno++;
		if (n == 0 || p[0] == '#') {
			p = nl + 1;
			continue;
		}
		idlen = sp ? (size_t)(sp - p) : 0;
		if (!sp || idlen == 0 || idlen > PROTOCOL_MAX_ID ||
		    n - idlen - 1 != SIG_B64_LEN) {
			protocol_diag_add(d, lineno, 1, "expected 'PARTNER-ID SIGNATURE' with an "
					  "%d-character base64 signature; this line is not one",
					  SIG_B64_LEN);
			goto fail;
		}
		if (f->n >= len / (SIG_B64_LEN + 2) + 1)
			goto fail; /* cannot happen: every line holds a signature */
		l = &f->lines[f->n];
		memcpy(l->id, p, idlen);
		l->id[idlen] = '\0';
		memcpy(b64, sp + 1, SIG_B64_LEN);
		b64[SIG_B64_LEN] = '\0';
		if (!protocol_id_ok(l->id)) {
			protocol_diag_add(d, lineno, 1, "'%s' is not a well-formed partner id", l->id);
			goto fail;
		}
		if (crypto_b64_decode_exact(b64, l->sig, CRYPTO_ED25519_SIG_LEN) != 0) {
			protocol_diag_add(d, lineno, (int)idlen + 2, "the signature of '%s' is "
					  "not base64 of 64 bytes", l->id);
			goto fail;
		}
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(f->lines[i].id, l->id) == 0) {
				protocol_diag_add(d, lineno, 1, "partner '%s' has a second signature "
						  "line (the first is line %d); keep one",
						  l->id, f->lines[i].line);
				goto fail;
			}
		l->line = lineno;
		l->start = p;
		l->len = n;
		f->n++;
		p = nl + 1;
	}
	return 0;
fail:
	free(f->lines);
	f->lines = NULL;
	return ACCORD_EINVALID;
}

void protocol_sigs_free(protocol_sigs *s)
{
	if (!s)
		return;
	free(s->state);
	free(s->strangers);
	free(s);
}

int protocol_sigs_check(const protocol *p, const char *sig_name,
			const void *buf, size_t len, protocol_sigs **out,
			protocol_diags *d)
{
	struct sig_file f;
	protocol_sigs *s;
	uint8_t msg[PROTOCOL_SIG_MSG_LEN];
	size_t np = protocol_partner_count(p);
	int rc;

	memset(d, 0, sizeof *d);
	snprintf(d->file, sizeof d->file, "%.*s", (int)sizeof d->file - 1, sig_name);
	rc = parse_sig_file(buf, len, &f, d);
	if (rc != 0)
		return rc;
	s = calloc(1, sizeof *s);
	if (!s || !(s->state = calloc(np ? np : 1, sizeof *s->state)) ||
	    !(s->strangers = calloc(f.n ? f.n : 1, sizeof *s->strangers))) {
		protocol_sigs_free(s);
		free(f.lines);
		return ACCORD_ENOMEM;
	}
	s->n_partners = np;
	protocol_sig_message(p, msg);
	for (size_t i = 0; i < f.n; i++) {
		const protocol_partner *pt = protocol_partner_find(p, f.lines[i].id);

		if (!pt) {
			protocol_sig_stranger *st = &s->strangers[s->n_strangers++];

			memcpy(st->id, f.lines[i].id, sizeof st->id);
			st->line = f.lines[i].line;
			continue;
		}
		s->state[pt - protocol_partner_at(p, 0)] =
			crypto_ed25519_verify(pt->signing_key, msg, sizeof msg, f.lines[i].sig) ?
			PROTOCOL_SIG_SIGNED : PROTOCOL_SIG_BAD;
	}
	s->all_signed = true;
	for (size_t i = 0; i < np; i++)
		if (s->state[i] != PROTOCOL_SIG_SIGNED)
			s->all_signed = false;
	free(f.lines);
	*out = s;
	return 0;
}

int protocol_sigs_load(const protocol *p, const char *path, protocol_sigs **out,
		       protocol_diags *d)
{
	char sig_path[4096];
	accord_error e = { 0 };
	char *buf;
	size_t len;
	int rc;

	if (fs_path(sig_path, sizeof sig_path, "%s.sig", path) != 0)
		return ACCORD_ETOOBIG;
	rc = fs_read_file(sig_path, PROTOCOL_SIG_MAX_BYTES, &buf, &len, &e);
	if (rc == ACCORD_ENOTFOUND) {
		buf = NULL;
		len = 0;
	} else if (rc != 0) {
		memset(d, 0, sizeof *d);
		snprintf(d->file, sizeof d->file, "%.*s", (int)sizeof d->file - 1, sig_path);
		protocol_diag_add(d, 0, 0, "%s", fs_error_detail(&e, sig_path));
		return rc;
	}
	rc = protocol_sigs_check(p, sig_path, buf ? buf : "", len, out, d);
	free(buf);
	return rc;
}

int protocol_sign(const protocol *p, const char *partner_id,
		  const crypto_signer *signer, const char *sig_path, accord_error *e)
{
	const protocol_partner *pt = protocol_partner_find(p, partner_id);
	uint8_t pub[CRYPTO_ED25519_PUB_LEN], msg[PROTOCOL_SIG_MSG_LEN];
	uint8_t sig[CRYPTO_ED25519_SIG_LEN];
	char b64[CRYPTO_B64_LEN(CRYPTO_ED25519_SIG_LEN)];
	protocol_diags d;
	struct sig_file f = { 0 };
	char *old = NULL, *out;
	size_t oldlen = 0, used = 0;
	bool replaced = false;
	int rc;

	if (!pt)
		return accord_fail(e, ACCORD_EINVAL, "'%s' is not a partner of protocol '%s'",
				   partner_id, protocol_id(p));
	crypto_signer_public(signer, pub);
	if (memcmp(pub, pt->signing_key, sizeof pub) != 0)
		return accord_fail(e, ACCORD_ESIG, "the key given is not the signing_key the "
				   "protocol lists for '%s'", partner_id);
	rc = fs_read_file(sig_path, PROTOCOL_SIG_MAX_BYTES, &old, &oldlen, e);
	if (rc != 0 && rc != ACCORD_ENOTFOUND)
		return rc;
	memset(&d, 0, sizeof d);
	if (old && (rc = parse_sig_file(old, oldlen, &f, &d)) != 0) {
		accord_fail(e, rc, "%s:%d: %s; fix or remove the file, then sign again",
			    sig_path, d.items[0].line, d.items[0].msg);
		free(old);
		return rc == ACCORD_ENOMEM ? rc : ACCORD_EINVALID;
	}
	protocol_sig_message(p, msg);
	rc = crypto_signer_sign(signer, msg, sizeof msg, sig);
	if (rc != 0) {
		accord_fail(e, rc, "signing failed");
		goto out;
	}
	crypto_b64_encode(sig, sizeof sig, b64);
	/* The old file less at most one line, plus one new line. */
	out = malloc(oldlen + PROTOCOL_MAX_ID + sizeof b64 + 4);
	if (!out) {
		rc = accord_fail(e, ACCORD_ENOMEM, "out of memory");
		goto out;
	}
	for (const char *q = old ? old : "", *end = q + oldlen; q < end;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t n = (size_t)(nl - q) + 1;
		size_t idlen = strlen(partner_id);

		if (n > idlen + 1 && memcmp(q, partner_id, idlen) == 0 && q[idlen] == ' ') {
			used += (size_t)snprintf(out + used, idlen + sizeof b64 + 2, "%s %s\n",
						 partner_id, b64);
			replaced = true;
		} else {
			memcpy(out + used, q, n);
			used += n;
		}
		q += n;
	}
	if (!replaced)
		used += (size_t)snprintf(out + used, PROTOCOL_MAX_ID + sizeof b64 + 2,
					 "%s %s\n", partner_id, b64);
	rc = fs_write_atomic(sig_path, out, used, 0644, e);
	free(out);
out:
	free(f.lines);
	free(old);
	return rc;
}

int protocol_in_force(const protocol *p, const protocol_sigs *s, accord_date day,
		      accord_error *e)
{
	char a[11], b[11], t[11];

	for (size_t i = 0; i < s->n_partners; i++) {
		const protocol_partner *pt = protocol_partner_at(p, i);

		if (s->state[i] == PROTOCOL_SIG_MISSING)
			return accord_fail(e, ACCORD_ESIG, "partner '%s' has not signed "
					   "protocol '%s' version %ld", pt->id,
					   protocol_id(p), protocol_version(p));
		if (s->state[i] == PROTOCOL_SIG_BAD)
			return accord_fail(e, ACCORD_ESIG, "the signature of partner '%s' does "
					   "not verify: the file changed after it signed, or "
					   "it signed with another key", pt->id);
	}
	date_format(protocol_effective_from(p), a);
	date_format(protocol_review_by(p), b);
	date_format(day, t);
	if (day < protocol_effective_from(p))
		return accord_fail(e, ACCORD_ENOTINFORCE, "protocol '%s' version %ld is not "
				   "yet in force on %s: it takes effect on %s",
				   protocol_id(p), protocol_version(p), t, a);
	if (day > protocol_review_by(p))
		return accord_fail(e, ACCORD_ENOTINFORCE, "protocol '%s' version %ld is not "
				   "in force on %s: it expired after its review date %s; "
				   "review it, amend and sign again", protocol_id(p),
				   protocol_version(p), t, b);
	return 0;
}
