#include "store/crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace taskctl {
namespace {

constexpr uint32_t POLY = 0x82f63b78;  // Castagnoli, reflected

struct Table {
  uint32_t t[8][256];
  Table() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};

const Table& table() {
  static const Table instance;
  return instance;
}

// Slicing by 8: eight table lookups per 8 bytes.
uint32_t tableCrc(uint32_t crc, const unsigned char* p, size_t n) {
  auto& t = table().t;
  crc = ~crc;
  while (n >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    word ^= crc;  // little-endian: the low bytes come first
    crc = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^ t[5][(word >> 16) & 0xff] ^
          t[4][(word >> 24) & 0xff] ^ t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^
          t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

#if defined(__x86_64__)
// One instruction per 8 bytes, but each waits for the last (3 cycles on most
// CPUs): one stream reads ~2.7 bytes a cycle. Three streams over three
// blocks of a stretch run at once, and their registers are then joined:
// the CRC register is linear, so that of A then B is A's register advanced
// over len(B) zero bytes, xor B's from zero. Advancing over a fixed length
// is a 32x32 bit matrix, applied as four byte tables (ZeroOp). A 1.5 KiB
// record is checked in about a third of the time, which is most of what
// opening a million of them costs (bench/README.md).
__attribute__((target("sse4.2"))) uint64_t serialCrc(uint64_t c, const unsigned char* p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  for (; n > 0; p++, n--) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p);
  return c;
}

struct ZeroOp {
  uint32_t t[4][256];
  // The register advanced over `bytes` zero bytes.
  uint32_t apply(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
  __attribute__((target("sse4.2"))) explicit ZeroOp(size_t bytes) {
    static const unsigned char zeros[1024] = {};
    for (int k = 0; k < 4; k++) {
      for (uint32_t b = 0; b < 256; b++) {
        uint64_t c = uint64_t(b) << (8 * k);
        for (size_t left = bytes; left > 0;) {
          size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
          c = serialCrc(c, zeros, n);
          left -= n;
        }
        t[k][b] = static_cast<uint32_t>(c);
      }
    }
  }
};

// Three streams of BLOCK bytes each, joined; twice (large, then small
// blocks) so that little is left for one stream.
template <size_t BLOCK>
struct Interleave {
  ZeroOp one{BLOCK}, two{2 * BLOCK};
  __attribute__((target("sse4.2"))) uint64_t run(uint64_t c, const unsigned char*& p,
                                                 size_t& n) const {
    for (; n >= 3 * BLOCK; p += 3 * BLOCK, n -= 3 * BLOCK) {
      uint64_t a = c, b = 0, d = 0;
      for (size_t i = 0; i < BLOCK; i += 8) {
        uint64_t x, y, z;
        memcpy(&x, p + i, 8);
        memcpy(&y, p + BLOCK + i, 8);
        memcpy(&z, p + 2 * BLOCK + i, 8);
        a = _mm_crc32_u64(a, x);
        b = _mm_crc32_u64(b, y);
        d = _mm_crc32_u64(d, z);
      }
      c = two.apply(static_cast<uint32_t>(a)) ^ one.apply(static_cast<uint32_t>(b)) ^ d;
    }
    return c;
  }
};

const Interleave<256>& large() {
  static const Interleave<256> instance;
  return instance;
}

const Interleave<32>& small() {
  static const Interleave<32> instance;
  return instance;
}

__attribute__((target("sse4.2"))) uint32_t hardwareCrc(uint32_t crc, const unsigned char* p,
                                                       size_t n) {
  uint64_t c = static_cast<uint32_t>(~crc);
  c = large().run(c, p, n);
  c = small().run(c, p, n);
  return ~static_cast<uint32_t>(serialCrc(c, p, n));
}

bool haveSse42() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

}  // namespace

uint32_t crc32cPortable(uint32_t crc, const void* data, size_t size) {
  return tableCrc(crc, static_cast<const unsigned char*>(data), size);
}

uint32_t crc32c(uint32_t crc, const void* data, size_t size) {
#if defined(__x86_64__)
  if (haveSse42()) return hardwareCrc(crc, static_cast<const unsigned char*>(data), size);
#endif
  return crc32cPortable(crc, data, size);
}

}  // namespace taskctl
