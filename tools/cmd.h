/*
 * cmd.h - the accord command line: one function per command group, and the
 * few helpers they share. Commands print for people on stdout, problems on
 * stderr, and return the process exit status:
 *   0 success, 1 failure (or "not in force"), 2 usage error, 3 refused.
 */
#ifndef ACCORD_CMD_H
#define ACCORD_CMD_H

#include "accord/date.h"
#include "accord/error.h"
#include "accord/protocol.h"

#define EXIT_USAGE 2
#define EXIT_REFUSED 3

int cmd_keygen(int argc, char **argv);
int cmd_protocol(int argc, char **argv);
/* status, send, inbox, outbox: the local API of a running node. */
int cmd_node(int argc, char **argv);
int cmd_audit(int argc, char **argv);

/* Subcommands of `accord protocol`, each given argv from its own name. */
int cmd_protocol_show(int argc, char **argv);
int cmd_protocol_diff(int argc, char **argv);
int cmd_protocol_dryrun(int argc, char **argv);

/* Load and validate a protocol file; on failure print every diagnostic to
 * stderr and return 1, else 0. */
int cli_load_protocol(const char *path, protocol **out);

/* Load the signatures beside path; diagnostics printed on failure. */
int cli_load_sigs(const protocol *p, const char *path, protocol_sigs **out);

/* Parse --at's value; prints an error and returns EXIT_USAGE when bad. */
int cli_parse_date(const char *s, accord_date *out);

/*
 * Text from outside (partners, the audit log, a protocol file) as a
 * terminal may be shown it: escaped with record_term_escape (record.h),
 * so that ESC is "\x1b", U+202E is "\u202e" and a backslash "\\". For
 * the views people read; --json and export keep the text as it is. The
 * result is valid until CLI_TEXT_SLOTS more calls of cli_text, cli_textn
 * and cli_json, so one printf may show that many. NULL for NULL; out of
 * memory, it says so and exits.
 */
#define CLI_TEXT_SLOTS 8
const char *cli_text(const char *s);
const char *cli_textn(const char *s, size_t n);

/* j as json_dumps writes it with flags, escaped with
 * record_term_escape_json: the same JSON to a program. As cli_text, but
 * NULL when json_dumps fails. */
typedef struct json_t json_t;
const char *cli_json(const json_t *j, size_t flags);

/* Print "accord: " + message to stderr, the message escaped as cli_text
 * does (give it text as it is, not from cli_text). */
void cli_error(const char *fmt, ...) ACCORD_PRINTF(1, 2);

/*
 * Usage errors. cli_usage says what is wrong with the words given to
 * cmd (the command as typed after "accord", such as "audit list") and
 * where its usage is told, and returns EXIT_USAGE:
 *
 *   accord: audit list: --data DIR is required
 *   (see 'accord audit --help')
 */
int cli_usage(const char *cmd, const char *fmt, ...) ACCORD_PRINTF(2, 3);

/*
 * getopt_long's complaint, said by cli_usage: c is what it returned for
 * an unknown option ('?') or one that lacks its value (':'; the option
 * string must start with ':', and opterr be 0, so that getopt says
 * nothing itself).
 */
int cli_bad_option(const char *cmd, int c, char **argv);

/*
 * An option cmd requires, named as its usage writes it ("--data DIR"):
 * 0 when given (value not NULL), else cli_usage's "NAME is required".
 * Inline, so that a static analyser sees value checked.
 */
static inline int cli_need(const char *cmd, const char *name, const void *value)
{
	if (value)
		return 0;
	(void)cli_usage(cmd, "%s is required", name);
	return EXIT_USAGE;
}

/*
 * The operands getopt_long left (from optind): from min to max of them,
 * which the usage calls what ("FILE", "OLD NEW"). 0, or cli_usage's
 * EXIT_USAGE naming the missing or the first extra one.
 */
int cli_operands(const char *cmd, int argc, char **argv, int min, int max,
		 const char *what);

/* Human words for a signature state: "signed", "missing", "bad signature". */
const char *cli_sig_state_name(protocol_sig_state s);

#endif
