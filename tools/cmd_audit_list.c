/* cmd_audit_list.c - `accord audit list|show|export|subject`: the log as a
 * DPO reads it, and as the DPO's own tools read it (JSON lines, CSV). */
#include <getopt.h>
#include <jansson.h>

#include "cmd_audit.h"

enum format { FMT_TABLE, FMT_JSON, FMT_JSONL, FMT_CSV };

/* The entry's text as cli_text shows it, "-" when absent. */
static const char *cell(const char *s)
{
	return s ? cli_text(s) : "-";
}

/* One line: the text in it escaped, so that it stays one line of the
 * table and cannot act on the terminal. */
static void table_row(const audit_entry *en)
{
	const char *from = cell(en->from), *to = cell(en->to);
	size_t who = strlen(from) + strlen(to) + 4;
	char t[32];

	audit_time_format(en->time_ms, t);
	printf("%8llu  %.19s  %-17s %s -> %s%*s %-24s %-17s %s\n",
	       (unsigned long long)en->sequence, t, audit_event_name(en->event) ?
	       audit_event_name(en->event) : "?", from, to, who < 28 ? (int)(28 - who) : 0,
	       "", cell(en->purpose), cell(en->record_type),
	       audit_outcome_name(en->outcome) ? audit_outcome_name(en->outcome) : "?");
}

struct out {
	enum format fmt;
	json_t *all;
	size_t n;
	int rc;                   /* why an entry could not be written */
	uint64_t failed_seq;      /* which one, when rc is set */
};

/* One entry in o's format. An entry that cannot be written (out of memory,
 * or the output fails) stops the listing, and finish says which it was:
 * a reader never leaves an entry out and carries on. */
static int emit(const audit_entry *en, void *ctx)
{
	struct out *o = ctx;
	json_t *j = NULL;
	int rc = 0;

	if (o->n++ == 0 && o->fmt == FMT_TABLE)
		printf("%8s  %-19s  %-17s %-28s %-24s %-17s %s\n", "SEQ", "TIME (UTC)",
		       "EVENT", "FROM -> TO", "PURPOSE", "RECORD", "OUTCOME");
	if (o->n == 1 && o->fmt == FMT_CSV)
		rc = audit_csv_header(stdout);
	switch (o->fmt) {
	case FMT_TABLE: table_row(en); break;
	case FMT_CSV: rc = rc ? rc : audit_entry_csv(stdout, en); break;
	case FMT_JSON:
		rc = json_array_append_new(o->all, audit_entry_json(en)) == 0 ? 0 : ACCORD_ENOMEM;
		break;
	case FMT_JSONL:
		j = audit_entry_json(en);
		if (!j)
			rc = ACCORD_ENOMEM;
		else if (json_dumpf(j, stdout, JSON_COMPACT) != 0 || fputc('\n', stdout) == EOF)
			rc = ACCORD_EIO;
		json_decref(j);
		break;
	}
	if (rc != 0) {
		o->rc = rc;
		o->failed_seq = en->sequence;
	}
	return rc;
}

/* The end of the listing; whole is false when reading the log failed (and
 * was reported). A JSON array is printed only when it holds every entry.
 * Returns 0, or 1 after saying why the output is incomplete. */
static int finish(struct out *o, bool whole)
{
	whole = whole && o->rc == 0;
	if (whole && o->fmt == FMT_JSON && (json_dumpf(o->all, stdout, JSON_INDENT(2)) != 0 ||
					    fputc('\n', stdout) == EOF))
		o->rc = ACCORD_EIO;
	else if (whole && o->fmt == FMT_TABLE)
		printf("%zu entr%s\n", o->n, o->n == 1 ? "y" : "ies");
	json_decref(o->all);
	if (o->rc != 0)
		cli_error("audit entry %llu could not be written (%s): the output is incomplete",
			  (unsigned long long)o->failed_seq, accord_strerror(o->rc));
	else if (fflush(stdout) != 0 || ferror(stdout))
		cli_error("writing the output failed: it is incomplete");
	else
		return whole ? 0 : 1;
	return 1;
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
	const char *cmd = export ? "audit export" : "audit list";
	const char *data = NULL;
	audit_filter f = { 0 };
	struct out o = { .fmt = export ? FMT_JSONL : FMT_TABLE };
	struct cli_audit log;
	accord_error e = { 0 };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", filter_opts, NULL)) != -1) {
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
			else if (export)
				return cli_usage(cmd, "--format is csv or jsonl, not '%s'", optarg);
			else
				return cli_usage(cmd, "--format is for export; list takes --json");
			break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option(cmd, c, argv);
		}
	}
	if (cli_need(cmd, "--data DIR", data) || cli_operands(cmd, argc, argv, 0, 0, NULL))
		return EXIT_USAGE;
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	o.all = json_array();
	rc = audit_iterate(log.a, &f, emit, &o, &e);
	if (rc != 0 && o.rc == 0)
		cli_error("%s", accord_error_msg(&e));
	cli_audit_close(&log);
	return finish(&o, rc == 0);
}

