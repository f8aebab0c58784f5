/* cmd_audit_prove.c - `accord audit prove|check-proof|append`.
 *
 * A proof file is JSON: {"index", "tree_size", "entry" (the packed entry,
 * hex), "inclusion_path" (base64 hashes), "checkpoint" (the signed note)}.
 * check-proof needs nothing but the file and the signer's public key. */
#include <getopt.h>

#include "accord/fs.h"
#include "cmd_audit.h"

#define PROOF_FILE_MAX (4 * AUDIT_ENTRY_MAX)

static json_t *proof_json(uint64_t seq, const audit_note *n, const uint8_t *bytes,
			  size_t len, const audit_proof *p, const char *note)
{
	char *hex = malloc(2 * len + 1);
	json_t *path = json_array(), *o;

	if (!hex)
		return NULL;
	crypto_hex(bytes, len, hex);
	for (size_t i = 0; i < p->n; i++) {
		char b64[CRYPTO_B64_LEN(AUDIT_HASH_LEN)];

		crypto_b64_encode(p->hash[i], AUDIT_HASH_LEN, b64);
		json_array_append_new(path, json_string(b64));
	}
	o = json_pack("{s:I, s:I, s:s, s:o, s:s}", "index", (json_int_t)seq,
		      "tree_size", (json_int_t)n->size, "entry", hex,
		      "inclusion_path", path, "checkpoint", note);
	free(hex);
	return o;
}

int cmd_audit_prove(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data = NULL, *out = NULL;
	struct cli_audit log;
	audit_record *r = NULL;
	audit_proof p;
	audit_note n;
	accord_error e = { 0 };
	char *note = NULL, *text = NULL;
	const uint8_t *bytes;
	size_t len;
	uint64_t seq;
	json_t *j = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'o': out = optarg; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit prove", c, argv);
		}
	}
	if (cli_need("audit prove", "--data DIR", data) ||
	    cli_operands("audit prove", argc, argv, 1, 1, "SEQ"))
		return EXIT_USAGE;
	if (cli_parse_seq(argv[optind], &seq) != 0)
		return EXIT_USAGE;
	if (cli_audit_open(data, true, &log) != 0)
		return 1;
	rc = audit_latest_checkpoint(log.a, &note, &e);
	if (rc == 0)
		rc = audit_note_parse(note, strlen(note), &n, &e);
	if (rc == 0 && seq >= n.size)
		rc = accord_fail(&e, ACCORD_ENOTFOUND, "entry %llu is newer than the latest "
				 "checkpoint (%llu entries): make a checkpoint first",
				 (unsigned long long)seq, (unsigned long long)n.size);
	if (rc == 0)
		rc = audit_read(log.a, seq, &r, &e);
	if (rc == 0)
		rc = audit_inclusion_proof(log.a, seq, n.size, &p, &e);
	if (rc == 0) {
		bytes = audit_record_bytes(r, &len);
		j = proof_json(seq, &n, bytes, len, &p, note);
		text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
		if (!text) {
			accord_fail(&e, ACCORD_ENOMEM, "out of memory");
			rc = ACCORD_ENOMEM;
		}
	}
	if (rc == 0 && text && out)
		rc = fs_write_atomic(out, text, strlen(text), 0644, &e);
	else if (rc == 0 && text)
		puts(text);
	free(text);
	json_decref(j);
	audit_record_free(r);
	free(note);
	cli_audit_close(&log);
	if (rc != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	return 0;
}

