/*
 * cmd_protocol_show.c - `accord protocol show`: the protocol as a quarterly
 * review meeting reads it. What it is, when it lapses, why data is shared,
 * what is never shared, and per partner what it sends and receives; then
 * who has signed these exact bytes and whether it is in force on a date.
 *
 * Show is for reading: it exits 0 whenever the document loads, in force or
 * not, and 1 only when it does not.
 */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>

#include "accord/crypto.h"
#include "accord/record.h"
#include "cmd.h"

#define WRAP_WIDTH 78

/* Everything one run shows; sigs is NULL when the signature file is
 * malformed (its diagnostics went to stderr). */
struct show {
	const char *path;
	const protocol *p;
	const protocol_sigs *sigs;
	accord_date day;
	bool in_force;
	accord_error why;        /* the reason when !in_force */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: accord protocol show FILE [--at DATE] [--json]\n\n"
		"Prints the protocol as a review meeting reads it: its dates, purposes\n"
		"and legal bases, the fields never shared, what each partner shares\n"
		"and receives, who has signed, and whether it is in force on DATE\n"
		"(YYYY-MM-DD, default today, UTC). --json prints one JSON object.\n"
		"Exit status: 0 when shown (in force or not), 1 when FILE does not\n"
		"load, 2 for a usage error.\n");
}

static const char *sig_word(const struct show *sh, size_t i)
{
	return sh->sigs ? cli_sig_state_name(sh->sigs->state[i]) : "unknown";
}

/* --- text -------------------------------------------------------------- */

/* Greedy word wrap: words go after `indent` until WRAP_WIDTH columns.
 * The protocol's text is the partners' own: each word is escaped with
 * cli_textn, and a tab or newline in it only separates words. */
struct wrap {
	const char *indent;
	int col;
	bool bare;               /* at the start of a line with no label */
};

static void wrap_start(struct wrap *w, const char *indent, const char *label)
{
	w->indent = indent;
	w->col = printf("%s%s", indent, label);
	w->bare = !*label;
}

static void wrap_word(struct wrap *w, const char *s, size_t len, const char *tail)
{
	const char *word = cli_textn(s, len);
	int need = (int)strlen(word) + (int)strlen(tail) + 1;

	if (w->col + need > WRAP_WIDTH && w->col > (int)strlen(w->indent) + 8)
		w->col = printf("\n%s   ", w->indent) - 1;
	w->col += printf("%s%s%s", w->bare ? "" : " ", word, tail);
	w->bare = false;
}

static void wrap_text(const char *indent, const char *label, const char *text)
{
	struct wrap w;

	wrap_start(&w, indent, label);
	for (const char *q = text; *q;) {
		size_t n = 0;

		while (*q && isspace((unsigned char)*q))
			q++;
		while (q[n] && !isspace((unsigned char)q[n]))
			n++;
		if (n)
			wrap_word(&w, q, n, "");
		q += n;
	}
	putchar('\n');
}

static void wrap_list(const char *indent, const char *label,
		      const char *const *items, size_t n)
{
	struct wrap w;

	wrap_start(&w, indent, label);
	for (size_t i = 0; i < n; i++)
		wrap_word(&w, items[i], strlen(items[i]), i + 1 < n ? "," : "");
	putchar('\n');
}

static void print_header(const struct show *sh)
{
	const protocol *p = sh->p;
	const protocol_partner *co = protocol_partner_find(p, protocol_coordinator(p));
	char digest[2 * CRYPTO_SHA256_LEN + 1], a[11], b[11], t[11];
	long left = (long)protocol_review_by(p) - sh->day;
	long start = (long)protocol_effective_from(p) - sh->day;

	crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, digest);
	date_format(protocol_effective_from(p), a);
	date_format(protocol_review_by(p), b);
	date_format(sh->day, t);
	printf("Protocol %s, version %ld\n", protocol_id(p), protocol_version(p));
	wrap_text("  ", "", protocol_title(p));
	printf("  file         %s\n", sh->path);
	printf("  coordinator  %s%s%s%s\n", protocol_coordinator(p), co ? " (" : "",
	       co ? cli_text(co->name) : "", co ? ")" : "");
	printf("  digest       sha256:%s\n", digest);
	printf("  effective    %s to %s\n", a, b);
	if (start > 0)
		printf("  starts       in %ld day%s (counted from %s)\n", start,
		       start == 1 ? "" : "s", t);
	if (left >= 0)
		printf("  review       due in %ld day%s (counted from %s)\n", left,
		       left == 1 ? "" : "s", t);
	else
		printf("  review       overdue by %ld day%s (counted from %s)\n", -left,
		       left == -1 ? "" : "s", t);
}

static void print_purposes(const protocol *p)
{
	printf("\nPurposes\n");
	for (size_t i = 0; i < protocol_purpose_count(p); i++) {
		const protocol_purpose *pu = protocol_purpose_at(p, i);

		printf("  %s\n", pu->id);
		wrap_text("    ", "", pu->description);
		wrap_text("    ", "Legal basis:", pu->legal_basis);
	}
	printf("\nNever shared, by any rule\n");
	for (size_t i = 0; i < protocol_never_share_count(p); i++)
		printf("  %s\n", protocol_never_share_at(p, i));
}

