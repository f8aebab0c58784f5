/* cmd_audit_list.c - `accord audit list|show|export|subject`: the log as a
 * DPO reads it, and as the DPO's own tools read it (JSON lines, CSV). */
#include <getopt.h>
#include <jansson.h>

#include "cmd_audit.h"

enum format { FMT_TABLE, FMT_JSON, FMT_JSONL, FMT_CSV };

static void table_row(const audit_entry *en)
{
	char t[32], who[80];

	audit_time_format(en->time_ms, t);
	snprintf(who, sizeof who, "%s -> %s", en->from ? en->from : "-",
		 en->to ? en->to : "-");
	printf("%8llu  %.19s  %-17s %-28s %-24s %-10s %s\n",
	       (unsigned long long)en->sequence, t, audit_event_name(en->event) ?
	       audit_event_name(en->event) : "?", who, en->purpose ? en->purpose : "-",
	       en->record_type ? en->record_type : "-",
	       audit_outcome_name(en->outcome) ? audit_outcome_name(en->outcome) : "?");
}

struct out {
	enum format fmt;
	json_t *all;
	size_t n;
};

static int emit(const audit_entry *en, void *ctx)
{
	struct out *o = ctx;

	if (o->n++ == 0 && o->fmt == FMT_TABLE)
		printf("%8s  %-19s  %-17s %-28s %-24s %-10s %s\n", "SEQ", "TIME (UTC)",
		       "EVENT", "FROM -> TO", "PURPOSE", "RECORD", "OUTCOME");
	if (o->n == 1 && o->fmt == FMT_CSV)
		audit_csv_header(stdout);
	switch (o->fmt) {
	case FMT_TABLE: table_row(en); break;
	case FMT_CSV: audit_entry_csv(stdout, en); break;
	case FMT_JSON: json_array_append_new(o->all, audit_entry_json(en)); break;
	case FMT_JSONL: {
		json_t *j = audit_entry_json(en);

		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
		break;
	}
	}
	return 0;
}

static void finish(struct out *o)
{
	if (o->fmt == FMT_JSON) {
		json_dumpf(o->all, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else if (o->fmt == FMT_TABLE) {
		printf("%zu entr%s\n", o->n, o->n == 1 ? "y" : "ies");
	}
	json_decref(o->all);
}

static int day_ms(const char *s, int64_t *ms, int days_after)
{
	accord_date d;

	if (cli_parse_date(s, &d) != 0)
		return EXIT_USAGE;
	*ms = ((int64_t)d + days_after) * 86400000;
	return 0;
}

static const struct option filter_opts[] = {
	{ "data", required_argument, NULL, 'd' },
	{ "since", required_argument, NULL, 's' },
	{ "until", required_argument, NULL, 'u' },
	{ "partner", required_argument, NULL, 'p' },
	{ "purpose", required_argument, NULL, 'P' },
	{ "event", required_argument, NULL, 'e' },
	{ "rule", required_argument, NULL, 'r' },
	{ "json", no_argument, NULL, 'j' },
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* list and export: the same filters, other formats. */
static int list_or_export(int argc, char **argv, bool export)
{
	const char *data = NULL;
	audit_filter f = { 0 };
	struct out o = { export ? FMT_JSONL : FMT_TABLE, NULL, 0 };
	struct cli_audit log;
	accord_error e = { 0 };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", filter_opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 's': if (day_ms(optarg, &f.since_ms, 0)) return EXIT_USAGE; break;
		case 'u': if (day_ms(optarg, &f.until_ms, 1)) return EXIT_USAGE; break;
		case 'p': f.partner = optarg; break;
		case 'P': f.purpose = optarg; break;
		case 'r': f.rule_id = optarg; break;
		case 'e':
			f.event = audit_event_parse(optarg);
			if (f.event < 0) {
				cli_error("unknown event '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': o.fmt = FMT_JSON; break;
		case 'f':
			if (export && strcmp(optarg, "csv") == 0)
				o.fmt = FMT_CSV;
			else if (export && strcmp(optarg, "jsonl") == 0)
				o.fmt = FMT_JSONL;
			else {
				cli_error("--format is csv or jsonl (for export)");
				return EXIT_USAGE;
			}
			break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: cli_audit_usage(stderr); return EXIT_USAGE;
		}
	}
	if (!data || optind != argc) {
		cli_audit_usage(stderr);
		return EXIT_USAGE;
	}
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	o.all = json_array();
	rc = audit_iterate(log.a, &f, emit, &o, &e);
	finish(&o);
	cli_audit_close(&log);
	if (rc != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	return 0;
}

int cmd_audit_list(int argc, char **argv)
{
	return list_or_export(argc, argv, false);
}

int cmd_audit_export(int argc, char **argv)
{
	return list_or_export(argc, argv, true);
}

static void show_entry(const audit_entry *en)
{
	json_t *o = audit_entry_json(en);
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		char *s;

		if (json_is_null(v))
			continue;
		s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%-17s %s\n", k, s ? s : json_string_value(v));
		free(s);
	}
	json_decref(o);
}

int cmd_audit_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data = NULL;
	bool as_json = false;
	struct cli_audit log;
	audit_record *r;
	accord_error e = { 0 };
	uint64_t seq;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'j': as_json = true; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: cli_audit_usage(stderr); return EXIT_USAGE;
		}
	}
	if (!data || optind != argc - 1 || cli_parse_seq(argv[optind], &seq) != 0) {
		cli_audit_usage(stderr);
		return EXIT_USAGE;
	}
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	if (audit_read(log.a, seq, &r, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		cli_audit_close(&log);
		return 1;
	}
	if (as_json) {
		json_t *j = audit_entry_json(audit_record_entry(r));

		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		show_entry(audit_record_entry(r));
	}
	audit_record_free(r);
	cli_audit_close(&log);
	return 0;
}

int cmd_audit_subject(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "given-name", required_argument, NULL, 'g' },
		{ "family-name", required_argument, NULL, 'f' },
		{ "birth-date", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data = NULL, *given = NULL, *family = NULL, *birth = NULL;
	struct out o = { FMT_TABLE, NULL, 0 };
	uint8_t p[AUDIT_HASH_LEN];
	struct cli_audit log;
	accord_error e = { 0 };
	uint64_t *seqs = NULL;
	size_t n = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'g': given = optarg; break;
		case 'f': family = optarg; break;
		case 'b': birth = optarg; break;
		case 'j': o.fmt = FMT_JSON; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: cli_audit_usage(stderr); return EXIT_USAGE;
		}
	}
	if (!data || !given || !family || !birth || optind != argc) {
		cli_audit_usage(stderr);
		return EXIT_USAGE;
	}
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	rc = audit_subject_pseudonym(log.a, given, family, birth, p, &e);
	if (rc == 0)
		rc = audit_subject_entries(log.a, p, &seqs, &n, &e);
	o.all = json_array();
	for (size_t i = 0; rc == 0 && i < n; i++) {
		audit_record *r = NULL;

		rc = audit_read(log.a, seqs[i], &r, &e);
		if (rc == 0)
			emit(audit_record_entry(r), &o);
		audit_record_free(r);
	}
	finish(&o);
	free(seqs);
	cli_audit_close(&log);
	if (rc != 0) {
		cli_error("%s", accord_error_msg(&e));
		return rc == ACCORD_EINVAL ? EXIT_USAGE : 1;
	}
	return 0;
}
