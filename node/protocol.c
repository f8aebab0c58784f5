/*
 * protocol.c - parsing and validating the protocol document.
 *
 * The document is read into a bounded tree (yamltree.c), then walked once
 * against a table of keys per mapping. Every problem is recorded with its
 * position and the walk goes on, so a coordinator sees all mistakes at once;
 * a protocol handle is returned only when there were none.
 */
#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>

#include "accord/fs.h"
#include "accord/protocol.h"
#include "accord/record.h"
#include "yamltree.h"

struct protocol {
	arena *a;
	char *bytes;
	size_t len;
	uint8_t digest[CRYPTO_SHA256_LEN];
	const char *id, *title, *coordinator;
	long version;
	accord_date effective_from, review_by;
	protocol_partner *partners;
	size_t n_partners;
	protocol_purpose *purposes;
	size_t n_purposes;
	protocol_rule *rules;
	size_t n_rules;
	const char **never_share;
	size_t n_never_share;
};

/* Parsing state: the protocol being built and where problems go. */
struct ctx {
	protocol *p;
	protocol_diags *d;
	bool oom;
	const yt_node *coordinator_node;
	const yt_node *eff_node, *review_node;
	const yt_node *(*rule_vals)[9];   /* per rule, the value of each key */
};

static void vdiag(protocol_diags *d, int line, int column, const char *fmt, va_list ap)
{
	protocol_diag *g;

	if (d->count == PROTOCOL_MAX_DIAGS) {
		d->dropped++;
		return;
	}
	g = &d->items[d->count++];
	g->line = line;
	g->column = column;
	vsnprintf(g->msg, sizeof g->msg, fmt, ap);
}

void protocol_diag_add(protocol_diags *d, int line, int column, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(d, line, column, fmt, ap);
	va_end(ap);
}

static void diag(struct ctx *c, const yt_node *n, const char *fmt, ...) ACCORD_PRINTF(3, 4);
static void diag(struct ctx *c, const yt_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(c->d, n ? n->line : 0, n ? n->column : 0, fmt, ap);
	va_end(ap);
}

/* A message may quote the document, which another partner may have
 * written: escaped, it cannot act on the terminal. */
void protocol_diags_print(const protocol_diags *d, FILE *f)
{
	char msg[4 * sizeof d->items[0].msg];

	for (size_t i = 0; i < d->count; i++) {
		const protocol_diag *g = &d->items[i];

		record_term_escape(g->msg, strlen(g->msg), msg, sizeof msg);
		if (g->line > 0)
			fprintf(f, "%s:%d:%d: %s\n", d->file, g->line, g->column, msg);
		else
			fprintf(f, "%s: %s\n", d->file, msg);
	}
	if (d->dropped)
		fprintf(f, "%s: ... and %zu more problems\n", d->file, d->dropped);
}

static const char *kind_name(yt_kind k)
{
	return k == YT_SCALAR ? "a single value" : k == YT_SEQUENCE ? "a list" : "a mapping";
}

/* --- typed values ------------------------------------------------------ */

static bool want_kind(struct ctx *c, const yt_node *n, yt_kind k, const char *what)
{
	if (n->kind == k)
		return true;
	diag(c, n, "%s must be %s, not %s", what, kind_name(k), kind_name(n->kind));
	return false;
}

static const char *text(struct ctx *c, const yt_node *n, const char *what)
{
	if (!want_kind(c, n, YT_SCALAR, what))
		return NULL;
	if (n->len == 0 || (n->plain && strcmp(n->str, "~") == 0) ||
	    (n->plain && strcmp(n->str, "null") == 0)) {
		diag(c, n, "%s is empty", what);
		return NULL;
	}
	for (size_t i = 0; i < n->len; i++)
		if ((unsigned char)n->str[i] < 0x20 && n->str[i] != '\n' && n->str[i] != '\t') {
			diag(c, n, "%s contains a control character", what);
			return NULL;
		}
	return n->str;
}

const char *protocol_consent_name(protocol_consent c)
{
	return c == PROTOCOL_CONSENT_REQUIRED ? "required" : "not-required";
}

const char *protocol_when_name(protocol_when w)
{
	return w == PROTOCOL_WHEN_IN_CASE ? "in-case" : "anytime";
}

