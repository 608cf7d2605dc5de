/*
 * keys: this server's ed25519 signing key. The file holds one line in the
 * homeserver format "ed25519 VERSION BASE64SEED" (unpadded base64 of the
 * 32-byte seed), so an operator can reuse or merge Synapse's key file.
 */
#ifndef MR_KEYS_H
#define MR_KEYS_H

#include <sodium.h>

#include "util.h"

#define MR_KEY_VERSION_MAX 64

struct mr_signing_key {
	char version[MR_KEY_VERSION_MAX + 1];	/* [A-Za-z0-9_] */
	unsigned char seed[crypto_sign_SEEDBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

/* Reads the first ed25519 key of a key file. */
int mr_keys_load(const char *path, struct mr_signing_key *key,
    struct mr_err *err);
/* Parses one "ed25519 VERSION SEED" line. */
int mr_keys_parse_line(const char *line, struct mr_signing_key *key,
    struct mr_err *err);
/* A new random key "a_XXXX", written with mode 0600; never overwrites. */
int mr_keys_generate(const char *path, struct mr_signing_key *key,
    struct mr_err *err);
/* Unpadded base64 of the public key (43 characters and NUL). */
void mr_keys_public_b64(const struct mr_signing_key *key, char out[64]);

#endif
