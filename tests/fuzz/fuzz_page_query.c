/* fuzz_page_query.c - libFuzzer target: the query string of the local
 * API's GET /v1/outbox and GET /v1/inbox, as local_page_query reads it.
 * The first byte chooses the list; the rest is the query. */
#include "accord/local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query, why[200] = "";
	node_page pg;
	bool outbox;

	if (size == 0 || size > 4096)
		return 0;
	outbox = data[0] & 1;
	query = malloc(size);
	if (!query)
		return 0;
	memcpy(query, data + 1, size - 1);
	query[size - 1] = '\0';
	if (local_page_query(query, outbox, &pg, why, sizeof why) != 0) {
		if (!why[0])
			__builtin_trap(); /* every refusal must say why */
	} else if (pg.limit < 1 || pg.limit > NODE_PAGE_MAX || (outbox && pg.unacked) ||
		   (!outbox && pg.state != 0) || pg.state < 0 || pg.state > 4) {
		__builtin_trap();
	}
	free(query);
	return 0;
}