/* Check the proof in j against pub; a sentence in e when it fails. */
static int check(json_t *j, const uint8_t pub[CRYPTO_ED25519_PUB_LEN],
		 audit_record **rec, accord_error *e)
{
	json_int_t index, size;
	const char *hex, *note;
	json_t *path, *x;
	audit_note n;
	audit_proof p = { 0 };
	uint8_t *bytes, leaf[AUDIT_HASH_LEN];
	size_t len, i;
	int rc;

	if (json_unpack(j, "{s:I, s:I, s:s, s:o, s:s}", "index", &index, "tree_size",
			&size, "entry", &hex, "inclusion_path", &path, "checkpoint",
			&note) != 0 || !json_is_array(path) || index < 0 || size < 0 ||
	    json_array_size(path) > AUDIT_PROOF_MAX)
		return accord_fail(e, ACCORD_EPARSE, "not an audit proof file");
	rc = audit_note_verify(note, strlen(note), pub, &n, e);
	if (rc != 0)
		return rc;
	if (n.size != (uint64_t)size)
		return accord_fail(e, ACCORD_ETAMPER, "the proof's tree size %lld is not "
				   "the checkpoint's %llu", (long long)size,
				   (unsigned long long)n.size);
	json_array_foreach(path, i, x)
		if (!json_is_string(x) || crypto_b64_decode_exact(json_string_value(x),
								  p.hash[p.n++], AUDIT_HASH_LEN))
			return accord_fail(e, ACCORD_EPARSE, "inclusion path hash %zu is "
					   "not base64 of 32 bytes", i);
	bytes = malloc(AUDIT_ENTRY_MAX);
	if (!bytes)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	rc = crypto_hex_decode(hex, bytes, AUDIT_ENTRY_MAX, &len);
	if (rc == 0)
		rc = audit_record_parse(bytes, len, rec);
	if (rc != 0) {
		free(bytes);
		return accord_fail(e, ACCORD_EPARSE, "the proof's entry does not decode");
	}
	if (audit_leaf_hash(bytes, len, leaf) != 0) {
		free(bytes);
		audit_record_free(*rec);
		*rec = NULL;
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	free(bytes);
	if (audit_record_entry(*rec)->sequence != (uint64_t)index)
		return accord_fail(e, ACCORD_ETAMPER, "the entry says it is number %llu, "
				   "the proof says %lld",
				   (unsigned long long)audit_record_entry(*rec)->sequence,
				   (long long)index);
	if (!audit_inclusion_verify(leaf, (uint64_t)index, n.size, &p, n.root))
		return accord_fail(e, ACCORD_ETAMPER, "the inclusion proof does not lead "
				   "to the checkpoint's root: the entry is not in that log");
	return 0;
}

int cmd_audit_check_proof(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pub_arg = NULL;
	uint8_t pub[CRYPTO_ED25519_PUB_LEN];
	audit_record *r = NULL;
	accord_error e = { 0 };
	json_error_t je;
	json_t *j;
	char *buf;
	size_t len;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pub_arg = optarg; break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit check-proof", c, argv);
		}
	}
	if (cli_need("audit check-proof", "--pub KEY", pub_arg) ||
	    cli_operands("audit check-proof", argc, argv, 1, 1, "FILE"))
		return EXIT_USAGE;
	if (cli_load_pub(pub_arg, pub) != 0)
		return EXIT_USAGE;
	if (fs_read_file(argv[optind], PROOF_FILE_MAX, &buf, &len, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	rc = j ? check(j, pub, &r, &e) : accord_fail(&e, ACCORD_EPARSE, "line %d: %s",
						     je.line, je.text);
	json_decref(j);
	if (rc != 0) {
		cli_error("%s: %s", argv[optind], accord_error_msg(&e));
		audit_record_free(r);
		return 1;
	}
	printf("%s: entry %llu is in the log, as its signed checkpoint shows\n",
	       argv[optind], (unsigned long long)audit_record_entry(r)->sequence);
	audit_record_free(r);
	return 0;
}

/* Split "a,b,c" in place into at most max pointers. */
static size_t split_list(char *s, const char **out, size_t max)
{
	size_t n = 0;

	while (s && *s && n < max) {
		char *comma = strchr(s, ',');

		out[n++] = s;
		if (comma)
			*comma++ = '\0';
		s = comma;
	}
	return n;
}

int cmd_audit_append(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "event", required_argument, NULL, 'e' },
		{ "outcome", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "purpose", required_argument, NULL, 'P' },
		{ "rule", required_argument, NULL, 'r' },
		{ "record-type", required_argument, NULL, 'R' },
		{ "disclosed", required_argument, NULL, 'D' },
		{ "withheld", required_argument, NULL, 'W' },
		{ "given-name", required_argument, NULL, 'g' },
		{ "family-name", required_argument, NULL, 'F' },
		{ "birth-date", required_argument, NULL, 'b' },
		{ "actor", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'x' },
		{ "time-ms", required_argument, NULL, 'T' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data = NULL, *given = NULL, *family = NULL, *birth = NULL;
	const char *disclosed[AUDIT_PATHS_MAX], *withheld[AUDIT_PATHS_MAX];
	audit_entry en = { .event = AUDIT_DISCLOSED, .outcome = AUDIT_SUCCESS };
	uint64_t count = 1, seq = 0;
	struct cli_audit log;
	audit_batch *b = NULL;
	accord_error e = { 0 };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'e': en.event = audit_event_parse(optarg); break;
		case 'o': en.outcome = audit_outcome_parse(optarg); break;
		case 'f': en.from = optarg; break;
		case 't': en.to = optarg; break;
		case 'P': en.purpose = optarg; break;
		case 'r': en.rule_id = optarg; break;
		case 'R': en.record_type = optarg; break;
		case 'D': en.n_disclosed = split_list(optarg, disclosed, AUDIT_PATHS_MAX); break;
		case 'W': en.n_withheld = split_list(optarg, withheld, AUDIT_PATHS_MAX); break;
		case 'g': given = optarg; break;
		case 'F': family = optarg; break;
		case 'b': birth = optarg; break;
		case 'a': en.actor = optarg; break;
		case 'x': en.reason = optarg; break;
		case 'T': en.time_ms = strtoll(optarg, NULL, 10); break;
		case 'n':
			if (cli_parse_seq(optarg, &count) != 0)
				return EXIT_USAGE;
			if (count > AUDIT_BATCH_MAX)
				return cli_usage("audit append", "--count is at most %d, not %llu",
						 AUDIT_BATCH_MAX, (unsigned long long)count);
			break;
		case 'h': cli_audit_usage(stdout); return 0;
		default: return cli_bad_option("audit append", c, argv);
		}
	}
	if (cli_need("audit append", "--data DIR", data) ||
	    cli_operands("audit append", argc, argv, 0, 0, NULL))
		return EXIT_USAGE;
	if (en.event < 0 || en.outcome < 0)
		return cli_usage("audit append", "unknown %s", en.event < 0 ? "--event" : "--outcome");
	if (!given != !family || !given != !birth)
		return cli_usage("audit append", "--given-name, --family-name and --birth-date "
				 "go together");
	en.disclosed = disclosed;
	en.withheld = withheld;
	if (cli_audit_open(data, false, &log) != 0)
		return 1;
	rc = given ? audit_subject_pseudonym(log.a, given, family, birth, en.subject, &e) : 0;
	en.has_subject = given != NULL;
	if (rc == 0)
		rc = audit_batch_begin(log.a, &b, &e);
	for (uint64_t i = 0; rc == 0 && i < count; i++)
		rc = audit_batch_append(b, &en, &seq, &e);
	if (rc == 0)
		rc = audit_batch_commit(b, NULL, NULL, &e);
	else
		audit_batch_abort(b);
	cli_audit_close(&log);
	if (rc != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	printf("appended up to entry %llu\n", (unsigned long long)seq);
	return 0;
}
