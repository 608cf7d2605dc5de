/*
 * keys: the signing key file, and signing and checking JSON (see keys.h).
 */
#include "keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include "json.h"

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

static int
keys_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * Decodes standard base64 of exactly want bytes. Padding is optional (spec
 * 4.5) but, when present, must be what a padded encoder writes. The unused
 * low bits of the last character are ignored, as Python's decoder (so
 * Synapse) ignores them: the spec's own test seed (5.2) has them set, and
 * libsodium's decoder refuses it.
 */
static int
keys_b64_decode(const char *b64, unsigned char *out, size_t want)
{
	size_t n, pad = 0, o = 0;
	unsigned acc = 0;
	int bits = 0, v;

	if (b64 == NULL)
		return -1;
	n = strnlen(b64, 4 * want);
	while (pad < 2 && n > 0 && b64[n - 1] == '=') {
		n--;
		pad++;
	}
	if ((pad > 0 && (n + pad) % 4 != 0) || n % 4 == 1 || n * 3 / 4 != want ||
	    b64[n + pad] != '\0')
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((v = keys_b64_value(b64[i])) < 0)
			return -1;
		acc = ((acc << 6) | (unsigned)v) & 0xFFFF;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return 0;
}

int
mr_keys_parse_line(const char *line, struct mr_signing_key *key,
    struct mr_err *err)
{
	char alg[16], version[MR_KEY_VERSION_MAX + 2], seed_b64[64];
	int rc = 0;

	if (sscanf(line, "%15s %65s %63s", alg, version, seed_b64) != 3 ||
	    strcmp(alg, "ed25519") != 0)
		rc = mr_err_set(err, 500, "M_UNKNOWN",
		    "expected 'ed25519 VERSION SEED'");
	else if (!keys_valid_version(version, strlen(version)))
		rc = mr_err_set(err, 500, "M_UNKNOWN",
		    "invalid key version '%s'", version);
	/* Synapse writes unpadded base64; accept padding too. */
	else if (keys_b64_decode(seed_b64, key->seed, sizeof(key->seed)) < 0)
		rc = mr_err_set(err, 500, "M_UNKNOWN",
		    "key seed is not 32 bytes of base64");
	else {
		snprintf(key->version, sizeof(key->version), "%s", version);
		crypto_sign_seed_keypair(key->pk, key->sk, key->seed);
	}
	sodium_memzero(seed_b64, sizeof(seed_b64));
	return rc;
}

/*
 * The file is read with read(2) into a buffer zeroed afterwards, not with
 * stdio, whose buffer would be freed with the seed still in it.
 */
int
mr_keys_read_file(const char *path, char text[MR_KEYS_FILE_MAX + 1],
    size_t *len, struct mr_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t k = 0;

	if (fd < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot open key '%s': %s",
		    path, strerror(errno));
	/* One byte more than allowed, to tell a file that is too long. */
	while (n <= MR_KEYS_FILE_MAX && ((k = read(fd, text + n,
	    MR_KEYS_FILE_MAX + 1 - n)) > 0 || (k < 0 && errno == EINTR)))
		n += k > 0 ? (size_t)k : 0;
	if (k < 0) {
		close(fd);
		sodium_memzero(text, MR_KEYS_FILE_MAX + 1);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot read key '%s'",
		    path);
	}
	close(fd);
	if (n > MR_KEYS_FILE_MAX) {
		sodium_memzero(text, MR_KEYS_FILE_MAX + 1);
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "key '%s' is over %d bytes", path, MR_KEYS_FILE_MAX);
	}
	text[n] = '\0';
	*len = n;
	return 0;
}

int
mr_keys_parse_text(const char *text, struct mr_signing_key *key,
    struct mr_err *err)
{
	char line[512];

	for (const char *p = text; *p != '\0'; p += strcspn(p, "\n"),
	    p += *p == '\n') {
		size_t n = strcspn(p, "\n");
		int rc;

		if (strncmp(p, "ed25519 ", 8) != 0)
			continue;
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		rc = mr_keys_parse_line(line, key, err);
		sodium_memzero(line, sizeof(line));
		return rc;
	}
	return mr_err_set(err, 500, "M_UNKNOWN", "no ed25519 key");
}

