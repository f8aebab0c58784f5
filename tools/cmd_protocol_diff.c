/* cmd_protocol_diff.c - `accord protocol diff` (placeholder until written). */
#include "cmd.h"

int cmd_protocol_diff(int argc, char **argv)
{
	cli_error("protocol diff: not built yet");
	return 1;
}