static void print_rule_terms(const protocol_rule *r)
{
	char terms[256];
	int n = snprintf(terms, sizeof terms, "consent %s; %s; kept at most %d day%s",
			 r->consent == PROTOCOL_CONSENT_REQUIRED ? "required" : "not required",
			 r->when == PROTOCOL_WHEN_IN_CASE ? "in-case: only about a case the "
			 "recipient accepted" : "anytime", r->retention_days,
			 r->retention_days == 1 ? "" : "s");

	wrap_list("          ", "fields:", r->fields, r->n_fields);
	if (n > 0 && (size_t)n < sizeof terms)
		wrap_text("          ", "", terms);
}

static bool rule_sends_to(const protocol_rule *r, const char *id)
{
	for (size_t i = 0; i < r->n_to; i++)
		if (strcmp(r->to[i], id) == 0)
			return true;
	return false;
}

/* The rules pt shares under (shares) or receives by (!shares). */
static void print_flows(const protocol *p, const protocol_partner *pt, bool shares)
{
	size_t shown = 0;

	printf("    %s\n", shares ? "Shares:" : "Receives:");
	for (size_t i = 0; i < protocol_rule_count(p); i++) {
		const protocol_rule *r = protocol_rule_at(p, i);

		if (shares ? strcmp(r->from, pt->id) != 0 : !rule_sends_to(r, pt->id))
			continue;
		printf("      %s\n", r->id);
		if (shares)
			wrap_list("          ", "to:", r->to, r->n_to);
		else
			printf("          from: %s\n", r->from);
		printf("          purpose %s, record %s\n", r->purpose, r->record);
		print_rule_terms(r);
		shown++;
	}
	if (!shown)
		printf("      nothing: no rule %s\n",
		       shares ? "lets it share" : "names it as a recipient");
}

static void print_partners(const struct show *sh)
{
	const protocol *p = sh->p;

	printf("\nPartners\n");
	for (size_t i = 0; i < protocol_partner_count(p); i++) {
		const protocol_partner *pt = protocol_partner_at(p, i);

		printf("\n  %s: %s\n", pt->id, cli_text(pt->name));
		wrap_text("    ", "Responsibilities:", pt->responsibilities);
		printf("    Endpoint: %s\n", cli_text(pt->endpoint));
		printf("    Signature: %s\n", sig_word(sh, i));
		print_flows(p, pt, true);
		print_flows(p, pt, false);
	}
}

static void print_status(const struct show *sh)
{
	char t[11];

	printf("\nSignatures (%s.sig)\n", sh->path);
	for (size_t i = 0; i < protocol_partner_count(sh->p); i++)
		printf("  %-24s %s\n", protocol_partner_at(sh->p, i)->id, sig_word(sh, i));
	for (size_t i = 0; sh->sigs && i < sh->sigs->n_strangers; i++)
		printf("  line %d of the signature file is from '%s', which is not a "
		       "partner: ignored\n", sh->sigs->strangers[i].line,
		       sh->sigs->strangers[i].id);
	date_format(sh->day, t);
	if (sh->in_force)
		printf("\nIN FORCE on %s\n", t);
	else
		printf("\nNOT IN FORCE on %s: %s\n", t, accord_error_msg(&sh->why));
}

/* --- JSON -------------------------------------------------------------- */

/* Each builder returns a new value or NULL when out of memory (or when a
 * string is not UTF-8); json_object_set_new and json_array_append_new
 * refuse a NULL value and release the value they fail to take. */

