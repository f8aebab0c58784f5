/* cmd_protocol.c - `accord protocol verify|sign|show|diff|dry-run`. */
#include <getopt.h>
#include <jansson.h>

#include "accord/crypto.h"
#include "accord/fs.h"
#include "cmd.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: accord protocol COMMAND ...\n\n"
		"  verify FILE... [--at DATE] [--json]\n"
		"        check each protocol file and its signatures; exit 0 only when\n"
		"        every one is in force on DATE (default: today, UTC)\n"
		"  sign FILE --partner ID --key KEY\n"
		"        add or replace ID's signature in FILE.sig\n"
		"  show FILE [--at DATE] [--json]\n"
		"        the protocol as a review meeting reads it\n"
		"  diff OLD NEW [--json]\n"
		"        what an amendment changes, in the protocol's own terms\n"
		"  dry-run FILE --from P --to Q --purpose X --record-type T [--at DATE]\n"
		"          [--case STATE] RECORD.json\n"
		"        what a rule would disclose of a record; exit 3 when refused\n");
}

static json_t *verify_json(const char *path, const protocol *p, const protocol_sigs *s,
			   accord_date day, int rc, const accord_error *e)
{
	char digest[2 * CRYPTO_SHA256_LEN + 1], a[11], b[11], t[11];
	json_t *o, *parts = json_array(), *strangers = json_array();

	crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, digest);
	date_format(protocol_effective_from(p), a);
	date_format(protocol_review_by(p), b);
	date_format(day, t);
	bool ok = parts && strangers;

	for (size_t i = 0; ok && i < s->n_partners; i++)
		ok = json_array_append_new(parts, json_pack("{s:s, s:s}",
			"id", protocol_partner_at(p, i)->id,
			"status", cli_sig_state_name(s->state[i]))) == 0;
	for (size_t i = 0; ok && i < s->n_strangers; i++)
		ok = json_array_append_new(strangers, json_pack("{s:s, s:i}",
			"id", s->strangers[i].id, "line", s->strangers[i].line)) == 0;
	if (!ok) {
		json_decref(parts);
		json_decref(strangers);
		return NULL;
	}
	/* "o" steals parts and strangers, on failure too. */
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:b, s:s?}",
		      "file", path, "protocol", protocol_id(p),
		      "version", (json_int_t)protocol_version(p),
		      "digest", digest, "effective_from", a, "review_by", b, "at", t,
		      "days_to_review", (json_int_t)(protocol_review_by(p) - day),
		      "partners", parts, "non_partner_lines", strangers,
		      "in_force", rc == 0, "reason", rc ? accord_error_msg(e) : NULL);
	return o;
}

static void verify_print(const char *path, const protocol *p, const protocol_sigs *s,
			 accord_date day, int rc, const accord_error *e)
{
	char digest[2 * CRYPTO_SHA256_LEN + 1], a[11], b[11], t[11];
	long left = (long)protocol_review_by(p) - day;

	crypto_hex(protocol_digest(p), CRYPTO_SHA256_LEN, digest);
	date_format(protocol_effective_from(p), a);
	date_format(protocol_review_by(p), b);
	date_format(day, t);
	printf("%s: protocol %s version %ld\n", path, protocol_id(p), protocol_version(p));
	printf("  digest     sha256:%s\n", digest);
	printf("  effective  %s to %s", a, b);
	if (left >= 0)
		printf(" (review due in %ld day%s)\n", left, left == 1 ? "" : "s");
	else
		printf(" (review overdue by %ld day%s)\n", -left, left == -1 ? "" : "s");
	for (size_t i = 0; i < s->n_partners; i++)
		printf("  %-24s %s\n", protocol_partner_at(p, i)->id,
		       cli_sig_state_name(s->state[i]));
	for (size_t i = 0; i < s->n_strangers; i++)
		printf("  line %d of the signature file is from '%s', which is not a "
		       "partner: ignored\n", s->strangers[i].line, s->strangers[i].id);
	if (rc == 0)
		printf("  IN FORCE on %s\n", t);
	else
		printf("  NOT IN FORCE on %s: %s\n", t, accord_error_msg(e));
}

static int verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	accord_date day = date_today();
	bool as_json = false;
	json_t *all;
	int c, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (cli_parse_date(optarg, &day) != 0)
				return EXIT_USAGE;
			break;
		case 'j': as_json = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_bad_option("protocol verify", c, argv);
		}
	}
	if (optind == argc)
		return cli_usage("protocol verify", "needs FILE, the protocol to verify");
	all = json_array();
	for (int i = optind; i < argc; i++) {
		protocol *p;
		protocol_sigs *s;
		accord_error e = { 0 };
		int rc;

		if (cli_load_protocol(argv[i], &p) != 0) {
			status = 1;
			continue;
		}
		if (cli_load_sigs(p, argv[i], &s) != 0) {
			protocol_close(p);
			status = 1;
			continue;
		}
		rc = protocol_in_force(p, s, day, &e);
		if (rc != 0)
			status = 1;
		if (as_json &&
		    (!all || json_array_append_new(all, verify_json(argv[i], p, s, day, rc, &e)) != 0)) {
			cli_error("out of memory");
			status = 1;
		} else if (!as_json)
			verify_print(argv[i], p, s, day, rc, &e);
		protocol_sigs_free(s);
		protocol_close(p);
	}
	if (as_json && all) {
		json_dumpf(argc - optind == 1 && json_array_size(all) == 1 ?
			   json_array_get(all, 0) : all, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(all);
	return status;
}

static int sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "partner", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *partner = NULL, *key = NULL;
	char sig_path[4096];
	crypto_signer *signer;
	accord_error e = { 0 };
	protocol *p;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': partner = optarg; break;
		case 'k': key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: return cli_bad_option("protocol sign", c, argv);
		}
	}
	if (cli_need("protocol sign", "--partner ID", partner) ||
	    cli_need("protocol sign", "--key KEY", key) ||
	    cli_operands("protocol sign", argc, argv, 1, 1, "FILE"))
		return EXIT_USAGE;
	if (fs_path(sig_path, sizeof sig_path, "%s.sig", argv[optind]) != 0) {
		cli_error("%s: path too long", argv[optind]);
		return 1;
	}
	if (cli_load_protocol(argv[optind], &p) != 0)
		return 1;
	if (crypto_signer_load(key, &signer, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		protocol_close(p);
		return 1;
	}
	rc = protocol_sign(p, partner, signer, sig_path, &e);
	if (rc != 0)
		cli_error("%s: %s", argv[optind], accord_error_msg(&e));
	else
		printf("%s: signed as '%s' in %s\n", argv[optind], partner, sig_path);
	crypto_signer_close(signer);
	protocol_close(p);
	return rc != 0;
}

int cmd_protocol(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("protocol", "say which: verify, show, sign, diff or dry-run");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "verify") == 0)
		return verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cmd_protocol_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "diff") == 0)
		return cmd_protocol_diff(argc - 1, argv + 1);
	if (strcmp(argv[1], "dry-run") == 0)
		return cmd_protocol_dryrun(argc - 1, argv + 1);
	return cli_usage("protocol", "unknown command '%s'", argv[1]);
}
