/*
 * cmd_node.c - the commands that talk to a running node through its local
 * API: `accord status`, `send`, `inbox`, `outbox`. libcurl over the node's
 * Unix socket (CURLOPT_UNIX_SOCKET_PATH); the node answers JSON.
 */
#include <errno.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>

#include "accord/config.h"
#include "accord/fs.h"
#include "accord/node.h"
#include "accord/record.h"
#include "cmd.h"

#define REPLY_MAX ((size_t)16 << 20)

struct reply {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_data(char *d, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;
	char *grown;

	if (len > REPLY_MAX - r->len) {
		r->too_big = true;
		return 0;
	}
	grown = realloc(r->data, r->len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + r->len, d, len);
	grown[r->len + len] = '\0';
	r->data = grown;
	r->len += len;
	return len;
}

/*
 * Why the node at sock could not be reached, in words of the socket
 * rather than libcurl's (which speak of "localhost port 80").
 */
static void unreachable(CURL *h, CURLcode rc, const char *sock, const char *err)
{
	long os_errno = 0;
	struct stat st;

	if (rc == CURLE_COULDNT_CONNECT)
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	switch (os_errno) {
	case ENOENT:
		cli_error("no socket at %s: is accordd running, with this local_socket?", sock);
		break;
	case ECONNREFUSED:
		if (stat(sock, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			cli_error("%s is not a socket: is it the node's local_socket?", sock);
			break;
		}
		cli_error("nothing answers at %s: the socket is there but no node listens on it "
			  "(a node that stopped or was killed leaves it behind); start accordd",
			  sock);
		break;
	case EACCES:
		cli_error("not allowed to connect to %s: the socket is 0660, for the node's user "
			  "and its group", sock);
		break;
	default:
		cli_error("cannot reach the node at %s: %s (is accordd running?)", sock,
			  err[0] ? err : curl_easy_strerror(rc));
	}
}

/*
 * One request to the local API. Returns the HTTP status (and the parsed
 * JSON body in *doc, NULL if not JSON), or -1 after printing why the node
 * could not be reached.
 */
static long local_request(const char *sock, const char *method, const char *path,
			  const char *body, json_t **doc)
{
	CURL *h = curl_easy_init();
	struct reply r = { 0 };
	struct curl_slist *hdr = NULL;
	char url[512], err[CURL_ERROR_SIZE] = "";
	long status = -1;
	CURLcode rc;

	*doc = NULL;
	if (!h)
		return -1;
	snprintf(url, sizeof url, "http://localhost%s", path);
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		unreachable(h, rc, sock, err);
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (r.data)
			*doc = json_loadb(r.data, r.len, 0, NULL);
	}
	free(r.data);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return status;
}

/* --socket PATH, or --config FILE's local_socket, or $ACCORD_SOCKET. */
static int socket_path(const char *sock, const char *conf, char *out, size_t size)
{
	protocol_diags *d;
	config *cf;
	int rc;

	if (!sock && !conf)
		sock = getenv("ACCORD_SOCKET");
	if (sock)
		return fs_path(out, size, "%s", sock) == 0 ? 0 : EXIT_USAGE;
	if (!conf) {
		cli_error("say which node: --socket PATH, --config FILE, or set ACCORD_SOCKET");
		return EXIT_USAGE;
	}
	d = malloc(sizeof *d);
	cf = malloc(sizeof *cf);
	rc = d && cf ? config_load(conf, cf, d) : ACCORD_ENOMEM;
	if (rc != 0 && d)
		protocol_diags_print(d, stderr);
	if (rc == 0)
		rc = fs_path(out, size, "%s", cf->local_socket);
	free(d);
	free(cf);
	return rc == 0 ? 0 : 1;
}

/* The node's answer holds partners' text: it is printed with DEL and the
 * C1 and bidi controls as JSON escapes too (cli_json), so that a terminal
 * shows them. */
static void print_json(json_t *doc)
{
	const char *text = cli_json(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (text)
		puts(text);
	else
		cli_error("out of memory");
}

/* Print an error reply's reason; map the status to an exit code. */
static int finish(long status, json_t *doc, bool show)
{
	json_t *err = doc ? json_object_get(doc, "error") : NULL;
	int code;

	if (status < 0)
		code = 1;
	else if (status >= 200 && status < 300)
		code = 0;
	else
		code = status == 403 ? EXIT_REFUSED : 1;
	if (code != 0 && json_is_string(err))
		cli_error("the node refused (%ld): %s", status, json_string_value(err));
	else if (code != 0 && status > 0)
		cli_error("the node answered %ld", status);
	if (doc && (code == 0 || show))
		print_json(doc);
	json_decref(doc);
	return code;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: accord COMMAND [--socket PATH | --config FILE] ...\n\n"
		"  status                  the node's partner, protocol in force, queues\n"
		"  send --to P --purpose X --record-type T [--actor WHO] RECORD.json\n"
		"                          disclose a record to a partner; WHO (a case\n"
		"                          worker's name or id) goes into the audit\n"
		"  inbox list [--unacked] [--limit N] [--after ID]\n"
		"                          records partners sent to this node; --unacked:\n"
		"                          only those not acknowledged yet\n"
		"  inbox show ID | ack ID  one record; acknowledge it\n"
		"  outbox [--state S] [--limit N] [--after ID]\n"
		"                          deliveries pending, done and failing; --state:\n"
		"                          only pending, delivered, refused or paused ones\n\n"
		"Lists come a page at a time, oldest first: N items (default %d, at most\n"
		"%d) after the message id ID. When more remain, a last line on stderr\n"
		"gives the command for the next page.\n\n"
		"The node is found by --socket, by the local_socket of --config, or by\n"
		"$ACCORD_SOCKET. Exit status: 0 done, 1 failure, 2 usage error,\n"
		"3 refused by the protocol (the reason is printed).\n\n"
		"The node's JSON answer is printed with DEL and the C1 and bidi controls\n"
		"in partners' text written \\uNNNN, which a JSON reader reads as the same\n"
		"text, and a terminal shows instead of obeying.\n",
		NODE_PAGE_DEFAULT, NODE_PAGE_MAX);
}

/* Options every command takes; the rest stay in argv from optind. */
struct opts {
	const char *sock, *conf, *to, *purpose, *type, *actor;
	const char *limit, *after, *state;   /* the lists' page */
	bool unacked;
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "purpose", required_argument, NULL, 'p' },
		{ "record-type", required_argument, NULL, 'r' },
		{ "actor", required_argument, NULL, 'k' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'a' },
		{ "state", required_argument, NULL, 'S' },
		{ "unacked", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->sock = optarg; break;
		case 'c': o->conf = optarg; break;
		case 't': o->to = optarg; break;
		case 'p': o->purpose = optarg; break;
		case 'r': o->type = optarg; break;
		case 'k': o->actor = optarg; break;
		case 'l': o->limit = optarg; break;
		case 'a': o->after = optarg; break;
		case 'S': o->state = optarg; break;
		case 'u': o->unacked = true; break;
		case 'h': usage(stdout); return -1;
		default: return cli_bad_option(argv[0], c, argv);
		}
	}
	return 0;
}