int cmd_audit_list(int argc, char **argv)
{
	return list_or_export(argc, argv, false);
}

int cmd_audit_export(int argc, char **argv)
{
	return list_or_export(argc, argv, true);
}

/* The entry's own text under the JSON member key, or NULL when key names
 * none: show prints these bytes escaped, not the JSON's form of them. */
static const char *entry_text(const audit_entry *en, const char *key)
{
	const struct {
		const char *key, *text;
	} t[] = {
		{ "protocol_id", en->protocol_id }, { "rule", en->rule_id },
		{ "purpose", en->purpose }, { "from", en->from }, { "to", en->to },
		{ "record_type", en->record_type }, { "message_id", en->message_id },
		{ "actor", en->actor }, { "reason", en->reason },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(t[i].key, key) == 0)
			return t[i].text;
	return NULL;
}

/* One member a line, absent ones left out, or JSON: 0, or 1 (printed)
 * when the entry could not be written. Text is escaped with cli_text (a
 * byte outside UTF-8 as \xNN, as in the JSON); lists and not_utf8 are
 * JSON, escaped with cli_json. */
static int show_entry(const audit_entry *en, bool as_json)
{
	json_t *o = audit_entry_json(en);
	int rc = o ? 0 : ACCORD_ENOMEM;
	const char *k, *s;
	json_t *v;

	if (o && as_json) {
		if (json_dumpf(o, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF)
			rc = ACCORD_EIO;
	} else if (o) {
		json_object_foreach(o, k, v) {
			if (json_is_null(v))
				continue;
			if (json_is_string(v))
				s = cli_text(entry_text(en, k) ? entry_text(en, k) :
					     json_string_value(v));
			else
				s = cli_json(v, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!s) {
				rc = ACCORD_ENOMEM;
				break;
			}
			printf("%-17s %s\n", k, s);
		}
	}
	json_decref(o);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
		rc = ACCORD_EIO;
	if (rc == 0)
		return 0;
	cli_error("audit entry %llu could not be written (%s)", (unsigned long long)en->sequence,
		  accord_strerror(rc));
	return 1;
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
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'j': as_json = true; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit show", c, argv);
		}
	}
	if (cli_need("audit show", "--data DIR", data) ||
	    cli_operands("audit show", argc, argv, 1, 1, "SEQ"))
		return EXIT_USAGE;
	if (cli_parse_seq(argv[optind], &seq) != 0)
		return EXIT_USAGE;
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	if (audit_read(log.a, seq, &r, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		cli_audit_close(&log);
		return 1;
	}
	c = show_entry(audit_record_entry(r), as_json);
	audit_record_free(r);
	cli_audit_close(&log);
	return c;
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
	struct out o = { .fmt = FMT_TABLE };
	uint8_t p[AUDIT_HASH_LEN];
	struct cli_audit log;
	accord_error e = { 0 };
	uint64_t *seqs = NULL;
	size_t n = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'g': given = optarg; break;
		case 'f': family = optarg; break;
		case 'b': birth = optarg; break;
		case 'j': o.fmt = FMT_JSON; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit subject", c, argv);
		}
	}
	if (cli_need("audit subject", "--data DIR", data) ||
	    cli_need("audit subject", "--given-name G", given) ||
	    cli_need("audit subject", "--family-name F", family) ||
	    cli_need("audit subject", "--birth-date D", birth) ||
	    cli_operands("audit subject", argc, argv, 0, 0, NULL))
		return EXIT_USAGE;
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	rc = audit_subject_pseudonym(log.a, given, family, birth, p, &e);
	if (rc == 0)
		rc = audit_subject_entries(log.a, p, &seqs, &n, &e);
	o.all = json_array();
	for (size_t i = 0; rc == 0 && i < n; i++) {
		audit_record *r = NULL;

		rc = audit_read(log.a, seqs[i], &r, &e);
		if (rc == 0 && emit(audit_record_entry(r), &o) != 0)
			rc = o.rc;
		audit_record_free(r);
	}
	free(seqs);
	cli_audit_close(&log);
	if (rc != 0 && o.rc == 0)
		cli_error("%s", accord_error_msg(&e));
	c = finish(&o, rc == 0);
	return rc == ACCORD_EINVAL && o.rc == 0 ? EXIT_USAGE : c;
}
