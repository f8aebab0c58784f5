/* cmd_protocol_show.c - `accord protocol show` (placeholder until written). */
#include "cmd.h"

int cmd_protocol_show(int argc, char **argv)
{
	cli_error("protocol show: not built yet");
	return 1;
}
