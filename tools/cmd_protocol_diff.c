/*
 * cmd_protocol_diff.c - `accord protocol diff OLD NEW`: what an amendment
 * changes, in the protocol's own terms, so that a review meeting sees what
 * it is being asked to sign. Partners, purposes and rules are matched by
 * id; lists (recipients, fields, never_share) are compared as sets, so a
 * reordering is no change of terms. Any changed byte still changes the
 * digest, and with it the signatures every partner must give again.
 *
 * Exit status, as diff(1): 0 no differences in the terms, 1 differences,
 * 2 usage error, a file that does not load, or out of memory.
 *
 * With --json: {"old": {file, id, version, digest}, "new": {...},
 * "same_terms": bool, "same_bytes": bool, "changes": [...]}. Each change
 * has a "kind", from this vocabulary, and the keys listed with it:
 *
 *   protocol_changed                  old, new    (the protocol id)
 *   version_changed                   old, new    (numbers)
 *   title_changed                     old, new
 *   coordinator_changed               old, new
 *   effective_from_changed            old, new    (YYYY-MM-DD)
 *   review_by_changed                 old, new    (YYYY-MM-DD)
 *   partner_joined                    partner, name, endpoint
 *   partner_left                      partner, name, endpoint
 *   partner_name_changed              partner, old, new
 *   partner_responsibilities_changed  partner, old, new
 *   partner_endpoint_changed          partner, old, new
 *   partner_tls_key_changed           partner, old, new (tls_spki_sha256)
 *   partner_signing_key_changed       partner, old, new (signing_key)
 *   purpose_added                     purpose, description, legal_basis
 *   purpose_removed                   purpose, description, legal_basis
 *   purpose_description_changed       purpose, old, new
 *   purpose_legal_basis_changed       purpose, old, new
 *   never_share_added                 fields
 *   never_share_removed               fields
 *   rule_added                        rule, from, to, purpose, record, fields
 *   rule_removed                      rule, from, to, purpose, record, fields
 *   rule_from_changed                 rule, old, new
 *   rule_recipients_added             rule, partners
 *   rule_recipients_removed           rule, partners
 *   rule_purpose_changed              rule, old, new
 *   rule_record_changed               rule, old, new
 *   rule_fields_added                 rule, fields
 *   rule_fields_removed               rule, fields
 *   rule_consent_changed              rule, old, new ("required", "not-required")
 *   rule_when_changed                 rule, old, new ("anytime", "in-case")
 *   rule_retention_changed            rule, old, new (days)
 */
#include <getopt.h>
#include <jansson.h>

#include "accord/crypto.h"
#include "accord/record.h"
#include "cmd.h"

/*
 * One run. Changes are reported as found: printed at once, or with --json
 * gathered in `changes`. key and id name what the current changes are
 * about ("rule", "police-refers-to-council"); key is NULL for the
 * protocol's own fields.
 */
struct diff {
	bool as_json;
	json_t *changes;
	size_t n;
	bool failed;             /* out of memory */
	const char *heading;     /* text: printed before the group's first line */
	const char *key;
	const char *id;
};

/* A group of items matched by id: partners, purposes or rules. event
 * reports one that is only in the old (gone) or only in the new file. */
struct section {
	const char *heading;
	const char *key;
	size_t (*count)(const protocol *p);
	const char *(*id_at)(const protocol *p, size_t i);
	void (*event)(struct diff *d, const protocol *p, const char *id,
		      const char *kind, const char *verb);
	const char *gone_kind, *gone_verb, *came_kind, *came_verb;
	void (*both)(struct diff *d, const protocol *a, const protocol *b, const char *id);
};