static int send_record(const char *sock, const struct opts *o, const char *file)
{
	json_error_t jerr;
	json_t *record, *req, *doc;
	accord_error e = { 0 };
	char *text;
	size_t len;
	long status;

	/* As large a text as the node takes for a record, and no larger. */
	if (fs_read_file(file, RECORD_JSON_MAX_BYTES, &text, &len, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	record = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!record) {
		cli_error("%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
		return 1;
	}
	req = json_pack("{s:s, s:s, s:s, s:o, s:s?}", "to", o->to, "purpose", o->purpose,
			"record_type", o->type, "record", record, "actor", o->actor);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text) {
		cli_error("out of memory");
		return 1;
	}
	status = local_request(sock, "POST", "/v1/disclosures", text, &doc);
	free(text);
	return finish(status, doc, true);
}

/* Append " --NAME VALUE" to a command line for people to copy: VALUE in
 * single quotes unless it is made of characters the shell leaves alone. */
static void shell_opt(FILE *f, const char *name, const char *value)
{
	if (!value)
		return;
	fprintf(f, " --%s ", name);
	if (*value && strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			     "0123456789_./:=,+@%-") == strlen(value)) {
		fputs(value, f);
		return;
	}
	putc('\'', f);
	for (; *value; value++)
		*value == '\'' ? fputs("'\\''", f) : putc(*value, f);
	putc('\'', f);
}

