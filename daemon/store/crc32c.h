// CRC32C (Castagnoli), the checksum of every stored record: LMDB keeps none,
// and a flipped bit in a record must read as corruption, never as a task.
// The SSE4.2 instruction where the CPU has it (a record costs nanoseconds,
// so opening a million tasks stays inside DESIGN 11's second), else a table.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace taskctl {

uint32_t crc32c(uint32_t crc, const void* data, size_t size);
// Continues `crc` (0 to start) over `data`. crc32c(0, "123456789", 9) is
// 0xe3069283, the check value of the standard.

uint32_t crc32cPortable(uint32_t crc, const void* data, size_t size);
// The table version, whatever the CPU: for tests that compare the two.

}  // namespace taskctl