static void usage(FILE *f)
{
	fprintf(f, "usage: accord protocol diff OLD NEW [--json]\n\n"
		"Lists what changes from protocol file OLD to NEW, in the protocol's\n"
		"own terms: dates, partners and their keys, purposes and legal bases,\n"
		"never_share, and each rule's recipients, fields and conditions.\n"
		"Exit status: 0 no differences in the terms, 1 differences,\n"
		"2 usage error or a file that does not load.\n");
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* --- lists --------------------------------------------------------------- */

static bool in_list(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (same(s, v[i]))
			return true;
	return false;
}

/* The items of a that are not in b, in a's order, into out (room for na);
 * returns how many. The one set difference every comparison uses. */
static size_t set_minus(const char *const *a, size_t na, const char *const *b,
			size_t nb, const char **out)
{
	size_t k = 0;

	for (size_t i = 0; i < na; i++)
		if (!in_list(a[i], b, nb))
			out[k++] = a[i];
	return k;
}

/* n items joined by ", " in a new string (free it), or NULL. */
static char *join(const char *const *v, size_t n)
{
	size_t len = 1, used = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 2;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(s + used, len - used, "%s%s", i ? ", " : "", v[i]);

		if (w < 0 || (size_t)w >= len - used) {
			free(s);
			return NULL;
		}
		used += (size_t)w;
	}
	return s;
}

/* Every id (or entry) of p, in order: a new array (free it), or NULL. */
static const char **collect(const protocol *p, size_t (*count)(const protocol *),
			    const char *(*at)(const protocol *, size_t), size_t *n)
{
	const char **v;

	*n = count(p);
	v = calloc(*n ? *n : 1, sizeof *v);
	for (size_t i = 0; v && i < *n; i++)
		v[i] = at(p, i);
	return v;
}

/* --- reporting ------------------------------------------------------------ */

/* o with k set to v, taking v; NULL (and nothing leaked) when o or v is
 * NULL or the set fails, so calls nest. */
