/*
 * cmd_protocol_dryrun.c - `accord protocol dry-run`: what a rule would
 * disclose of a record, without sending anything. Case workers and the
 * review meeting use it to see exactly what leaves and what stays.
 */
#include <getopt.h>
#include <jansson.h>
#include "records.pb-c.h"

#include "accord/fs.h"
#include "accord/policy.h"
#include "accord/record.h"
#include "cmd.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: accord protocol dry-run FILE --from P --to Q --purpose X\n"
		"           --record-type T [--at DATE] [--case STATE]\n"
		"           [--case-consent CONSENT.json] RECORD.json\n\n"
		"Decide whether partner P may share the record in RECORD.json (a T, as\n"
		"JSON with the field names of proto/records.proto) with Q for purpose X\n"
		"under protocol FILE on DATE (default: today, UTC), and print one JSON\n"
		"object: allowed, rule, refusal, reason, shared (what Q would receive)\n"
		"and withheld (the field paths left out).\n\n"
		"  --case STATE   the case between P and Q: none (default), pending,\n"
		"                 accepted, declined or closed; rules 'when: in-case'\n"
		"                 need accepted\n"
		"  --case-consent the consent recorded for the case (a Consent as JSON),\n"
		"                 for record types that carry none of their own\n\n"
		"Exit status: 0 allowed, 3 refused, 1 bad input, 2 usage error.\n");
}

static int parse_case(const char *s, policy_case_state *out)
{
	static const struct { const char *name; policy_case_state st; } states[] = {
		{ "none", POLICY_CASE_NONE }, { "pending", POLICY_CASE_PENDING },
		{ "accepted", POLICY_CASE_ACCEPTED }, { "declined", POLICY_CASE_DECLINED },
		{ "closed", POLICY_CASE_CLOSED },
	};

	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
		if (strcmp(s, states[i].name) == 0) {
			*out = states[i].st;
			return 0;
		}
	cli_error("--case '%s': write none, pending, accepted, declined or closed", s);
	return EXIT_USAGE;
}

/* Read path as JSON of type d; prints the error and returns 1 on failure. */
static int load_json_record(const char *path, const ProtobufCMessageDescriptor *d,
			    ProtobufCMessage **out)
{
	accord_error e = { 0 };
	char *text;
	size_t len;
	int rc = fs_read_file(path, RECORD_JSON_MAX_BYTES, &text, &len, &e);

	if (rc == 0) {
		rc = record_from_json_text(d, text, len, out, &e);
		free(text);
	}
	if (rc != 0) {
		cli_error("%s: %s", path, accord_error_msg(&e));
		return 1;
	}
	return 0;
}

struct dryrun {
	const char *file, *record_path, *consent_path;
	policy_request rq;
};

static int parse_args(int argc, char **argv, struct dryrun *dr)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "purpose", required_argument, NULL, 'p' },
		{ "record-type", required_argument, NULL, 'r' },
		{ "at", required_argument, NULL, 'a' },
		{ "case", required_argument, NULL, 'c' },
		{ "case-consent", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	dr->rq.day = date_today();
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': dr->rq.from = optarg; break;
		case 't': dr->rq.to = optarg; break;
		case 'p': dr->rq.purpose = optarg; break;
		case 'r': dr->rq.record_type = optarg; break;
		case 'k': dr->consent_path = optarg; break;
		case 'a':
			if (cli_parse_date(optarg, &dr->rq.day) != 0)
				return EXIT_USAGE;
			break;
		case 'c':
			if (parse_case(optarg, &dr->rq.case_state) != 0)
				return EXIT_USAGE;
			break;
		case 'h': usage(stdout); return -1;
		default: return cli_bad_option("protocol dry-run", c, argv);
		}
	}
	if (cli_need("protocol dry-run", "--from P", dr->rq.from) ||
	    cli_need("protocol dry-run", "--to Q", dr->rq.to) ||
	    cli_need("protocol dry-run", "--purpose X", dr->rq.purpose) ||
	    cli_need("protocol dry-run", "--record-type T", dr->rq.record_type) ||
	    cli_operands("protocol dry-run", argc, argv, 2, 2, "FILE RECORD.json"))
		return EXIT_USAGE;
	if (!record_type_find(dr->rq.record_type)) {
		cli_error("--record-type '%s' is not a record type (known: Referral, "
			  "ReferralReply, ProgressUpdate, ConsentWithdrawal, CaseClosure)",
			  dr->rq.record_type);
		return EXIT_USAGE;
	}
	dr->file = argv[optind];
	dr->record_path = argv[optind + 1];
	return 0;
}

