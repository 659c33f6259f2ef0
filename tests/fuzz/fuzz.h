/* fuzz.h - shared by the fuzz targets: libFuzzer's entry point, and in ordinary builds a
 * main() that replays every file of the corpus directories given as arguments. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