static json_t *rule_json(const protocol_rule *r, bool shares)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "rule", json_string(r->id)) ||
	    (shares ? json_object_set_new(o, "to", record_json_strings(r->to, r->n_to)) :
	     json_object_set_new(o, "from", json_string(r->from))) ||
	    json_object_set_new(o, "purpose", json_string(r->purpose)) ||
	    json_object_set_new(o, "record", json_string(r->record)) ||
	    json_object_set_new(o, "fields", record_json_strings(r->fields, r->n_fields)) ||
	    json_object_set_new(o, "consent", json_string(protocol_consent_name(r->consent))) ||
	    json_object_set_new(o, "when", json_string(protocol_when_name(r->when))) ||
	    json_object_set_new(o, "retention_days", json_integer(r->retention_days))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *flows_json(const protocol *p, const char *id, bool shares)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < protocol_rule_count(p); i++) {
		const protocol_rule *r = protocol_rule_at(p, i);

		if (shares ? strcmp(r->from, id) != 0 : !rule_sends_to(r, id))
			continue;
		if (json_array_append_new(a, rule_json(r, shares)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *partner_json(const struct show *sh, size_t i)
{
	const protocol_partner *pt = protocol_partner_at(sh->p, i);
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "id", json_string(pt->id)) ||
	    json_object_set_new(o, "name", json_string(pt->name)) ||
	    json_object_set_new(o, "responsibilities", json_string(pt->responsibilities)) ||
	    json_object_set_new(o, "endpoint", json_string(pt->endpoint)) ||
	    json_object_set_new(o, "tls_spki_sha256", json_string(pt->tls_spki_sha256_b64)) ||
	    json_object_set_new(o, "signing_key", json_string(pt->signing_key_b64)) ||
	    json_object_set_new(o, "signature", json_string(sig_word(sh, i))) ||
	    json_object_set_new(o, "shares", flows_json(sh->p, pt->id, true)) ||
	    json_object_set_new(o, "receives", flows_json(sh->p, pt->id, false))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *purposes_json(const protocol *p)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < protocol_purpose_count(p); i++) {
		const protocol_purpose *pu = protocol_purpose_at(p, i);

		if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", pu->id,
				"description", pu->description,
				"legal_basis", pu->legal_basis)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The never_share list, the partners and the signature lines from others:
 * the arrays of the object, added to o. Returns 0 or -1. */
static int lists_json(const struct show *sh, json_t *o)
{
	const protocol *p = sh->p;
	json_t *ns = json_array(), *parts = json_array(), *strangers = json_array();
	int rc = -1;

	if (!ns || !parts || !strangers)
		goto out;
	for (size_t i = 0; i < protocol_never_share_count(p); i++)
		if (json_array_append_new(ns, json_string(protocol_never_share_at(p, i))))
			goto out;
	for (size_t i = 0; i < protocol_partner_count(p); i++)
		if (json_array_append_new(parts, partner_json(sh, i)))
			goto out;
	for (size_t i = 0; sh->sigs && i < sh->sigs->n_strangers; i++)
		if (json_array_append_new(strangers, json_pack("{s:s, s:i}",
				"id", sh->sigs->strangers[i].id,
				"line", sh->sigs->strangers[i].line)))
			goto out;
	rc = json_object_set(o, "never_share", ns) ||
	     json_object_set(o, "partners", parts) ||
	     json_object_set(o, "non_partner_signatures", strangers) ? -1 : 0;
out:
	json_decref(ns);
	json_decref(parts);
	json_decref(strangers);
	return rc;
}

static json_t *show_json(const struct show *sh)
{
	const protocol *p = sh->p;
	char digest[2 * CRYPTO_SHA256_LEN + 1], a[11], b[11], t[11];
	json_t *o;

	crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, digest);
	date_format(protocol_effective_from(p), a);
	date_format(protocol_review_by(p), b);
	date_format(sh->day, t);
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:s?}",
		      "file", sh->path, "protocol", protocol_id(p),
		      "version", (json_int_t)protocol_version(p),
		      "title", protocol_title(p), "coordinator", protocol_coordinator(p),
		      "digest", digest, "effective_from", a, "review_by", b, "at", t,
		      "days_to_review", (json_int_t)protocol_review_by(p) - sh->day,
		      "in_force", sh->in_force,
		      "reason", sh->in_force ? NULL : accord_error_msg(&sh->why));
	if (!o)
		return NULL;
	if (json_object_set_new(o, "purposes", purposes_json(p)) || lists_json(sh, o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int print_json(const struct show *sh)
{
	json_t *o = show_json(sh);
	int rc = o ? json_dumpf(o, stdout, JSON_INDENT(2)) : -1;

	json_decref(o);
	if (rc != 0) {
		cli_error("%s: cannot write the JSON (out of memory, or a string that "
			  "is not UTF-8)", sh->path);
		return 1;
	}
	putchar('\n');
	return 0;
}

/* --- the command ------------------------------------------------------- */

int cmd_protocol_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct show sh = { .day = date_today() };
	protocol_sigs *sigs = NULL;
	protocol *p;
	bool as_json = false;
	int c, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (cli_parse_date(optarg, &sh.day) != 0)
				return EXIT_USAGE;
			break;
		case 'j': as_json = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_bad_option("protocol show", c, argv);
		}
	}
	if (cli_operands("protocol show", argc, argv, 1, 1, "FILE"))
		return EXIT_USAGE;
	sh.path = argv[optind];
	if (cli_load_protocol(sh.path, &p) != 0)
		return 1;
	sh.p = p;
	if (cli_load_sigs(p, sh.path, &sigs) != 0) {
		sigs = NULL;
		accord_fail(&sh.why, ACCORD_EINVALID, "the signature file %s.sig is "
			    "malformed (see the messages above), so no signature counts",
			    sh.path);
	} else {
		sh.sigs = sigs;
		sh.in_force = protocol_in_force(p, sigs, sh.day, &sh.why) == 0;
	}
	if (as_json) {
		status = print_json(&sh);
	} else {
		print_header(&sh);
		print_purposes(p);
		print_partners(&sh);
		print_status(&sh);
		status = 0;
	}
	protocol_sigs_free(sigs);
	protocol_close(p);
	return status;
}