/* Minimise under the decision and build {shared, withheld}; 1 on failure. */
static int disclose(const policy_decision *dn, const ProtobufCMessage *rec,
		    json_t **shared, json_t **withheld)
{
	record_withheld w;
	accord_error e = { 0 };
	ProtobufCMessage *min;

	if (record_minimise(dn->selection, rec, &min, &w, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	/* What the recipient's node will check on receipt must hold here. */
	if (record_check(dn->selection, min, &e) != 0) {
		cli_error("internal error: the minimised record fails the check on "
			  "receipt: %s", accord_error_msg(&e));
		record_free(min);
		return 1;
	}
	*shared = record_to_json(min);
	record_free(min);
	*withheld = json_array();
	for (size_t i = 0; i < w.n; i++)
		json_array_append_new(*withheld, json_string(w.paths[i]));
	if (!*shared || !*withheld) {
		cli_error("the minimised record cannot be written as JSON");
		json_decref(*shared);
		json_decref(*withheld);
		return 1;
	}
	return 0;
}

int cmd_protocol_dryrun(int argc, char **argv)
{
	struct dryrun dr = { 0 };
	ProtobufCMessage *rec = NULL, *consent = NULL;
	json_t *shared = json_null(), *withheld = json_null(), *o;
	protocol *p = NULL;
	protocol_sigs *s = NULL;
	policy *pl = NULL;
	policy_decision dn;
	accord_error e = { 0 };
	int status = 1, rc = parse_args(argc, argv, &dr);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (cli_load_protocol(dr.file, &p) != 0)
		return 1;
	if (cli_load_sigs(p, dr.file, &s) != 0)
		goto out_close;
	if (load_json_record(dr.record_path, record_type_find(dr.rq.record_type), &rec) != 0)
		goto out_close;
	if (dr.consent_path &&
	    load_json_record(dr.consent_path, &accord__records__consent__descriptor,
			     &consent) != 0)
		goto out_close;
	if (policy_open(p, s, &pl, &e) != 0) {
		cli_error("%s: %s", dr.file, accord_error_msg(&e));
		goto out_close;
	}
	dr.rq.record = rec;
	dr.rq.case_consent = consent;
	rc = policy_decide(pl, &dr.rq, &dn);
	if (rc == 0 && disclose(&dn, rec, &shared, &withheld) != 0)
		goto out_close;
	o = json_pack("{s:b, s:s?, s:s?, s:s, s:o, s:o}", "allowed", rc == 0,
		      "rule", dn.rule ? dn.rule->id : NULL,
		      "refusal", rc == 0 ? NULL : policy_refusal_name(dn.refusal),
		      "reason", dn.reason, "shared", shared, "withheld", withheld);
	shared = withheld = NULL;
	if (!o || json_dumpf(o, stdout, JSON_INDENT(2)) != 0) {
		cli_error("out of memory");
		json_decref(o);
		goto out_close;
	}
	putchar('\n');
	json_decref(o);
	status = rc == 0 ? 0 : EXIT_REFUSED;
out_close:
	json_decref(shared);
	json_decref(withheld);
	policy_close(pl);
	record_free(consent);
	record_free(rec);
	protocol_sigs_free(s);
	protocol_close(p);
	return status;
}
