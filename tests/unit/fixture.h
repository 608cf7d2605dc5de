/*
 * fixture.h: reads test fixtures from tests/fixtures/SUBDIR, found next to
 * the test's source (so any working directory works), from the top of the
 * tree or from tests/unit, or from the directory in the environment
 * variable env when set. Include after cmocka.h; the bytes are malloc'ed
 * and NUL-terminated (the caller frees them).
 */
#ifndef MR_TEST_FIXTURE_H
#define MR_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *
fixture_try(const char *dir, const char *name, size_t *len)
{
	char path[1200];
	unsigned char *b;
	FILE *f;
	long n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (b = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = '\0';
	fclose(f);
	return b;
}

/* source is the test's __FILE__; subdir e.g. "image"; env may be NULL. */
static unsigned char *
fixture_find(const char *source, const char *subdir, const char *env,
    const char *name, size_t *len)
{
	const char *dir = env ? getenv(env) : NULL, *slash;
	char path[1024];
	unsigned char *b = NULL;

	if (dir != NULL && *dir != '\0')
		b = fixture_try(dir, name, len);
	if (b == NULL && (slash = strrchr(source, '/')) != NULL &&
	    (size_t)snprintf(path, sizeof(path), "%.*s/../fixtures/%s",
	    (int)(slash - source), source, subdir) < sizeof(path))
		b = fixture_try(path, name, len);
	if (b == NULL && (size_t)snprintf(path, sizeof(path),
	    "tests/fixtures/%s", subdir) < sizeof(path))
		b = fixture_try(path, name, len);
	if (b == NULL && (size_t)snprintf(path, sizeof(path),
	    "../fixtures/%s", subdir) < sizeof(path))
		b = fixture_try(path, name, len);
	if (b == NULL)
		fail_msg("fixture '%s/%s' not found%s%s", subdir, name,
		    env ? " (set " : "", env ? env : "");
	return b;
}

#endif