bool protocol_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROTOCOL_MAX_ID || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static const char *ident(struct ctx *c, const yt_node *n, const char *what)
{
	const char *s = text(c, n, what);

	if (s && !protocol_id_ok(s)) {
		diag(c, n, "%s '%s' is malformed: use 1 to %d lower-case letters, digits "
		     "and '-', not starting or ending with '-'", what, s, PROTOCOL_MAX_ID);
		return NULL;
	}
	return s;
}

static bool date_value(struct ctx *c, const yt_node *n, const char *what, accord_date *out)
{
	const char *s = text(c, n, what);

	if (!s)
		return false;
	if (date_parse(s, out) != 0) {
		diag(c, n, "%s '%s' is not a date: write YYYY-MM-DD, e.g. 2026-10-01", what, s);
		return false;
	}
	return true;
}

static bool int_value(struct ctx *c, const yt_node *n, const char *what, long lo,
		      long hi, long *out)
{
	const char *s = text(c, n, what);
	char *end;
	long v;

	if (!s)
		return false;
	if (!n->plain || !isdigit((unsigned char)s[0])) {
		diag(c, n, "%s must be a whole number from %ld to %ld, not '%s'", what, lo, hi, s);
		return false;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v < lo || v > hi) {
		diag(c, n, "%s must be a whole number from %ld to %ld, not '%s'", what, lo, hi, s);
		return false;
	}
	*out = v;
	return true;
}

/* A list of scalars (block or flow) copied into a NULL-free array. */
static const char **scalar_list(struct ctx *c, const yt_node *n, const char *what,
				size_t *count, bool ids)
{
	const char **v;

	*count = 0;
	if (!want_kind(c, n, YT_SEQUENCE, what))
		return NULL;
	if (n->n == 0) {
		diag(c, n, "%s is an empty list", what);
		return NULL;
	}
	v = arena_alloc(c->p->a, n->n * sizeof *v);
	if (!v) {
		c->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *s = ids ? ident(c, n->items[i], what) : text(c, n->items[i], what);

		if (!s)
			return NULL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(v[j], s) == 0) {
				diag(c, n->items[i], "%s lists '%s' twice", what, s);
				return NULL;
			}
		v[i] = s;
	}
	*count = n->n;
	return v;
}

/* --- mappings against a table of keys ---------------------------------- */

struct key {
	const char *name;
	bool required;
};

/*
 * Check a mapping's keys: unknown, duplicated, missing. vals[i] is set to
 * the value of keys[i] or NULL. Returns false when the node is no mapping.
 */
static bool map_keys(struct ctx *c, const yt_node *m, const char *what,
		     const struct key *keys, size_t nkeys, const yt_node **vals)
{
	for (size_t k = 0; k < nkeys; k++)
		vals[k] = NULL;
	if (!want_kind(c, m, YT_MAPPING, what))
		return false;
	for (size_t i = 0; i < m->n; i++) {
		const yt_node *key = m->items[2 * i];
		size_t k;

		if (key->kind != YT_SCALAR) {
			diag(c, key, "a key in %s must be a plain name", what);
			continue;
		}
		for (k = 0; k < nkeys; k++)
			if (strcmp(keys[k].name, key->str) == 0)
				break;
		if (k == nkeys) {
			char known[256] = "";
			size_t used = 0;

			for (size_t j = 0; j < nkeys; j++) {
				int w = snprintf(known + used, sizeof known - used, "%s%s",
						 j ? ", " : "", keys[j].name);

				if (w < 0 || (size_t)w >= sizeof known - used)
					break;
				used += (size_t)w;
			}
			diag(c, key, "unknown key '%s' in %s (known keys: %s)", key->str,
			     what, known);
			continue;
		}
		if (vals[k]) {
			diag(c, key, "key '%s' appears twice in %s (first at line %d)",
			     key->str, what, vals[k]->line);
			continue;
		}
		vals[k] = m->items[2 * i + 1];
	}
	for (size_t k = 0; k < nkeys; k++)
		if (keys[k].required && !vals[k])
			diag(c, m, "%s is missing the required key '%s'", what, keys[k].name);
	return true;
}

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* --- partners ---------------------------------------------------------- */

