/* cli.c - helpers the command groups share. */
#include <getopt.h>
#include <jansson.h>

#include "accord/record.h"
#include "cmd.h"

/* The buffers cli_text and cli_json take turns to write into, as git's
 * oid_to_hex does: a few results stay valid at once, for one printf. */
static struct text_slot {
	char *buf;
	size_t cap;
} slots[CLI_TEXT_SLOTS];
static size_t next_slot;

static const char *escape_into_slot(const char *s, size_t n,
				    size_t (*escape)(const char *, size_t, char *, size_t))
{
	struct text_slot *t = &slots[next_slot++ % CLI_TEXT_SLOTS];
	size_t need = escape(s, n, NULL, 0);

	if (need >= t->cap) {
		char *grown = realloc(t->buf, need + 1);

		if (!grown) {
			fputs("accord: out of memory\n", stderr);
			exit(1);
		}
		t->buf = grown;
		t->cap = need + 1;
	}
	escape(s, n, t->buf, t->cap);
	return t->buf;
}

const char *cli_textn(const char *s, size_t n)
{
	return escape_into_slot(s, n, record_term_escape);
}

const char *cli_text(const char *s)
{
	return s ? cli_textn(s, strlen(s)) : NULL;
}

const char *cli_json(const json_t *j, size_t flags)
{
	char *dumped = json_dumps(j, flags);
	const char *shown = dumped ? escape_into_slot(dumped, strlen(dumped),
						      record_term_escape_json) : NULL;

	free(dumped);
	return shown;
}

/* "accord: message", escaped as cli_text does; for a usage error of cmd,
 * "accord: cmd: message" and where the usage is told: 'accord audit
 * --help' for "audit list", the group's first word. */
static void say(const char *cmd, const char *fmt, va_list ap) ACCORD_PRINTF(2, 0);
static void say(const char *cmd, const char *fmt, va_list ap)
{
	char *msg;
	int n = vasprintf(&msg, fmt, ap);

	if (n < 0) {
		fputs("accord: out of memory\n", stderr);
		return;
	}
	if (cmd)
		fprintf(stderr, "accord: %s: %s\n(see 'accord %.*s --help')\n", cmd,
			cli_textn(msg, (size_t)n), (int)strcspn(cmd, " "), cmd);
	else
		fprintf(stderr, "accord: %s\n", cli_textn(msg, (size_t)n));
	free(msg);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(NULL, fmt, ap);
	va_end(ap);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(cmd, fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	const char *as_given = argv[optind - 1];

	/* A long option is named as given; a short one by its letter, since
	 * optind moves past a cluster ("-jx") only at its end. */
	if (strncmp(as_given, "--", 2) != 0)
		return c == ':' ? cli_usage(cmd, "-%c needs a value", optopt)
				: cli_usage(cmd, "unknown option -%c", optopt);
	if (c == ':')
		return cli_usage(cmd, "%s needs a value", as_given);
	return cli_usage(cmd, "unknown option '%s'", as_given);
}

int cli_operands(const char *cmd, int argc, char **argv, int min, int max,
		 const char *what)
{
	int got = argc - optind;

	if (got > max)
		return max == 0 ? cli_usage(cmd, "unexpected argument '%s'", argv[optind])
				: cli_usage(cmd, "unexpected argument '%s' after %s",
					    argv[optind + max], what);
	if (got < min)
		return got == 0 ? cli_usage(cmd, "needs %s", what)
				: cli_usage(cmd, "needs %s: %d of %d given", what, got, min);
	return 0;
}

int cli_load_protocol(const char *path, protocol **out)
{
	protocol_diags *d = malloc(sizeof *d);
	int rc;

	if (!d) {
		cli_error("out of memory");
		return 1;
	}
	rc = protocol_load(path, out, d);
	if (rc != 0)
		protocol_diags_print(d, stderr);
	free(d);
	return rc != 0;
}

int cli_load_sigs(const protocol *p, const char *path, protocol_sigs **out)
{
	protocol_diags *d = malloc(sizeof *d);
	int rc;

	if (!d) {
		cli_error("out of memory");
		return 1;
	}
	rc = protocol_sigs_load(p, path, out, d);
	if (rc != 0)
		protocol_diags_print(d, stderr);
	free(d);
	return rc != 0;
}

int cli_parse_date(const char *s, accord_date *out)
{
	if (date_parse(s, out) != 0) {
		cli_error("'%s' is not a date: write YYYY-MM-DD", s);
		return EXIT_USAGE;
	}
	return 0;
}

const char *cli_sig_state_name(protocol_sig_state s)
{
	switch (s) {
	case PROTOCOL_SIG_SIGNED: return "signed";
	case PROTOCOL_SIG_BAD: return "bad signature";
	case PROTOCOL_SIG_MISSING: break;
	}
	return "missing";
}