int
mr_keys_load(const char *path, struct mr_signing_key *key, struct mr_err *err)
{
	char text[MR_KEYS_FILE_MAX + 1];
	size_t len;
	int rc;

	if (mr_keys_read_file(path, text, &len, err) < 0)
		return -1;
	rc = mr_keys_parse_text(text, key, err);
	sodium_memzero(text, sizeof(text));
	if (rc < 0) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		return mr_err_set(err, 500, "M_UNKNOWN", "%s: %s", path, why);
	}
	return 0;
}

/* Gives fd the owner of the regular file at path, when it has one. */
static int
keys_keep_owner(int fd, const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_uid == geteuid() && st.st_gid == getegid())
		return 0;
	return fchown(fd, st.st_uid, st.st_gid);
}

/* Writes all of data to fd and syncs it. */
static int
keys_write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return fsync(fd);
}

/* Makes the new name durable: fsync of the directory holding path. */
static int
keys_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * A temporary file beside path: new (O_EXCL), never through a link
 * (O_NOFOLLOW) and 0600 from its first byte, so the seed is never in a
 * file anyone else can read or in one someone planted.
 */
static int
keys_create_tmp(const char *path, char tmp[PATH_MAX])
{
	for (int tries = 0; tries < 8; tries++) {
		char rnd[13];
		int fd, n;

		mr_random_id(rnd, 12);
		n = snprintf(tmp, PATH_MAX, "%s.tmp-%s", path, rnd);
		if (n < 0 || n >= PATH_MAX)
			return (errno = ENAMETOOLONG), -1;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
mr_keys_write_file(const char *path, const char *data, size_t len,
    int replace, struct mr_err *err)
{
	char tmp[PATH_MAX];
	const char *what = NULL;
	int fd, rc, saved;

	if ((fd = keys_create_tmp(path, tmp)) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot create a file beside '%s': %s", path, strerror(errno));
	/* --force on a key the service owns: it must still read it. */
	if (replace && keys_keep_owner(fd, path) < 0)
		what = "give the key its old owner";
	else if (keys_write_all(fd, data, len) < 0)
		what = "write the key";
	saved = errno;
	close(fd);
	if (what != NULL) {
		unlink(tmp);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot %s at '%s': %s",
		    what, tmp, strerror(saved));
	}
	/*
	 * rename replaces whatever is at path, a symlink included, without
	 * following it; link refuses anything there, a dangling symlink too.
	 * Either way path never holds a half-written key.
	 */
	rc = replace ? rename(tmp, path) : link(tmp, path);
	saved = errno;
	if (rc < 0 || !replace)
		unlink(tmp);
	if (rc < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot create key '%s': %s",
		    path, strerror(saved));
	if (keys_sync_dir(path) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot sync the directory of '%s': %s", path, strerror(errno));
	return 0;
}

struct mr_signing_key *
mr_keys_alloc(struct mr_err *err)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (sizeof(struct mr_signing_key) + page - 1) / page * page;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		return NULL;
	}
	if (madvise(p, size, MADV_WIPEONFORK) < 0) {
		munmap(p, size);
		mr_err_set(err, 500, "M_UNKNOWN", "cannot keep the signing key "
		    "from child processes: %s", strerror(errno));
		return NULL;
	}
	/* Only keeps the key out of core files: failing it costs nothing. */
	(void)madvise(p, size, MADV_DONTDUMP);
	return p;
}

void
mr_keys_free(struct mr_signing_key *key)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (key == NULL)
		return;
	sodium_memzero(key, sizeof(*key));
	munmap(key, (sizeof(*key) + page - 1) / page * page);
}

int
mr_keys_generate(const char *path, struct mr_signing_key *key,
    struct mr_err *err)
{
	char seed_b64[64], line[160];
	int n, rc;

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
	rc = mr_keys_write_file(path, line, (size_t)n, 0, err);
	sodium_memzero(seed_b64, sizeof(seed_b64));
	sodium_memzero(line, sizeof(line));
	return rc;
}

