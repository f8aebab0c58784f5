/* accord.c - the command dispatcher: `accord COMMAND [ARGS]`. */
#include <getopt.h>

#include "cmd.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "keygen", cmd_keygen, "make a partner's signing key and TLS identity" },
	{ "protocol", cmd_protocol, "verify, show, sign, diff the sharing protocol" },
	{ "send", cmd_node, "disclose a record to a partner through the node" },
	{ "inbox", cmd_node, "list, show, acknowledge records partners sent" },
	{ "outbox", cmd_node, "deliveries pending, done and failing" },
	{ "status", cmd_node, "the node's protocol and queues" },
	{ "audit", cmd_audit, "verify, list, show, export, prove the audit log" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: accord COMMAND [ARGS...]\n\n"
		"Accord enforces a signed information-sharing protocol between\n"
		"partner agencies. Commands:\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'accord COMMAND --help' describes each. Exit status: 0 success,\n"
		"1 failure, 2 usage error, 3 refused by the protocol.\n");
}

int main(int argc, char **argv)
{
	opterr = 0;   /* each command says what getopt_long found (cli_bad_option) */
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("accord 0.1\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	cli_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
