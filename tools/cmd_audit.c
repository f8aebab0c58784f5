/* cmd_audit.c - `accord audit`: the DPO's view of the node's audit log.
 * This file: the dispatcher, verify and checkpoint; listing is in
 * cmd_audit_list.c, proofs and the developer's append in cmd_audit_prove.c. */
#include <errno.h>
#include <getopt.h>

#include "accord/fs.h"
#include "cmd_audit.h"

void cli_audit_usage(FILE *f)
{
	fprintf(f, "usage: accord audit COMMAND --data DIR ...\n\n"
		"DIR is the node's data directory (its LMDB store and audit.key).\n\n"
		"  verify --data DIR [--checkpoint FILE] [--pub KEY] [--json]\n"
		"        recompute the tree, check every stored hash and checkpoint\n"
		"        signature, and that the log still holds the tree of a\n"
		"        checkpoint kept elsewhere; exit 0 only when the log is whole\n"
		"  list --data DIR [FILTERS] [--json]\n"
		"        the entries as a table; FILTERS: --since DATE --until DATE\n"
		"        --partner ID --purpose ID --event EVENT --rule ID\n"
		"  show --data DIR SEQ [--json]\n"
		"        one entry in full\n"
		"  export --data DIR --format csv|jsonl [FILTERS]\n"
		"        every matching entry for the DPO's own tools; text that is\n"
		"        not UTF-8 is written \\xNN, its bytes in hex under not_utf8\n"
		"  subject --data DIR --given-name G --family-name F --birth-date D [--json]\n"
		"        every entry about that person (by the node's pseudonym)\n"
		"  checkpoint --data DIR --key KEY [--partner ID] [--out FILE]\n"
		"        sign the current tree head with the node's signing key\n"
		"  prove --data DIR SEQ [--out FILE]\n"
		"        an inclusion proof of entry SEQ against the latest checkpoint\n"
		"  check-proof FILE --pub KEY\n"
		"        check a proof offline, without the store\n"
		"  append --data DIR [FIELDS]\n"
		"        developer and test tool: append entries as the daemon would\n\n"
		"KEY for --pub is the signer's signing.pub file or its base64 text;\n"
		"without --pub, verify uses the signer recorded at the first checkpoint.\n"
		"EVENT is DISCLOSED, RECEIVED, REFUSED, DELIVERED, PURGED,\n"
		"CONSENT_WITHDRAWN, PROTOCOL_LOADED, PROTOCOL_REFUSED or PEER_INCONSISTENT.\n"
		"list, show and subject escape the log's text for the terminal: a control\n"
		"character or a byte outside UTF-8 as \\xNN (ESC as \\x1b), a C1 or bidi\n"
		"control as \\uNNNN (U+202E as \\u202e), a backslash as \\\\. --json and\n"
		"export are for programs: they write the text as it is.\n"
		"Exit status: 0 success, 1 failure (or a log that is not whole), 2 usage.\n");
}

int cli_audit_open(const char *data, bool read_only, struct cli_audit *log)
{
	store_options o = { .read_only = read_only };
	accord_error e = { 0 };

	log->st = NULL;
	log->a = NULL;
	if (store_open(data, &o, &log->st, &e) != 0 || audit_open(log->st, &log->a, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		store_close(log->st);
		return 1;
	}
	return 0;
}

void cli_audit_close(struct cli_audit *log)
{
	audit_close(log->a);
	store_close(log->st);
}

int cli_parse_seq(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || *s == '-' || errno) {
		cli_error("'%s' is not a sequence number", s);
		return EXIT_USAGE;
	}
	*out = v;
	return 0;
}

/* --pub: a signing.pub file, or the base64 itself. */
int cli_load_pub(const char *arg, uint8_t pub[CRYPTO_ED25519_PUB_LEN])
{
	char *buf = NULL;
	size_t len;
	int rc;

	if (fs_read_file(arg, 4096, &buf, &len, NULL) == 0) {
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		rc = crypto_b64_decode_exact(buf, pub, CRYPTO_ED25519_PUB_LEN);
		free(buf);
	} else {
		rc = crypto_b64_decode_exact(arg, pub, CRYPTO_ED25519_PUB_LEN);
	}
	if (rc != 0)
		cli_error("%s: not a signing.pub file nor the base64 of an Ed25519 public "
			  "key", arg);
	return rc ? 1 : 0;
}