static bool endpoint_ok(struct ctx *c, const yt_node *n, const char *url, const char *who)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *frag = NULL;
	char *path = NULL;
	bool ok = false;

	if (!u) {
		c->oom = true;
		return false;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		diag(c, n, "endpoint of partner '%s' is not a URL: '%s' (write "
		     "https://host.example.org:7443)", who, url);
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (!scheme || strcmp(scheme, "https") != 0)
		diag(c, n, "endpoint of partner '%s' must use https://, not '%s'", who, url);
	else if (!host || !*host)
		diag(c, n, "endpoint of partner '%s' has no host: '%s'", who, url);
	else if (user || query || frag || (path && strcmp(path, "/") != 0))
		diag(c, n, "endpoint of partner '%s' must be only https://host:port, "
		     "without user, path, query or fragment: '%s'", who, url);
	else
		ok = true;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_free(path);
	curl_url_cleanup(u);
	return ok;
}

static void parse_partner(struct ctx *c, const yt_node *m, protocol_partner *pt)
{
	static const struct key keys[] = {
		{ "id", true }, { "name", true }, { "responsibilities", true },
		{ "endpoint", true }, { "tls_spki_sha256", true }, { "signing_key", true },
	};
	const yt_node *v[NKEYS(keys)];
	const char *who;

	pt->line = m->line;
	if (!map_keys(c, m, "a partner", keys, NKEYS(keys), v))
		return;
	pt->id = v[0] ? ident(c, v[0], "partner id") : NULL;
	who = pt->id ? pt->id : "?";
	pt->name = v[1] ? text(c, v[1], "partner name") : NULL;
	pt->responsibilities = v[2] ? text(c, v[2], "partner responsibilities") : NULL;
	if (v[3] && (pt->endpoint = text(c, v[3], "partner endpoint")) &&
	    !endpoint_ok(c, v[3], pt->endpoint, who))
		pt->endpoint = NULL;
	if (v[4] && (pt->tls_spki_sha256_b64 = text(c, v[4], "tls_spki_sha256")) &&
	    crypto_b64_decode_exact(pt->tls_spki_sha256_b64, pt->tls_spki_sha256,
				    CRYPTO_SHA256_LEN) != 0) {
		diag(c, v[4], "tls_spki_sha256 of partner '%s' is not the base64 of a "
		     "32-byte SHA-256 ('accord keygen' prints it)", who);
		pt->tls_spki_sha256_b64 = NULL;
	}
	if (v[5] && (pt->signing_key_b64 = text(c, v[5], "signing_key")) &&
	    crypto_b64_decode_exact(pt->signing_key_b64, pt->signing_key,
				    CRYPTO_ED25519_PUB_LEN) != 0) {
		diag(c, v[5], "signing_key of partner '%s' is not the base64 of a "
		     "32-byte Ed25519 public key ('accord keygen' prints it)", who);
		pt->signing_key_b64 = NULL;
	}
}

static void parse_partners(struct ctx *c, const yt_node *n)
{
	protocol *p = c->p;

	if (!want_kind(c, n, YT_SEQUENCE, "partners"))
		return;
	if (n->n < 2) {
		diag(c, n, "partners lists %zu partner%s; a partnership needs at least two",
		     n->n, n->n == 1 ? "" : "s");
		if (n->n == 0)
			return;
	}
	p->partners = arena_alloc(p->a, n->n * sizeof *p->partners);
	if (!p->partners) {
		c->oom = true;
		return;
	}
	p->n_partners = n->n;
	for (size_t i = 0; i < n->n; i++) {
		protocol_partner *pt = &p->partners[i];

		parse_partner(c, n->items[i], pt);
		for (size_t j = 0; j < i; j++) {
			const protocol_partner *o = &p->partners[j];

			if (pt->id && o->id && strcmp(pt->id, o->id) == 0)
				diag(c, n->items[i], "partner id '%s' is used twice (first at line %d)",
				     pt->id, o->line);
			if (pt->signing_key_b64 && o->signing_key_b64 &&
			    memcmp(pt->signing_key, o->signing_key, CRYPTO_ED25519_PUB_LEN) == 0)
				diag(c, n->items[i], "partners '%s' and '%s' have the same signing_key; "
				     "each partner needs its own key", o->id ? o->id : "?",
				     pt->id ? pt->id : "?");
			if (pt->tls_spki_sha256_b64 && o->tls_spki_sha256_b64 &&
			    memcmp(pt->tls_spki_sha256, o->tls_spki_sha256, CRYPTO_SHA256_LEN) == 0)
				diag(c, n->items[i], "partners '%s' and '%s' have the same "
				     "tls_spki_sha256; each partner needs its own TLS key",
				     o->id ? o->id : "?", pt->id ? pt->id : "?");
		}
	}
}

