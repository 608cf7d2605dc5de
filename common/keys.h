/*
 * keys: this server's ed25519 signing key, and signing and checking JSON
 * with ed25519 keys (spec.md 4.4). The key file holds one line in the
 * homeserver format "ed25519 VERSION BASE64SEED" (unpadded base64 of the
 * 32-byte seed), so an operator can reuse or merge Synapse's key file.
 * Binary values travel as unpadded standard base64; decoders here also
 * take padded input, as the spec asks (4.5).
 */
#ifndef MR_KEYS_H
#define MR_KEYS_H

#include <cjson/cJSON.h>
#include <sodium.h>

#include "util.h"

#define MR_KEY_VERSION_MAX 64

struct mr_signing_key {
	char version[MR_KEY_VERSION_MAX + 1];	/* [A-Za-z0-9_] */
	unsigned char seed[crypto_sign_SEEDBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

/* Key files hold a line or a few; anything bigger is not one. */
#define MR_KEYS_FILE_MAX (16 * 1024)

/*
 * A key that fork children do not inherit, for programs that fork (the
 * thumbnail decoder, common/thumb.c): it lives on pages of its own marked
 * MADV_WIPEONFORK, so a child, however compromised, finds zeros where the
 * seed was, and MADV_DONTDUMP keeps it out of core files. The key is
 * zeroed; 500 when the kernel cannot do this (before Linux 4.14).
 * mr_keys_free zeroes and unmaps it; NULL is fine.
 */
struct mr_signing_key *mr_keys_alloc(struct mr_err *err);
void mr_keys_free(struct mr_signing_key *key);

/*
 * Reads the first ed25519 key of a key file. No copy of the seed, raw or
 * base64, is left behind on the stack or the heap.
 */
int mr_keys_load(const char *path, struct mr_signing_key *key,
    struct mr_err *err);
/*
 * A whole key file into text (NUL-terminated, *len bytes); refused over
 * MR_KEYS_FILE_MAX. The caller wipes text when done.
 */
int mr_keys_read_file(const char *path, char text[MR_KEYS_FILE_MAX + 1],
    size_t *len, struct mr_err *err);
/* The first "ed25519 " line of a key file's text, parsed. */
int mr_keys_parse_text(const char *text, struct mr_signing_key *key,
    struct mr_err *err);
/* Parses one "ed25519 VERSION SEED" line. */
int mr_keys_parse_line(const char *line, struct mr_signing_key *key,
    struct mr_err *err);
/*
 * Writes len bytes of data as the key file path, mode 0600 from the
 * first byte: into a new temporary file beside path (O_EXCL|O_NOFOLLOW),
 * fsync'd, then renamed over path when replace is set (keeping a regular
 * file's owner), else linked to path, which fails when anything is there.
 * A symlink at path is never followed. On failure nothing is left behind.
 */
int mr_keys_write_file(const char *path, const char *data, size_t len,
    int replace, struct mr_err *err);
/* A new random key "a_XXXX", written as above; never overwrites. */
int mr_keys_generate(const char *path, struct mr_signing_key *key,
    struct mr_err *err);
/* Unpadded base64 of the public key (43 characters and NUL). */
void mr_keys_public_b64(const struct mr_signing_key *key, char out[64]);


/* "ed25519:" and at most MR_KEY_VERSION_MAX version characters. */
#define MR_KEY_ID_MAX 80
/* Unpadded base64 of a 64-byte signature is 86 characters. */
#define MR_KEYS_SIG_B64_LEN 86

/*
 * Signs obj (an object) in place as server_name: the signature covers the
 * canonical JSON of obj without "signatures" and "unsigned", and lands in
 * signatures[server_name]["ed25519:VERSION"], next to any signatures
 * already there (one under the same key id is replaced). On failure obj
 * is unchanged: 400 M_BAD_JSON when it cannot be canonicalised or its
 * "signatures" (or signatures[server_name]) is not an object, 500 when out
 * of memory.
 */
int mr_keys_sign_json(cJSON *obj, const char *server_name,
    const struct mr_signing_key *key, struct mr_err *err);
/*
 * The same signature without touching obj: unpadded base64, 86 characters
 * and a NUL, into sig_b64.
 */
int mr_keys_sign_detached(const cJSON *obj, const struct mr_signing_key *key,
    char sig_b64[90], struct mr_err *err);
/*
 * Checks sig_b64 (base64 of a 64-byte signature, padding optional) by the
 * public key pk over obj as signed above. A bad signature, bad base64 or
 * a wrong length: 401 M_UNAUTHORIZED; an object that cannot be
 * canonicalised keeps its 400.
 */
int mr_keys_verify_json(const cJSON *obj, const unsigned char pk[32],
    const char *sig_b64, struct mr_err *err);
/* Base64 (padding optional) of a 32-byte public key; else 401 M_UNAUTHORIZED. */
int mr_keys_decode_public(const char *b64, unsigned char pk[32],
    struct mr_err *err);
/* 1 when id is "ed25519:" and 1..MR_KEY_VERSION_MAX of [A-Za-z0-9_]. */
int mr_keys_valid_key_id(const char *id);

#endif