static void report_print(const char *data, const audit_report *r, const char *ext)
{
	if (r->ok) {
		printf("%s: the audit log is whole: %llu entr%s, %llu stored checkpoint%s "
		       "verified%s\n", data, (unsigned long long)r->size,
		       r->size == 1 ? "y" : "ies",
		       (unsigned long long)r->checkpoints, r->checkpoints == 1 ? "" : "s",
		       ext ? ", consistent with the checkpoint given" : "");
		return;
	}
	/* why may quote what the store holds, a checkpoint note. */
	if (r->bad_has_seq)
		printf("%s: NOT WHOLE: first bad entry %llu: %s\n", data,
		       (unsigned long long)r->bad_seq, cli_text(r->why));
	else
		printf("%s: NOT WHOLE: %s\n", data, cli_text(r->why));
}

static int verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "pub", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data = NULL, *ckpt = NULL, *pub_arg = NULL;
	uint8_t pub[CRYPTO_ED25519_PUB_LEN];
	char *ext = NULL;
	size_t ext_len = 0;
	bool as_json = false;
	struct cli_audit log;
	audit_report r;
	accord_error e = { 0 };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': ckpt = optarg; break;
		case 'p': pub_arg = optarg; break;
		case 'j': as_json = true; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit verify", c, argv);
		}
	}
	if (cli_need("audit verify", "--data DIR", data) ||
	    cli_operands("audit verify", argc, argv, 0, 0, NULL))
		return EXIT_USAGE;
	if (pub_arg && cli_load_pub(pub_arg, pub) != 0)
		return EXIT_USAGE;
	if (ckpt && fs_read_file(ckpt, AUDIT_NOTE_MAX, &ext, &ext_len, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	if (cli_audit_open(data, true, &log) != 0) {
		free(ext);
		return 1;
	}
	rc = audit_verify(log.a, pub_arg ? pub : NULL, ext, ext_len, &r, &e);
	cli_audit_close(&log);
	if (rc != 0) {
		cli_error("%s%s%s", ckpt ? ckpt : "", ckpt ? ": " : "", accord_error_msg(&e));
		free(ext);
		return 1;
	}
	if (as_json) {
		json_t *j = json_pack("{s:s, s:b, s:I, s:I}", "data", data, "whole", r.ok,
				      "entries", (json_int_t)r.size,
				      "checkpoints", (json_int_t)r.checkpoints);

		if (!r.ok) {
			json_object_set_new(j, "why", json_string(r.why));
			json_object_set_new(j, "first_bad_sequence", r.bad_has_seq ?
					    json_integer((json_int_t)r.bad_seq) : json_null());
		}
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		report_print(data, &r, ext);
	}
	free(ext);
	return r.ok ? 0 : 1;
}

static int checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "partner", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data = NULL, *key = NULL, *partner = NULL, *out = NULL;
	char origin[AUDIT_NAME_MAX], *note = NULL;
	crypto_signer *s;
	struct cli_audit log;
	accord_error e = { 0 };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'k': key = optarg; break;
		case 'p': partner = optarg; break;
		case 'o': out = optarg; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit checkpoint", c, argv);
		}
	}
	if (cli_need("audit checkpoint", "--data DIR", data) ||
	    cli_need("audit checkpoint", "--key KEY", key) ||
	    cli_operands("audit checkpoint", argc, argv, 0, 0, NULL))
		return EXIT_USAGE;
	if (partner && audit_origin(partner, origin) != 0) {
		cli_error("partner id '%s' is malformed", partner);
		return EXIT_USAGE;
	}
	if (crypto_signer_load(key, &s, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	if (cli_audit_open(data, false, &log) != 0) {
		crypto_signer_close(s);
		return 1;
	}
	rc = audit_checkpoint(log.a, s, partner ? origin : NULL, &note, &e);
	if (rc == 0 && out)
		rc = fs_write_atomic(out, note, strlen(note), 0644, &e);
	cli_audit_close(&log);
	crypto_signer_close(s);
	if (rc != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	if (!out)
		fputs(note, stdout);
	free(note);
	return 0;
}

int cmd_audit(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} subs[] = {
		{ "verify", verify }, { "list", cmd_audit_list },
		{ "show", cmd_audit_show }, { "export", cmd_audit_export },
		{ "subject", cmd_audit_subject }, { "checkpoint", checkpoint },
		{ "prove", cmd_audit_prove }, { "check-proof", cmd_audit_check_proof },
		{ "append", cmd_audit_append },
	};

	if (argc < 2)
		return cli_usage("audit", "say which: verify, list, show, export, subject, "
				 "checkpoint, prove or check-proof");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_audit_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	return cli_usage("audit", "unknown command '%s'", argv[1]);
}
