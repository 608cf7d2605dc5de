/*
 * fuzz_image: libFuzzer target for mr_image_probe, the first code to see
 * uploaded bytes. Besides memory errors it checks the contract: a failure
 * zeroes the result and sets a 400, a success is plausible.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -o fuzz_image \
 *     tests/fuzz/fuzz_image.c common/image.c common/util.c
 * ./fuzz_image tests/fuzz/corpus/image
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../common/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_image_info info;
	struct mr_err err;

	if (mr_image_probe(data, size, &info, &err) < 0) {
		if (err.status != 400 || info.format != MR_IMAGE_UNKNOWN)
			abort();
		return 0;
	}
	if (info.format == MR_IMAGE_UNKNOWN || info.frames == 0 ||
	    info.orientation < 1 || info.orientation > 8)
		abort();
	if (info.format != MR_IMAGE_SVG && (info.width == 0 ||
	    info.height == 0))
		abort();
	return 0;
}