/* --- purposes ---------------------------------------------------------- */

static void parse_purposes(struct ctx *c, const yt_node *n)
{
	static const struct key keys[] = {
		{ "id", true }, { "description", true }, { "legal_basis", true },
	};
	protocol *p = c->p;

	if (!want_kind(c, n, YT_SEQUENCE, "purposes"))
		return;
	if (n->n == 0) {
		diag(c, n, "purposes is empty: name at least one purpose with its legal basis");
		return;
	}
	p->purposes = arena_alloc(p->a, n->n * sizeof *p->purposes);
	if (!p->purposes) {
		c->oom = true;
		return;
	}
	p->n_purposes = n->n;
	for (size_t i = 0; i < n->n; i++) {
		protocol_purpose *pu = &p->purposes[i];
		const yt_node *v[NKEYS(keys)];

		pu->line = n->items[i]->line;
		if (!map_keys(c, n->items[i], "a purpose", keys, NKEYS(keys), v))
			continue;
		pu->id = v[0] ? ident(c, v[0], "purpose id") : NULL;
		pu->description = v[1] ? text(c, v[1], "purpose description") : NULL;
		pu->legal_basis = v[2] ? text(c, v[2], "legal_basis") : NULL;
		for (size_t j = 0; j < i && pu->id; j++)
			if (p->purposes[j].id && strcmp(p->purposes[j].id, pu->id) == 0)
				diag(c, n->items[i], "purpose id '%s' is used twice (first at line %d)",
				     pu->id, p->purposes[j].line);
	}
}

/* --- never_share ------------------------------------------------------- */

/* Split "Type.path" and resolve it; NULL type when malformed. */
static const ProtobufCMessageDescriptor *never_share_type(const char *entry,
							  const char **path)
{
	const char *dot = strchr(entry, '.');
	char type[64];

	if (!dot || dot == entry || (size_t)(dot - entry) >= sizeof type)
		return NULL;
	memcpy(type, entry, (size_t)(dot - entry));
	type[dot - entry] = '\0';
	*path = dot + 1;
	return record_type_find(type);
}

static void parse_never_share(struct ctx *c, const yt_node *n)
{
	protocol *p = c->p;
	size_t count;
	const char **v = scalar_list(c, n, "never_share", &count, false);

	if (!v)
		return;
	for (size_t i = 0; i < count; i++) {
		const char *path;
		const ProtobufCMessageDescriptor *t = never_share_type(v[i], &path);
		accord_error e;

		if (!t) {
			diag(c, n->items[i], "never_share entry '%s' must be a record type and "
			     "a field path, e.g. Referral.risk_assessment", v[i]);
			continue;
		}
		if (record_path_resolve(t, path, NULL, &e) != 0)
			diag(c, n->items[i], "never_share entry '%s': %s", v[i], e.msg);
	}
	p->never_share = v;
	p->n_never_share = count;
}

/* --- rules ------------------------------------------------------------- */

/* Is field path `path` of the rule's record type t forbidden, or a parent
 * of a forbidden one? Reports and returns true if so. */
static bool never_shared(struct ctx *c, const yt_node *at, const protocol_rule *r,
			 const ProtobufCMessageDescriptor *t, const char *path)
{
	const protocol *p = c->p;
	const char *e = record_never_share_match(t, path, p->never_share, p->n_never_share);

	if (!e)
		return false;
	if (record_path_within(path, e + strlen(r->record) + 1))
		diag(c, at, "rule '%s' names field '%s', but %s is on the never_share "
		     "list: no rule may share it", r->id ? r->id : "?", path, e);
	else
		diag(c, at, "rule '%s' names field '%s', which includes never_share "
		     "field %s; list the parts of '%s' that may be shared instead",
		     r->id ? r->id : "?", path, e, path);
	return true;
}

static const struct key rule_keys[] = {
	{ "id", true }, { "from", true }, { "to", true }, { "purpose", true },
	{ "record", true }, { "fields", true }, { "consent", true },
	{ "when", true }, { "retention_days", true },
};

/* Parse one rule; v receives the value node of each of rule_keys (all NULL
 * when the rule is not a mapping). */
