/*
 * fuzz_config: libFuzzer target for the config file's line parser and the
 * value parsers behind it (sizes, durations, thumbnail sizes, formats,
 * CIDR lists, URL rules, server names, paths). It includes common/config.c
 * to reach config_line, and feeds it the input line by line as
 * mr_config_load does, over the defaults and with one "seen" table. Besides
 * memory errors it checks the contracts: a refused line names a reason; an
 * accepted key's effective value, as mr_config_get_text prints it, is a
 * value the key accepts again and prints the same.
 *
 * Built by make fuzz / make fuzz-replay (sources: FUZZ_config).
 * ./fuzz_config tests/fuzz/corpus/config
 */
#include "../../common/config.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BASE_DIR "/etc/mediarepo"

/* What key prints, set again on a fresh config, prints the same. */
static void
check_round_trip(const struct mr_config *cfg, const char *key)
{
	static struct mr_config fresh;	/* large: not on the stack */
	static char text[16384], again[16384];
	const struct config_key *k = config_find(key);
	const char *why = NULL;

	if (k == NULL || mr_config_get_text(cfg, key, text, sizeof(text)) != 0)
		abort();
	config_defaults_in(&fresh, FUZZ_BASE_DIR);
	if (config_apply(&fresh, k, text, FUZZ_BASE_DIR, &why) != 0 ||
	    mr_config_get_text(&fresh, key, again, sizeof(again)) != 0 ||
	    strcmp(text, again) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mr_config cfg;
	unsigned char seen[CONFIG_NKEYS] = { 0 };
	char *text = malloc(size + 1), *line, *next;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_defaults_in(&cfg, FUZZ_BASE_DIR);
	for (line = text; line != NULL; line = next) {
		const char *why = NULL, *key = NULL;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (config_line(&cfg, line, FUZZ_BASE_DIR, seen, &why, &key) != 0) {
			if (why == NULL)
				abort();
			break;	/* the load stops at the first bad line */
		}
		if (key != NULL)
			check_round_trip(&cfg, key);
	}
	free(text);
	return 0;
}
