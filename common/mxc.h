/*
 * mxc: the grammar of server names and media ids (spec.md 2.2), and the one
 * checked type, struct mr_mxc, that blob, store and media accept. Anything
 * that reached a struct mr_mxc has passed the allow-lists below.
 *
 * A valid server name is also canonical, so that block and allow lists
 * cannot be passed by spelling one server another way: IP literals have
 * one spelling (dotted quad without leading zeros; RFC 5952 IPv6, lower
 * case, never IPv4-mapped), a host that ends in a number must be such a
 * quad ("127.1" and "0x7f.0.0.1" are refused), a port has no leading
 * zeros and a DNS name no empty label (no trailing dot). What is left is
 * the case of DNS letters, which mr_mxc_same_server() ignores.
 */
#ifndef MR_MXC_H
#define MR_MXC_H

#include <stddef.h>

#include "util.h"

/* Spec recommends <= 230; dns-name allows 255 plus ":65535" and brackets. */
#define MR_SERVER_NAME_MAX 262
/* Our ids are 24+; other servers' are bounded so rows and paths stay small. */
#define MR_MEDIA_ID_MAX 255
#define MR_MEDIA_ID_LEN 32

struct mr_mxc {
	char server[MR_SERVER_NAME_MAX + 1];
	char id[MR_MEDIA_ID_MAX + 1];
};

/* 1 when s is a valid, canonical server name: hostname [":" port]. */
int mr_mxc_valid_server_name(const char *s);
/*
 * 1 when the valid names a (alen bytes) and b (blen bytes) name the same
 * server: the host compared without ASCII case, the port exactly. Every
 * comparison of a name against configured names goes through here.
 */
int mr_mxc_same_server(const char *a, size_t alen, const char *b,
    size_t blen);
/* 1 when s is 1..MR_MEDIA_ID_MAX characters of [A-Za-z0-9_-]. */
int mr_mxc_valid_media_id(const char *s);

/*
 * Checks server and id and fills out. On failure err says which part was
 * wrong: 400 M_INVALID_PARAM.
 */
int mr_mxc_from_parts(const char *server, const char *id, struct mr_mxc *out,
    struct mr_err *err);
/* Parses "mxc://server/id". */
int mr_mxc_parse_uri(const char *uri, struct mr_mxc *out, struct mr_err *err);
/* A fresh local id for server. */
void mr_mxc_generate(const char *server, struct mr_mxc *out);
/* "mxc://server/id" into buf; returns 0, or -1 if it does not fit. */
int mr_mxc_format(const struct mr_mxc *m, char *buf, size_t bufsz);

/*
 * 1 when s is a Matrix user id, "@localpart:server_name" of at most 255
 * bytes (historical localparts: any printable ASCII). Pure, for parsers
 * the config and auth.
 */
int mr_mxc_valid_user_id(const char *s);

#endif