static void parse_rule(struct ctx *c, const yt_node *m, protocol_rule *r,
		       const yt_node **v)
{
	const char *s;
	long days;

	r->line = m->line;
	if (!map_keys(c, m, "a rule", rule_keys, NKEYS(rule_keys), v))
		return;
	r->id = v[0] ? ident(c, v[0], "rule id") : NULL;
	r->from = v[1] ? ident(c, v[1], "rule 'from'") : NULL;
	if (v[2])
		r->to = scalar_list(c, v[2], "rule 'to'", &r->n_to, true);
	r->purpose = v[3] ? ident(c, v[3], "rule purpose") : NULL;
	r->record = v[4] ? text(c, v[4], "rule record") : NULL;
	if (v[5])
		r->fields = scalar_list(c, v[5], "rule fields", &r->n_fields, false);
	if (v[6] && (s = text(c, v[6], "consent"))) {
		if (strcmp(s, protocol_consent_name(PROTOCOL_CONSENT_REQUIRED)) == 0)
			r->consent = PROTOCOL_CONSENT_REQUIRED;
		else if (strcmp(s, protocol_consent_name(PROTOCOL_CONSENT_NOT_REQUIRED)) == 0)
			r->consent = PROTOCOL_CONSENT_NOT_REQUIRED;
		else
			diag(c, v[6], "consent must be 'required' or 'not-required', not '%s'", s);
	}
	if (v[7] && (s = text(c, v[7], "when"))) {
		if (strcmp(s, protocol_when_name(PROTOCOL_WHEN_ANYTIME)) == 0)
			r->when = PROTOCOL_WHEN_ANYTIME;
		else if (strcmp(s, protocol_when_name(PROTOCOL_WHEN_IN_CASE)) == 0)
			r->when = PROTOCOL_WHEN_IN_CASE;
		else
			diag(c, v[7], "when must be 'anytime' or 'in-case', not '%s'", s);
	}
	if (v[8] && int_value(c, v[8], "retention_days", 1, 3650, &days))
		r->retention_days = (int)days;
}

/* Cross-references of one rule, once partners, purposes and never_share
 * are known. v holds the rule's value nodes, for positions. */
static void check_rule(struct ctx *c, const yt_node *const *v, const protocol_rule *r)
{
	const protocol *p = c->p;
	const ProtobufCMessageDescriptor *t;
	if (r->from && !protocol_partner_find(p, r->from))
		diag(c, v[1], "rule '%s': 'from' names '%s', which is not a partner",
		     r->id ? r->id : "?", r->from);
	for (size_t i = 0; i < r->n_to; i++) {
		if (!protocol_partner_find(p, r->to[i]))
			diag(c, v[2]->items[i], "rule '%s': 'to' names '%s', which is not a partner",
			     r->id ? r->id : "?", r->to[i]);
		else if (r->from && strcmp(r->from, r->to[i]) == 0)
			diag(c, v[2]->items[i], "rule '%s': '%s' shares with itself; remove it "
			     "from 'to'", r->id ? r->id : "?", r->to[i]);
	}
	if (r->purpose && !protocol_purpose_find(p, r->purpose))
		diag(c, v[3], "rule '%s': purpose '%s' is not one of the purposes listed",
		     r->id ? r->id : "?", r->purpose);
	if (!r->record)
		return;
	t = record_type_find(r->record);
	if (!t) {
		diag(c, v[4], "rule '%s': record type '%s' is unknown (known: Referral, "
		     "ReferralReply, ProgressUpdate, ConsentWithdrawal, CaseClosure)",
		     r->id ? r->id : "?", r->record);
		return;
	}
	for (size_t i = 0; i < r->n_fields; i++) {
		accord_error e;

		if (record_path_resolve(t, r->fields[i], NULL, &e) != 0) {
			diag(c, v[5]->items[i], "rule '%s': %s", r->id ? r->id : "?", e.msg);
			continue;
		}
		never_shared(c, v[5]->items[i], r, t, r->fields[i]);
		for (size_t j = 0; j < i; j++)
			if (record_path_within(r->fields[i], r->fields[j]) ||
			    record_path_within(r->fields[j], r->fields[i]))
				diag(c, v[5]->items[i], "rule '%s': field '%s' overlaps '%s'; "
				     "list each field once", r->id ? r->id : "?",
				     r->fields[i], r->fields[j]);
	}
}

