/*
 * keys: the signing key file (see keys.h).
 */
#include "keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
keys_valid_version(const char *v, size_t n)
{
	if (n == 0 || n > MR_KEY_VERSION_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '_')
			return 0;
	return 1;
}

int
mr_keys_parse_line(const char *line, struct mr_signing_key *key,
    struct mr_err *err)
{
	char alg[16], version[MR_KEY_VERSION_MAX + 2], seed_b64[64];
	size_t seed_len = 0;

	if (sscanf(line, "%15s %65s %63s", alg, version, seed_b64) != 3 ||
	    strcmp(alg, "ed25519") != 0)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "expected 'ed25519 VERSION SEED'");
	if (!keys_valid_version(version, strlen(version)))
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "invalid key version '%s'", version);
	/* Synapse writes unpadded base64; accept padding too. */
	if (sodium_base642bin(key->seed, sizeof(key->seed), seed_b64,
	    strlen(seed_b64), "=", &seed_len, NULL,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
	    seed_len != sizeof(key->seed))
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "key seed is not 32 bytes of base64");
	snprintf(key->version, sizeof(key->version), "%s", version);
	crypto_sign_seed_keypair(key->pk, key->sk, key->seed);
	return 0;
}

int
mr_keys_load(const char *path, struct mr_signing_key *key, struct mr_err *err)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot open key '%s': %s",
		    path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "ed25519 ", 8) != 0)
			continue;
		fclose(f);
		if (mr_keys_parse_line(line, key, err) < 0) {
			char why[sizeof(err->msg)];

			snprintf(why, sizeof(why), "%s", err->msg);
			return mr_err_set(err, 500, "M_UNKNOWN", "%s: %s", path, why);
		}
		return 0;
	}
	fclose(f);
	return mr_err_set(err, 500, "M_UNKNOWN", "%s: no ed25519 key", path);
}

int
mr_keys_generate(const char *path, struct mr_signing_key *key,
    struct mr_err *err)
{
	char seed_b64[64], line[160];
	int fd, n;

	memcpy(key->version, "a_", 2);
	mr_random_id(key->version + 2, 4);
	/* Key versions allow [A-Za-z0-9_] only; the id alphabet adds '-'. */
	for (char *p = key->version; *p; p++)
		if (*p == '-')
			*p = '_';
	randombytes_buf(key->seed, sizeof(key->seed));
	crypto_sign_seed_keypair(key->pk, key->sk, key->seed);
	sodium_bin2base64(seed_b64, sizeof(seed_b64), key->seed,
	    sizeof(key->seed), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	n = snprintf(line, sizeof(line), "ed25519 %s %s\n", key->version,
	    seed_b64);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot create key '%s': %s",
		    path, strerror(errno));
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		close(fd);
		unlink(path);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot write key '%s'",
		    path);
	}
	sodium_memzero(line, sizeof(line));
	close(fd);
	return 0;
}

void
mr_keys_public_b64(const struct mr_signing_key *key, char out[64])
{
	sodium_bin2base64(out, 64, key->pk, sizeof(key->pk),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}