static json_t *with(json_t *o, const char *k, json_t *v)
{
	if (!o) {
		json_decref(v);
		return NULL;
	}
	if (json_object_set_new(o, k, v) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* {"kind": kind, key: id} for what d is looking at. */
static json_t *change_new(const struct diff *d, const char *kind)
{
	json_t *o = with(json_object(), "kind", json_string(kind));

	return d->key && d->id ? with(o, d->key, json_string(d->id)) : o;
}

/* Count one change; print its line ("key id" then fmt) or keep change. */
static void ACCORD_PRINTF(3, 4) emit(struct diff *d, json_t *change, const char *fmt, ...)
{
	va_list ap;

	d->n++;
	if (d->as_json) {
		if (json_array_append_new(d->changes, change) != 0)
			d->failed = true;
		return;
	}
	json_decref(change);
	if (d->heading) {
		printf("\n%s\n", d->heading);
		d->heading = NULL;
	}
	printf("  %s%s%s", d->key ? d->key : "", d->key && d->id ? " " : "",
	       d->key && d->id ? d->id : "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The protocol's text is the partners' own: in the lines printed, it is
 * escaped with cli_text; the JSON keeps it as it is. */
static void diff_str(struct diff *d, const char *kind, const char *what,
		     const char *a, const char *b)
{
	if (same(a, b))
		return;
	emit(d, with(with(change_new(d, kind), "old", json_string(a)), "new", json_string(b)),
	     "%s%s changed: \"%s\" -> \"%s\"", d->key ? ": " : "", what, cli_text(a),
	     cli_text(b));
}

static void diff_int(struct diff *d, const char *kind, const char *what, long a, long b)
{
	if (a == b)
		return;
	emit(d, with(with(change_new(d, kind), "old", json_integer(a)), "new", json_integer(b)),
	     "%s%s changed: %ld -> %ld", d->key ? ": " : "", what, a, b);
}

/* A key is who a partner is: say so loudly, and what follows from it. */
static void diff_key(struct diff *d, const char *kind, const char *what,
		     const char *a, const char *b, const char *meaning)
{
	if (same(a, b))
		return;
	emit(d, with(with(change_new(d, kind), "old", json_string(a)), "new", json_string(b)),
	     ": %s CHANGED: \"%s\" -> \"%s\" (%s)", what, cli_text(a), cli_text(b), meaning);
}

/* The entries of a not in b, as one change listing them under list_key. */
static void diff_list(struct diff *d, const char *kind, const char *what,
		      const char *list_key, const char *const *a, size_t na,
		      const char *const *b, size_t nb)
{
	const char **only = calloc(na ? na : 1, sizeof *only);
	size_t k;
	char *text;

	if (!only) {
		d->failed = true;
		return;
	}
	k = set_minus(a, na, b, nb, only);
	if (k) {
		text = join(only, k);
		if (!text)
			d->failed = true;
		emit(d, with(change_new(d, kind), list_key, record_json_strings(only, k)),
		     "%s%s: %s", d->key ? ": " : "", what, text ? text : "?");
		free(text);
	}
	free(only);
}

/* --- partners ------------------------------------------------------------ */

static void partner_event(struct diff *d, const protocol *p, const char *id,
			  const char *kind, const char *verb)
{
	const protocol_partner *pt = protocol_partner_find(p, id);

	emit(d, with(with(change_new(d, kind), "name", json_string(pt->name)),
		     "endpoint", json_string(pt->endpoint)),
	     " %s: %s (%s)", verb, cli_text(pt->name), cli_text(pt->endpoint));
}

static void partner_both(struct diff *d, const protocol *a, const protocol *b,
			 const char *id)
{
	const protocol_partner *x = protocol_partner_find(a, id);
	const protocol_partner *y = protocol_partner_find(b, id);

	diff_str(d, "partner_name_changed", "name", x->name, y->name);
	diff_str(d, "partner_responsibilities_changed", "responsibilities",
		 x->responsibilities, y->responsibilities);
	diff_str(d, "partner_endpoint_changed", "endpoint", x->endpoint, y->endpoint);
	diff_key(d, "partner_tls_key_changed", "TLS KEY (tls_spki_sha256)",
		 x->tls_spki_sha256_b64, y->tls_spki_sha256_b64,
		 "other nodes will accept only the new certificate; confirm it with "
		 "the partner directly");
	diff_key(d, "partner_signing_key_changed", "SIGNING KEY (signing_key)",
		 x->signing_key_b64, y->signing_key_b64,
		 "only the new key can sign for this partner; confirm it with the "
		 "partner directly");
}

/* --- purposes ------------------------------------------------------------ */

static void purpose_event(struct diff *d, const protocol *p, const char *id,
			  const char *kind, const char *verb)
{
	const protocol_purpose *pu = protocol_purpose_find(p, id);

	emit(d, with(with(change_new(d, kind), "description", json_string(pu->description)),
		     "legal_basis", json_string(pu->legal_basis)),
	     " %s: %s (legal basis: %s)", verb, cli_text(pu->description),
	     cli_text(pu->legal_basis));
}

static void purpose_both(struct diff *d, const protocol *a, const protocol *b,
			 const char *id)
{
	const protocol_purpose *x = protocol_purpose_find(a, id);
	const protocol_purpose *y = protocol_purpose_find(b, id);

	diff_str(d, "purpose_description_changed", "description", x->description,
		 y->description);
	diff_str(d, "purpose_legal_basis_changed", "legal basis", x->legal_basis,
		 y->legal_basis);
}

/* --- rules --------------------------------------------------------------- */

/* "added: police -> council, probation; purpose P; Referral: a, b". */
static void rule_event(struct diff *d, const protocol *p, const char *id,
		       const char *kind, const char *verb)
{
	const protocol_rule *r = protocol_rule_find(p, id);
	char *to = join(r->to, r->n_to), *fields = join(r->fields, r->n_fields);
	json_t *c = with(with(change_new(d, kind), "from", json_string(r->from)),
			 "to", record_json_strings(r->to, r->n_to));

	c = with(with(c, "purpose", json_string(r->purpose)), "record", json_string(r->record));
	c = with(c, "fields", record_json_strings(r->fields, r->n_fields));
	if (!to || !fields)
		d->failed = true;
	emit(d, c, " %s: %s -> %s; purpose %s; %s: %s", verb, r->from, to ? to : "?",
	     r->purpose, r->record, fields ? fields : "?");
	free(to);
	free(fields);
}

static void rule_both(struct diff *d, const protocol *a, const protocol *b,
		      const char *id)
{
	const protocol_rule *x = protocol_rule_find(a, id);
	const protocol_rule *y = protocol_rule_find(b, id);

	diff_str(d, "rule_from_changed", "from", x->from, y->from);
	diff_list(d, "rule_recipients_added", "recipients added", "partners",
		  y->to, y->n_to, x->to, x->n_to);
	diff_list(d, "rule_recipients_removed", "recipients removed", "partners",
		  x->to, x->n_to, y->to, y->n_to);
	diff_str(d, "rule_purpose_changed", "purpose", x->purpose, y->purpose);
	diff_str(d, "rule_record_changed", "record type", x->record, y->record);
	diff_list(d, "rule_fields_added", "fields added", "fields",
		  y->fields, y->n_fields, x->fields, x->n_fields);
	diff_list(d, "rule_fields_removed", "fields removed", "fields",
		  x->fields, x->n_fields, y->fields, y->n_fields);
	diff_str(d, "rule_consent_changed", "consent", protocol_consent_name(x->consent),
		 protocol_consent_name(y->consent));
	diff_str(d, "rule_when_changed", "when", protocol_when_name(x->when), protocol_when_name(y->when));
	diff_int(d, "rule_retention_changed", "retention_days", x->retention_days,
		 y->retention_days);
}

/* --- the document -------------------------------------------------------- */

static const char *partner_id_at(const protocol *p, size_t i)
{
	return protocol_partner_at(p, i)->id;
}

static const char *purpose_id_at(const protocol *p, size_t i)
{
	return protocol_purpose_at(p, i)->id;
}

static const char *rule_id_at(const protocol *p, size_t i)
{
	return protocol_rule_at(p, i)->id;
}

static const struct section sections[] = {
	{ "Partners", "partner", protocol_partner_count, partner_id_at, partner_event,
	  "partner_left", "left", "partner_joined", "joined", partner_both },
	{ "Purposes", "purpose", protocol_purpose_count, purpose_id_at, purpose_event,
	  "purpose_removed", "removed", "purpose_added", "added", purpose_both },
	{ "Rules", "rule", protocol_rule_count, rule_id_at, rule_event,
	  "rule_removed", "removed", "rule_added", "added", rule_both },
};

/* Items only in a (removed), only in b (added), then those in both. */
static void diff_section(struct diff *d, const struct section *s,
			 const protocol *a, const protocol *b)
{
	size_t na, nb, k;
	const char **x = collect(a, s->count, s->id_at, &na);
	const char **y = collect(b, s->count, s->id_at, &nb);
	const char **only = calloc((na > nb ? na : nb) + 1, sizeof *only);

	if (!x || !y || !only) {
		d->failed = true;
		goto out;
	}
	d->heading = s->heading;
	d->key = s->key;
	k = set_minus(x, na, y, nb, only);
	for (size_t i = 0; i < k; i++) {
		d->id = only[i];
		s->event(d, a, d->id, s->gone_kind, s->gone_verb);
	}
	k = set_minus(y, nb, x, na, only);
	for (size_t i = 0; i < k; i++) {
		d->id = only[i];
		s->event(d, b, d->id, s->came_kind, s->came_verb);
	}
	for (size_t i = 0; i < na; i++) {
		d->id = x[i];
		if (in_list(x[i], y, nb))
			s->both(d, a, b, d->id);
	}
out:
	free(x);
	free(y);
	free(only);
}

static void diff_never_share(struct diff *d, const protocol *a, const protocol *b)
{
	size_t na, nb;
	const char **x = collect(a, protocol_never_share_count, protocol_never_share_at, &na);
	const char **y = collect(b, protocol_never_share_count, protocol_never_share_at, &nb);

	if (x && y) {
		d->heading = "Never shared";
		d->key = "never_share";
		d->id = NULL;
		diff_list(d, "never_share_added", "added", "fields", y, nb, x, na);
		diff_list(d, "never_share_removed", "removed", "fields", x, na, y, nb);
	} else {
		d->failed = true;
	}
	free(x);
	free(y);
}

static void diff_head(struct diff *d, const protocol *a, const protocol *b)
{
	char x[11], y[11];

	d->heading = "Protocol";
	d->key = d->id = NULL;
	diff_str(d, "protocol_changed", "protocol id", protocol_id(a), protocol_id(b));
	diff_int(d, "version_changed", "version", protocol_version(a), protocol_version(b));
	diff_str(d, "title_changed", "title", protocol_title(a), protocol_title(b));
	diff_str(d, "coordinator_changed", "coordinator", protocol_coordinator(a),
		 protocol_coordinator(b));
	date_format(protocol_effective_from(a), x);
	date_format(protocol_effective_from(b), y);
	diff_str(d, "effective_from_changed", "effective_from", x, y);
	date_format(protocol_review_by(a), x);
	date_format(protocol_review_by(b), y);
	diff_str(d, "review_by_changed", "review_by", x, y);
}

/* --- output -------------------------------------------------------------- */

static json_t *side_json(const char *path, const protocol *p)
{
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, hex);
	return json_pack("{s:s, s:s, s:I, s:s}", "file", path, "id", protocol_id(p),
			 "version", (json_int_t)protocol_version(p), "digest", hex);
}

static int print_json(struct diff *d, char **paths, const protocol *a, const protocol *b,
		      bool same_bytes)
{
	json_t *o = with(with(json_object(), "old", side_json(paths[0], a)),
			 "new", side_json(paths[1], b));
	int rc;

	o = with(with(o, "same_terms", json_boolean(d->n == 0)),
		 "same_bytes", json_boolean(same_bytes));
	if (o && json_object_set(o, "changes", d->changes) != 0) {
		json_decref(o);
		o = NULL;
	}
	rc = o ? json_dumpf(o, stdout, JSON_INDENT(2)) : -1;
	json_decref(o);
	if (rc != 0)
		return -1;
	putchar('\n');
	return 0;
}

static void print_side(const char *mark, const char *path, const protocol *p)
{
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, hex);
	printf("%s %s: protocol %s version %ld, sha256:%s\n", mark, path, protocol_id(p),
	       protocol_version(p), hex);
}

static void print_verdict(const struct diff *d, const protocol *a, const protocol *b,
			  bool same_bytes)
{
	if (d->n == 0 && same_bytes)
		printf("no differences in the protocol's terms: the files are identical, "
		       "so signatures of one hold for the other\n");
	else if (d->n == 0)
		printf("no differences in the protocol's terms: the files differ only in "
		       "comments, layout or order, but their digests differ, so every "
		       "partner must sign the new file again\n");
	else
		printf("\n%zu change%s. Every partner must sign the new file; signatures of "
		       "the old one do not carry over.\n", d->n, d->n == 1 ? "" : "s");
	if (d->n && protocol_version(b) <= protocol_version(a))
		printf("note: the version number did not increase (%ld -> %ld)\n",
		       protocol_version(a), protocol_version(b));
}

/* Compare and report; returns the exit status. */
static int run(bool as_json, char **paths, const protocol *a, const protocol *b)
{
	struct diff d = { .as_json = as_json };
	bool same_bytes = memcmp(protocol_digest(a), protocol_digest(b),
				 CRYPTO_SHA256_LEN) == 0;

	if (as_json && !(d.changes = json_array())) {
		cli_error("out of memory");
		return EXIT_USAGE;
	}
	if (!as_json) {
		print_side("---", paths[0], a);
		print_side("+++", paths[1], b);
	}
	diff_head(&d, a, b);
	diff_section(&d, &sections[0], a, b);
	diff_section(&d, &sections[1], a, b);
	diff_never_share(&d, a, b);
	diff_section(&d, &sections[2], a, b);
	if (!d.failed && as_json && print_json(&d, paths, a, b, same_bytes) != 0)
		d.failed = true;
	else if (!d.failed && !as_json)
		print_verdict(&d, a, b, same_bytes);
	json_decref(d.changes);
	if (d.failed) {
		cli_error("out of memory while comparing %s and %s", paths[0], paths[1]);
		return EXIT_USAGE;
	}
	return d.n ? 1 : 0;
}

int cmd_protocol_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	protocol *a = NULL, *b = NULL;
	bool as_json = false;
	int c, bad, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_bad_option("protocol diff", c, argv);
		}
	}
	if (cli_operands("protocol diff", argc, argv, 2, 2, "OLD NEW"))
		return EXIT_USAGE;
	/* Load both, so every problem in either file is shown at once. */
	bad = cli_load_protocol(argv[optind], &a);
	bad |= cli_load_protocol(argv[optind + 1], &b);
	if (bad) {
		protocol_close(a);
		protocol_close(b);
		return EXIT_USAGE;
	}
	status = run(as_json, argv + optind, a, b);
	protocol_close(a);
	protocol_close(b);
	return status;
}