static void parse_rules(struct ctx *c, const yt_node *n)
{
	protocol *p = c->p;

	if (!want_kind(c, n, YT_SEQUENCE, "rules"))
		return;
	if (n->n == 0) {
		diag(c, n, "rules is empty: a protocol with no rules shares nothing");
		return;
	}
	p->rules = arena_alloc(p->a, n->n * sizeof *p->rules);
	if (!p->rules) {
		c->oom = true;
		return;
	}
	c->rule_vals = arena_alloc(p->a, n->n * sizeof *c->rule_vals);
	if (!c->rule_vals) {
		c->oom = true;
		return;
	}
	p->n_rules = n->n;
	for (size_t i = 0; i < n->n; i++) {
		parse_rule(c, n->items[i], &p->rules[i], c->rule_vals[i]);
		for (size_t j = 0; j < i && p->rules[i].id; j++)
			if (p->rules[j].id && strcmp(p->rules[j].id, p->rules[i].id) == 0)
				diag(c, n->items[i], "rule id '%s' is used twice (first at line %d)",
				     p->rules[i].id, p->rules[j].line);
	}
}

/* --- the document ------------------------------------------------------ */

static void parse_document(struct ctx *c, const yt_node *root)
{
	static const struct key keys[] = {
		{ "protocol", true }, { "version", true }, { "title", true },
		{ "coordinator", true }, { "effective_from", true }, { "review_by", true },
		{ "partners", true }, { "purposes", true }, { "never_share", true },
		{ "rules", true },
	};
	const yt_node *v[NKEYS(keys)];
	protocol *p = c->p;
	bool have_eff, have_rev;

	if (!map_keys(c, root, "the protocol", keys, NKEYS(keys), v))
		return;
	if (v[0])
		p->id = ident(c, v[0], "protocol");
	if (v[1])
		int_value(c, v[1], "version", 1, 1000000, &p->version);
	if (v[2])
		p->title = text(c, v[2], "title");
	if (v[3])
		p->coordinator = ident(c, v[3], "coordinator");
	have_eff = v[4] && date_value(c, v[4], "effective_from", &p->effective_from);
	have_rev = v[5] && date_value(c, v[5], "review_by", &p->review_by);
	if (v[6])
		parse_partners(c, v[6]);
	if (v[7])
		parse_purposes(c, v[7]);
	if (v[8])
		parse_never_share(c, v[8]);
	if (v[9])
		parse_rules(c, v[9]);
	if (c->oom)
		return;

	if (have_eff && have_rev) {
		char a[11], b[11];

		date_format(p->effective_from, a);
		date_format(p->review_by, b);
		if (p->effective_from > p->review_by)
			diag(c, v[5], "review_by %s is before effective_from %s", b, a);
		else if (p->review_by - p->effective_from > PROTOCOL_MAX_DAYS)
			diag(c, v[5], "review_by %s is %d days after effective_from %s; the "
			     "partnership reviews its protocol quarterly, so at most %d days",
			     b, (int)(p->review_by - p->effective_from), a, PROTOCOL_MAX_DAYS);
	}
	if (p->coordinator && p->partners && !protocol_partner_find(p, p->coordinator))
		diag(c, v[3], "coordinator '%s' is not one of the partners", p->coordinator);
	for (size_t i = 0; c->rule_vals && i < p->n_rules; i++)
		check_rule(c, c->rule_vals[i], &p->rules[i]);
}

int protocol_parse(const char *name, const void *buf, size_t len,
		   protocol **out, protocol_diags *d)
{
	static const yt_limits lim = {
		.max_depth = PROTOCOL_MAX_DEPTH,
		.max_nodes = PROTOCOL_MAX_NODES,
		.max_scalar = PROTOCOL_MAX_SCALAR,
	};
	struct ctx c = { .d = d };
	yt_node *root;
	int line, column, rc;
	protocol *p;

