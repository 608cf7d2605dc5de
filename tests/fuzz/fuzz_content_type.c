/*
 * fuzz_content_type: libFuzzer target for the header values a client or a
 * remote server sends and we judge or echo: Content-Type (the media-type
 * parser, the stored-type check, the inline decision) and
 * Content-Disposition (the filename reader and the writer). Besides memory
 * errors it checks the contracts: the inline decision needs one media type
 * and follows it into the disposition; a stored type is printable, within
 * its bound and a fixed point of the check; a filename read is one the
 * writer turns into a header that reads back as the same name.
 *
 * Built by make fuzz / make fuzz-replay (sources: FUZZ_content_type).
 * ./fuzz_content_type tests/fuzz/corpus/content_type
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/header.h"
#include "../../common/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_media_type(const char *v)
{
	char essence[MR_CONTENT_TYPE_MAX + 1];
	char disp[64];
	size_t n;

	if (mr_header_media_type(v, essence, sizeof(essence)) == 0) {
		/* The essence is the value's own type/subtype, lowercased. */
		n = strlen(essence);
		if (n == 0 || strchr(essence, '/') == NULL ||
		    strncasecmp(essence, v, n) != 0 ||
		    (v[n] != '\0' && v[n] != ';' && v[n] != ' ' && v[n] != '\t'))
			abort();
		for (size_t i = 0; i < n; i++)
			if (essence[i] >= 'A' && essence[i] <= 'Z')
				abort();
		/* One media type holds no comma outside a quoted string. */
		for (const char *p = v, *q = NULL; *p != '\0'; p++) {
			if (*p == '"' && q == NULL)
				q = p;
			else if (*p == '\\' && q != NULL)
				p++;
			else if (*p == '"')
				q = NULL;
			else if (*p == ',' && q == NULL)
				abort();
		}
	} else if (mr_header_inline_safe(v)) {
		abort();
	}
	if (mr_header_content_disposition(v, 0, NULL, disp, sizeof(disp)) != 0 ||
	    strcmp(disp, mr_header_inline_safe(v) ? "inline" : "attachment") != 0)
		abort();
}

static void
check_clean(const char *v)
{
	char out[MR_CONTENT_TYPE_MAX + 1], again[MR_CONTENT_TYPE_MAX + 1];
	size_t n;

	if (mr_header_content_type_clean(v, out, sizeof(out)) < 0)
		return;
	n = strlen(out);
	if (n == 0 || n > MR_CONTENT_TYPE_MAX || out[0] == ' ' ||
	    out[n - 1] == ' ' || strstr(v, out) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		if (out[i] < 0x20 || out[i] > 0x7E)
			abort();
	if (mr_header_content_type_clean(out, again, sizeof(again)) != 0 ||
	    strcmp(out, again) != 0)
		abort();
	/* Checked in place, as a stored row is before it is served. */
	if (mr_header_content_type_clean(again, again, sizeof(again)) != 0 ||
	    strcmp(out, again) != 0)
		abort();
}

static void
check_filename(const char *v)
{
	char name[MR_UPLOAD_NAME_MAX + 1], back[MR_UPLOAD_NAME_MAX + 1];
	char header[3 * MR_UPLOAD_NAME_MAX + 64];

	if (mr_header_disposition_filename(v, name, sizeof(name)) < 0)
		return;
	if (name[0] == '\0' || !mr_header_filename_ok(name))
		abort();
	/* What we write for that name reads back as it, in both forms. */
	for (int force = 0; force <= 1; force++) {
		if (mr_header_content_disposition(force ? "text/html" : NULL, force,
		    name, header, sizeof(header)) != 0)
			abort();
		for (const char *p = header; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7E)
				abort();
		if (mr_header_disposition_filename(header, back, sizeof(back)) != 0 ||
		    strcmp(name, back) != 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = malloc(size + 1);

	if (v == NULL)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	check_media_type(v);
	check_clean(v);
	check_filename(v);
	free(v);
	return 0;
}
