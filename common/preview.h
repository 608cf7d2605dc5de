/*
 * preview: URL previews (spec.md 6). Pages are fetched through
 * http_client with the preview deny/allow lists checked on every address
 * connected to, redirects followed by hand (each hop's URL checked again
 * against url_preview_url_blacklist and the IP literal rules), sizes
 * capped on decoded bytes. HTML becomes OpenGraph (preview_charset.c
 * decodes, preview_html.c extracts, preview_resolve.c resolves its URLs);
 * og:image is fetched through the same guards into the media store (a
 * row made by mr_media_create, so quarantined bytes stay out) and given
 * as an mxc URI. Results are cached in the store per (url, hour of ts,
 * language), and concurrent identical requests share one fetch (a store
 * lease).
 */
#ifndef MR_PREVIEW_H
#define MR_PREVIEW_H

#include <stdint.h>

#include "auth.h"
#include "ctx.h"

/*
 * The preview of url as JSON text (malloc'ed, caller frees). Errors: 400
 * M_INVALID_PARAM (malformed url), 403 M_FORBIDDEN (blocked url or
 * address), 502 (unreachable, no allowed address, unpreviewable type,
 * too large), 504 (timed out).
 */
int mr_preview_get(struct mr_ctx *ctx, const struct mr_user *user,
    const char *url, int64_t ts, char **json, struct mr_err *err);

#endif