	memset(d, 0, sizeof *d);
	snprintf(d->file, sizeof d->file, "%.*s", (int)sizeof d->file - 1, name);
	if (len > PROTOCOL_MAX_BYTES) {
		protocol_diag_add(d, 0, 0, "the file is %zu bytes, larger than the limit of %zu bytes",
			len, PROTOCOL_MAX_BYTES);
		return ACCORD_ETOOBIG;
	}
	p = calloc(1, sizeof *p);
	if (!p || !(p->a = arena_new()) || !(p->bytes = malloc(len + 1))) {
		protocol_close(p);
		protocol_diag_add(d, 0, 0, "out of memory");
		return ACCORD_ENOMEM;
	}
	memcpy(p->bytes, buf, len);
	p->bytes[len] = '\0';
	p->len = len;
	if (crypto_sha256(buf, len, p->digest) != 0) {
		protocol_close(p);
		protocol_diag_add(d, 0, 0, "out of memory");
		return ACCORD_ENOMEM;
	}
	c.p = p;
	rc = yt_parse(p->a, p->bytes, len, &lim, &root, &line, &column,
		      d->items[0].msg, sizeof d->items[0].msg);
	if (rc != 0) {
		d->items[0].line = line;
		d->items[0].column = column;
		d->count = 1;
		protocol_close(p);
		return rc;
	}
	parse_document(&c, root);
	if (c.oom) {
		protocol_diag_add(d, 0, 0, "out of memory");
		protocol_close(p);
		return ACCORD_ENOMEM;
	}
	if (d->count > 0) {
		protocol_close(p);
		return ACCORD_EINVALID;
	}
	*out = p;
	return 0;
}

int protocol_load(const char *path, protocol **out, protocol_diags *d)
{
	accord_error e = { 0 };
	char *buf;
	size_t len;
	int rc = fs_read_file(path, PROTOCOL_MAX_BYTES, &buf, &len, &e);

	if (rc != 0) {
		memset(d, 0, sizeof *d);
		snprintf(d->file, sizeof d->file, "%.*s", (int)sizeof d->file - 1, path);
		protocol_diag_add(d, 0, 0, "%s", fs_error_detail(&e, path));
		return rc;
	}
	rc = protocol_parse(path, buf, len, out, d);
	free(buf);
	return rc;
}

void protocol_close(protocol *p)
{
	if (!p)
		return;
	arena_free(p->a);
	free(p->bytes);
	free(p);
}

const char *protocol_id(const protocol *p) { return p->id; }
long protocol_version(const protocol *p) { return p->version; }
const char *protocol_title(const protocol *p) { return p->title; }
const char *protocol_coordinator(const protocol *p) { return p->coordinator; }
accord_date protocol_effective_from(const protocol *p) { return p->effective_from; }
accord_date protocol_review_by(const protocol *p) { return p->review_by; }
const uint8_t *protocol_digest(const protocol *p) { return p->digest; }

const void *protocol_bytes(const protocol *p, size_t *len)
{
	*len = p->len;
	return p->bytes;
}

size_t protocol_partner_count(const protocol *p) { return p->n_partners; }
size_t protocol_purpose_count(const protocol *p) { return p->n_purposes; }
size_t protocol_rule_count(const protocol *p) { return p->n_rules; }
size_t protocol_never_share_count(const protocol *p) { return p->n_never_share; }

const protocol_partner *protocol_partner_at(const protocol *p, size_t i)
{
	return i < p->n_partners ? &p->partners[i] : NULL;
}

const protocol_purpose *protocol_purpose_at(const protocol *p, size_t i)
{
	return i < p->n_purposes ? &p->purposes[i] : NULL;
}

const protocol_rule *protocol_rule_at(const protocol *p, size_t i)
{
	return i < p->n_rules ? &p->rules[i] : NULL;
}

const char *protocol_never_share_at(const protocol *p, size_t i)
{
	return i < p->n_never_share ? p->never_share[i] : NULL;
}

const protocol_partner *protocol_partner_find(const protocol *p, const char *id)
{
	for (size_t i = 0; i < p->n_partners; i++)
		if (p->partners[i].id && strcmp(p->partners[i].id, id) == 0)
			return &p->partners[i];
	return NULL;
}

const protocol_purpose *protocol_purpose_find(const protocol *p, const char *id)
{
	for (size_t i = 0; i < p->n_purposes; i++)
		if (p->purposes[i].id && strcmp(p->purposes[i].id, id) == 0)
			return &p->purposes[i];
	return NULL;
}

const protocol_rule *protocol_rule_find(const protocol *p, const char *id)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].id && strcmp(p->rules[i].id, id) == 0)
			return &p->rules[i];
	return NULL;
}

bool protocol_dates_cover(const protocol *p, accord_date day)
{
	return day >= p->effective_from && day <= p->review_by;
}