void
mr_keys_public_b64(const struct mr_signing_key *key, char out[64])
{
	sodium_bin2base64(out, 64, key->pk, sizeof(key->pk),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

/* --- signing and checking JSON --- */

static int
keys_sign_raw(const cJSON *obj, const struct mr_signing_key *key,
    unsigned char sig[crypto_sign_BYTES], struct mr_err *err)
{
	char *canon;
	size_t n;

	if (mr_json_canonical_for_signing(obj, &canon, &n, err) < 0)
		return -1;
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon, n,
	    key->sk);
	free(canon);
	return 0;
}

int
mr_keys_sign_detached(const cJSON *obj, const struct mr_signing_key *key,
    char sig_b64[90], struct mr_err *err)
{
	unsigned char sig[crypto_sign_BYTES];

	sig_b64[0] = '\0';
	if (keys_sign_raw(obj, key, sig, err) < 0)
		return -1;
	sodium_bin2base64(sig_b64, 90, sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	return 0;
}

/*
 * Hangs sig under signatures[server]["ed25519:VERSION"]. New containers are
 * filled before they are attached, so the only step that touches obj's
 * existing tree is the last one: a failure leaves obj as it was.
 */
static int
keys_attach_sig(cJSON *obj, cJSON *sigs, cJSON *mine, const char *server,
    const char *key_id, cJSON *sig, struct mr_err *err)
{
	cJSON *new_sigs = NULL, *new_mine = NULL;

	if (mine != NULL && cJSON_GetObjectItemCaseSensitive(mine, key_id)) {
		if (cJSON_ReplaceItemInObjectCaseSensitive(mine, key_id, sig))
			return 0;
		goto oom;
	}
	if (mine == NULL && (mine = new_mine = cJSON_CreateObject()) == NULL)
		goto oom;
	if (!cJSON_AddItemToObject(mine, key_id, sig))
		goto oom;
	sig = NULL;
	if (new_mine != NULL) {
		if (sigs == NULL &&
		    (sigs = new_sigs = cJSON_CreateObject()) == NULL)
			goto oom;
		if (!cJSON_AddItemToObject(sigs, server, new_mine))
			goto oom;
		new_mine = NULL;
	}
	if (new_sigs != NULL &&
	    !cJSON_AddItemToObject(obj, "signatures", new_sigs))
		goto oom;
	return 0;
oom:
	cJSON_Delete(sig);
	cJSON_Delete(new_mine);
	cJSON_Delete(new_sigs);
	return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
}

int
mr_keys_sign_json(cJSON *obj, const char *server_name,
    const struct mr_signing_key *key, struct mr_err *err)
{
	char sig_b64[90], key_id[MR_KEY_ID_MAX + 1];
	cJSON *sigs, *mine = NULL, *sig;

	if (server_name == NULL || server_name[0] == '\0')
		return mr_err_set(err, 500, "M_UNKNOWN", "no server name to sign as");
	if (!cJSON_IsObject(obj))
		return mr_err_set(err, 400, "M_BAD_JSON",
		    "only objects can be signed");
	sigs = cJSON_GetObjectItemCaseSensitive(obj, "signatures");
	if (sigs != NULL && !cJSON_IsObject(sigs))
		return mr_err_set(err, 400, "M_BAD_JSON",
		    "'signatures' is not an object");
	if (sigs != NULL)
		mine = cJSON_GetObjectItemCaseSensitive(sigs, server_name);
	if (mine != NULL && !cJSON_IsObject(mine))
		return mr_err_set(err, 400, "M_BAD_JSON",
		    "signatures of this server are not an object");
	if (mr_keys_sign_detached(obj, key, sig_b64, err) < 0)
		return -1;
	snprintf(key_id, sizeof(key_id), "ed25519:%s", key->version);
	if ((sig = cJSON_CreateString(sig_b64)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	return keys_attach_sig(obj, sigs, mine, server_name, key_id, sig, err);
}

int
mr_keys_verify_json(const cJSON *obj, const unsigned char pk[32],
    const char *sig_b64, struct mr_err *err)
{
	unsigned char sig[crypto_sign_BYTES];
	char *canon;
	size_t n;
	int bad;

	if (keys_b64_decode(sig_b64, sig, sizeof(sig)) < 0)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "signature is not base64 of 64 bytes");
	if (mr_json_canonical_for_signing(obj, &canon, &n, err) < 0)
		return -1;
	bad = crypto_sign_verify_detached(sig, (const unsigned char *)canon, n,
	    pk);
	free(canon);
	if (bad)
		return mr_err_set(err, 401, "M_UNAUTHORIZED", "invalid signature");
	return 0;
}

int
mr_keys_decode_public(const char *b64, unsigned char pk[32],
    struct mr_err *err)
{
	if (keys_b64_decode(b64, pk, crypto_sign_PUBLICKEYBYTES) < 0)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "public key is not base64 of 32 bytes");
	return 0;
}

int
mr_keys_valid_key_id(const char *id)
{
	if (id == NULL || strncmp(id, "ed25519:", 8) != 0)
		return 0;
	return keys_valid_version(id + 8, strlen(id + 8));
}
