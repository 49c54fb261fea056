/* What the fuzz targets share.  Each target is one LLVMFuzzerTestOneInput:
 * built with clang -fsanitize=fuzzer it is a libFuzzer program, built with
 * replay.c it runs the committed inputs in every build (suite 'fuzz').
 *
 * An invariant that fails prints what and where and aborts: libFuzzer then
 * saves the input, replay.c names the file it came from. */
#ifndef AUTHTAP_FUZZ_H
#define AUTHTAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set by replay.c to the input being run; NULL under libFuzzer. */
extern const char *fuzz_input_name;

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s%s%s\n", __FILE__, __LINE__,   \
			        #cond, fuzz_input_name ? "\n  input: " : "",                       \
			        fuzz_input_name ? fuzz_input_name : "");                           \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
