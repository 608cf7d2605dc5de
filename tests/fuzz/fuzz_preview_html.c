/*
 * fuzz_preview_html: libFuzzer target for the HTML to OpenGraph extractor,
 * which reads any web page a user links. The first byte picks a
 * Content-Type from a small table (bit 7 also runs the URL helpers on the
 * same bytes); the rest is the page. Besides memory errors it checks the
 * contract: an object of at most MR_PREVIEW_KEYS_MAX valid keys, string
 * values valid UTF-8 within their bound, URL keys http(s) or data:, and
 * errors only as 502 "cannot parse html".
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *     $(pkg-config --cflags libxml-2.0) -o fuzz_preview_html \
 *     tests/fuzz/fuzz_preview_html.c common/preview_charset.c \
 *     common/preview_html.c common/preview_resolve.c common/util.c \
 *     $(pkg-config --libs libxml-2.0) -lcjson -lsodium
 * ./fuzz_preview_html tests/fuzz/corpus/preview_html
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/preview_html.h"
#include "../../common/preview_resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = { NULL, "text/html",
    "text/html; charset=utf-8", "text/html; charset=windows-1251",
    "text/html; charset=utf-16", "text/html; charset=iso-8859-1",
    "text/html; charset=shift_jis", "text/html; charset=\"bogus\"" };

static void
check_value(const cJSON *it)
{
	const char *s = it->valuestring;
	size_t n = strlen(s);
	int url = strcmp(it->string, "og:image") == 0 ||
	    strcmp(it->string, "og:url") == 0;

	if (n == 0 || !mr_utf8_valid(s, n) || s[0] == ' ' || s[n - 1] == ' ')
		abort();
	if (strncmp(s, "data:", 5) == 0) {
		if (n > MR_PREVIEW_DATA_URL_MAX || strcmp(it->string,
		    "og:url") == 0)
			abort();
	} else if (n > MR_PREVIEW_VALUE_MAX || (url && strncmp(s, "http://",
	    7) != 0 && strncmp(s, "https://", 8) != 0)) {
		abort();
	}
}

static void
check(const cJSON *j)
{
	const cJSON *it;
	int n = 0;

	if (!cJSON_IsObject(j))
		abort();
	cJSON_ArrayForEach(it, j) {
		if (++n > MR_PREVIEW_KEYS_MAX || strlen(it->string) >
		    MR_PREVIEW_KEY_MAX || strspn(it->string,
		    "abcdefghijklmnopqrstuvwxyz0123456789:_.-") !=
		    strlen(it->string))
			abort();
		if (cJSON_IsString(it))
			check_value(it);
		else if (!cJSON_IsNumber(it) || it->valuedouble < 1)
			abort();
	}
}

/* The bytes as a NUL-terminated reference and as a data: URL. */
static void
url_helpers(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 6), out[512], mt[64];
	unsigned char *bin;
	size_t binlen;
	struct mr_err err;

	if (s == NULL)
		return;
	memcpy(s, "data:", 5);
	memcpy(s + 5, data, size);
	s[size + 5] = '\0';
	if (mr_preview_resolve_url("https://example.com/a/b;p?q", s + 5, out,
	    sizeof(out)) == 0 && strncmp(out, "http", 4) != 0)
		abort();
	if (mr_preview_decode_data_url(s, 4096, &bin, &binlen, mt,
	    sizeof(mt), &err) == 0) {
		if (binlen > 4096)
			abort();
		free(bin);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_err err;
	const char *ct;
	cJSON *j;

	if (size < 1)
		return 0;
	ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	if (data[0] & 0x80)
		url_helpers(data + 1, size - 1);
	j = mr_preview_html_extract((const char *)data + 1, size - 1, ct,
	    "https://example.com/dir/page.html", &err);
	if (j == NULL) {
		if (err.status != 502 || strcmp(err.msg, "cannot parse html")
		    != 0)
			abort();
		return 0;
	}
	check(j);
	cJSON_Delete(j);
	return 0;
}
