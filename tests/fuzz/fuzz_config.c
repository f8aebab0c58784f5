/* fuzz_config.c - libFuzzer target: the node's configuration file. */
#include "accord/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static protocol_diags d;
	config cf;
	int rc = config_parse("fuzz.yaml", "/etc/accord", data, size, &cf, &d);

	if (rc != 0 && d.count == 0)
		__builtin_trap(); /* every refusal must say why */
	if (rc == 0) {
		/* A configuration taken has every required value, in range. */
		if (!cf.partner[0] || !cf.protocol[0] || !cf.data_dir[0] || !cf.listen_host[0] ||
		    cf.listen_port < 1 || cf.listen_port > 65535 || !cf.local_socket[0] ||
		    cf.retry_initial_ms < 10 || cf.max_body_bytes < 1024)
			__builtin_trap();
	}
	return 0;
}