/* Add "NAME=VALUE" (VALUE URL-escaped) to the query in q. */
static int query_add(CURL *h, char *q, size_t size, const char *name, const char *value)
{
	char *esc = value ? curl_easy_escape(h, value, 0) : NULL;
	size_t len = strlen(q);
	int n = 0;

	if (value && !esc)
		return -1;
	if (esc)
		n = snprintf(q + len, size - len, "%c%s=%s", strchr(q, '?') ? '&' : '?', name, esc);
	curl_free(esc);
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

/* `inbox list` or `outbox`: one page, and the command for the next. */
static int list_page(const char *sock, const struct opts *o, bool outbox)
{
	const char *cmd = outbox ? "outbox" : "inbox list";
	char path[512], next[64] = "";
	json_t *doc;
	long status;
	CURL *h;
	int rc;

	if (outbox ? o->unacked : o->state != NULL) {
		cli_error("%s takes %s", cmd, outbox ? "--state, not --unacked" :
			  "--unacked, not --state");
		return EXIT_USAGE;
	}
	h = curl_easy_init();
	if (!h) {
		cli_error("out of memory");
		return 1;
	}
	snprintf(path, sizeof path, "/v1/%s", outbox ? "outbox" : "inbox");
	rc = query_add(h, path, sizeof path, "state", o->state);
	if (rc == 0)
		rc = query_add(h, path, sizeof path, "unacked", o->unacked ? "true" : NULL);
	if (rc == 0)
		rc = query_add(h, path, sizeof path, "limit", o->limit);
	if (rc == 0)
		rc = query_add(h, path, sizeof path, "after", o->after);
	curl_easy_cleanup(h);
	if (rc != 0) {
		cli_error("the --state, --limit or --after given is too long");
		return EXIT_USAGE;
	}
	status = local_request(sock, "GET", path, NULL, &doc);
	if (status == 200 && json_is_string(json_object_get(doc, "next")))
		snprintf(next, sizeof next, "%s", json_string_value(json_object_get(doc, "next")));
	rc = finish(status, doc, true);
	if (rc == 0 && next[0]) {
		/* The page's JSON stays whole on stdout; the hint goes after it. */
		fflush(stdout);
		fprintf(stderr, "next page: accord %s", cmd);
		shell_opt(stderr, "socket", o->sock);
		shell_opt(stderr, "config", o->conf);
		shell_opt(stderr, "state", o->state);
		if (o->unacked)
			fputs(" --unacked", stderr);
		shell_opt(stderr, "limit", o->limit);
		shell_opt(stderr, "after", next);
		putc('\n', stderr);
	}
	return rc;
}

/*
 * The words after the options, checked before the node is looked for:
 * for inbox, the inbox command (*what; optind then points past it, at
 * the item id of show and ack), else "".
 */
static int check_operands(const char *cmd, int argc, char **argv, const struct opts *o,
			  const char **what)
{
	const char *sub = optind < argc ? argv[optind] : NULL;

	*what = "";
	if (strcmp(cmd, "send") == 0) {
		if (cli_need("send", "--to P", o->to) ||
		    cli_need("send", "--purpose X", o->purpose) ||
		    cli_need("send", "--record-type T", o->type))
			return EXIT_USAGE;
		return cli_operands("send", argc, argv, 1, 1, "RECORD.json");
	}
	if (strcmp(cmd, "inbox") != 0)
		return cli_operands(cmd, argc, argv, 0, 0, NULL);
	if (!sub)
		return cli_usage("inbox", "say which: list, show ID or ack ID");
	optind++;
	*what = sub;
	if (strcmp(sub, "list") == 0)
		return cli_operands("inbox list", argc, argv, 0, 0, NULL);
	if (strcmp(sub, "show") != 0 && strcmp(sub, "ack") != 0)
		return cli_usage("inbox", "unknown command '%s': say list, show ID or ack ID",
				 sub);
	return cli_operands(strcmp(sub, "show") == 0 ? "inbox show" : "inbox ack", argc, argv,
			    1, 1, "ID");
}

int cmd_node(int argc, char **argv)
{
	struct opts o = { 0 };
	char sock[1024], path[512];
	const char *cmd = argv[0], *what, *id;
	json_t *doc;
	long status;
	bool ack;
	int rc = parse(argc, argv, &o);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	rc = check_operands(cmd, argc, argv, &o, &what);
	if (rc == 0)
		rc = socket_path(o.sock, o.conf, sock, sizeof sock);
	if (rc != 0)
		return rc;
	if (strcmp(cmd, "send") == 0)
		return send_record(sock, &o, argv[optind]);
	if (strcmp(cmd, "status") == 0) {
		status = local_request(sock, "GET", "/v1/status", NULL, &doc);
		return finish(status, doc, true);
	}
	if (strcmp(cmd, "outbox") == 0 || strcmp(what, "list") == 0)
		return list_page(sock, &o, strcmp(cmd, "outbox") == 0);
	id = argv[optind];
	ack = strcmp(what, "ack") == 0;
	if (strspn(id, "0123456789abcdefABCDEF-") != strlen(id) ||
	    fs_path(path, sizeof path, "/v1/inbox/%s%s", id, ack ? "/ack" : "")) {
		cli_error("'%s' is not an inbox item id", id);
		return EXIT_USAGE;
	}
	status = local_request(sock, ack ? "POST" : "GET", path, ack ? "" : NULL, &doc);
	return finish(status, doc, true);
}
