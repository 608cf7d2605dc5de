/*
 * test_preview: mr_preview_get over a temp store: the refusals decided
 * before any connection (disabled, malformed, a blacklisted URL, an IP
 * literal in the deny list), and a page from a loopback server (127.0.0.1,
 * allowed by the whitelist) turned into OpenGraph and then answered from the
 * store's cache once the server is gone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "fixture_store.h"

#include "../../common/preview.h"

#define PAGE "<html><head><title>Hello page</title>" \
	"<meta property=\"og:description\" content=\"from the loopback\">" \
	"</head><body></body></html>"

/* The preview state is made once per process, so one config for all. */
static void
preview_config(struct mr_config *cfg, const char *dir)
{
	cfg->url_preview_enabled = 1;
	snprintf(cfg->url_preview_ip_range_blacklist,
	    sizeof(cfg->url_preview_ip_range_blacklist),
	    "127.0.0.0/8, 10.0.0.0/8, ::1/128");
	snprintf(cfg->url_preview_ip_range_whitelist,
	    sizeof(cfg->url_preview_ip_range_whitelist), "127.0.0.1/32");
	snprintf(cfg->url_preview_url_blacklist,
	    sizeof(cfg->url_preview_url_blacklist), "host=*.blocked.example");
	cfg->url_preview_timeout = 5000;
	snprintf(cfg->runtime_dir, sizeof(cfg->runtime_dir), "%.*s",
	    PATH_MAX - 1, dir);
}

/* A context over the fixture's store and blobs, as a program has one. */
static void
ctx_of(struct fixture_media *fx, struct mr_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	preview_config(&fx->cfg, fx->dir);
	ctx->cfg = fx->cfg;
	ctx->store = fx->st;
	ctx->blob = fx->blob;
	ctx->name = "preview_url";
	ctx->procs = 1;
	ctx->wait_slots = 1;
}

static int
get(struct mr_ctx *ctx, const char *url, char **json, struct mr_err *err)
{
	struct mr_user user = { "@alice:example.org", 0 };

	mr_err_clear(err);
	*json = NULL;
	if (mr_preview_get(ctx, &user, url, 0, json, err) == 0)
		return 0;
	assert_null(*json);
	return err->status;
}

static void
test_refused_before_connecting(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_ctx ctx;
	struct mr_err err;
	char *json;

	ctx_of(fx, &ctx);
	assert_int_equal(get(&ctx, "ftp://example.org/", &json, &err), 400);
	assert_int_equal(get(&ctx, "not a url", &json, &err), 400);
	assert_int_equal(get(&ctx, "https://www.blocked.example/a", &json,
	    &err), 403);
	assert_non_null(strstr(err.msg, "url_preview_url_blacklist"));
	assert_int_equal(get(&ctx, "http://10.1.2.3/", &json, &err), 403);
	assert_non_null(strstr(err.msg, "ip_range_blacklist"));
	ctx.cfg.url_preview_enabled = 0;
	assert_int_equal(get(&ctx, "https://example.org/", &json, &err), 404);
	assert_string_equal(err.errcode, "M_UNRECOGNIZED");
}

/*
 * Serves PAGE to one connection on 127.0.0.1, in a child that gives up
 * after 30 s if nobody comes; returns its pid, the port in *port.
 */
static pid_t
serve_page_once(int *port)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), c;
	char req[4096], resp[1024];
	pid_t pid;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	if ((pid = fork()) != 0) {
		assert_true(pid > 0);
		close(fd);
		return pid;
	}
	alarm(30);
	if ((c = accept(fd, NULL, NULL)) >= 0) {
		/* One read holds a client's small GET. */
		if (read(c, req, sizeof(req)) > 0) {
			int n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/html; charset=utf-8\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    strlen(PAGE), PAGE);

			if (write(c, resp, (size_t)n) != n)
				_exit(1);
		}
		close(c);
	}
	_exit(0);
}

static void
test_page_then_cache(void **state)
{
	struct fixture_media *fx = *state;
	char url[64], *json;
	struct mr_ctx ctx;
	struct mr_err err;
	cJSON *o;
	int port, status;
	pid_t pid = serve_page_once(&port);

	ctx_of(fx, &ctx);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/page", port);
	assert_int_equal(get(&ctx, url, &json, &err), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	o = cJSON_Parse(json);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "og:title")->valuestring,
	    "Hello page");
	assert_string_equal(cJSON_GetObjectItem(o,
	    "og:description")->valuestring, "from the loopback");
	cJSON_Delete(o);
	free(json);
	/* The server is gone: the same URL comes from the cache. */
	assert_int_equal(get(&ctx, url, &json, &err), 0);
	assert_non_null(strstr(json, "Hello page"));
	free(json);
	/* Another path is not cached and finds nobody listening. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/other", port);
	assert_int_equal(get(&ctx, url, &json, &err), 502);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_MEDIA_TEST(test_refused_before_connecting),
		FIXTURE_MEDIA_TEST(test_page_then_cache),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
