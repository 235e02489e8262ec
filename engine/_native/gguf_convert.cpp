#include "gguf_convert.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "mlx/allocator.h"
#include "threads.h"

#include <unistd.h>

#include <memory>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace glassbox {

namespace {

constexpr int kGroup = 32;
constexpr int kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 8;

// IEEE half -> float, exactly (subnormals, infinities and NaNs included), without F16C.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t man = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while ((man & 0x400u) == 0);
    bits = sign | ((112 - e) << 23) | ((man & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// ggml's 16 nibble bytes (byte j: element j low, element j + 16 high) -> MLX's 16 bytes (byte k:
// element 2k low, 2k + 1 high), on 64-bit words as four 16-bit lanes of byte pairs.
inline void q4_block(const uint8_t* qs, uint8_t* out) {
  constexpr uint64_t kLow = 0x000F000F000F000Full, kHigh = 0x00F000F000F000F0ull;
  constexpr uint64_t kWords = 0x0000FFFF0000FFFFull;
  auto pack = [](uint64_t lanes) -> uint32_t {  // the low byte of each 16-bit lane
    lanes = (lanes | (lanes >> 8)) & kWords;
    return static_cast<uint32_t>(lanes | (lanes >> 16));
  };
  const uint64_t first = load_u64(qs), second = load_u64(qs + 8);
  const uint32_t words[4] = {
      pack((first & kLow) | ((first >> 4) & kHigh)),
      pack((second & kLow) | ((second >> 4) & kHigh)),
      pack(((first >> 4) & kLow) | ((first >> 8) & kHigh)),
      pack(((second >> 4) & kLow) | ((second >> 8) & kHigh)),
  };
  std::memcpy(out, words, 16);
}

// A fresh output buffer of `bytes`: on Linux its whole 2 MiB pages are asked to be huge pages, so
// filling a model's worth of them takes a few hundred page faults instead of tens of thousands.
mx::allocator::Data fresh(size_t bytes) {
  auto data = mx::allocator::malloc(bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = 2u << 20;
  if (bytes >= 2 * kHuge) {
    const auto start = reinterpret_cast<uintptr_t>(data.buffer().raw_ptr());
    const uintptr_t first = (start + kHuge - 1) & ~(kHuge - 1), last = (start + bytes) & ~(kHuge - 1);
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // a hint only
  }
#endif
  return data;
}

}  // namespace

int block_bytes(int kind) {
  switch (kind) {
    case kQ4_0:
      return 18;
    case kQ4_1:
      return 20;
    case kQ8_0:
      return 34;
    default:
      return 0;
  }
}

std::tuple<mx::array, mx::array, mx::array> blocks_to_affine(const uint8_t* raw, size_t n_bytes, int kind,
                                                              int rows, int cols) {
  const int bsize = block_bytes(kind);
  if (bsize == 0) throw std::invalid_argument("blocks_to_affine: not a Q4_0, Q4_1 or Q8_0 tensor");
  if (rows <= 0 || cols <= 0 || cols % kGroup) throw std::invalid_argument("blocks_to_affine: bad shape");
  const size_t groups = static_cast<size_t>(cols) / kGroup;
  if (n_bytes != static_cast<size_t>(rows) * groups * bsize) {
    throw std::invalid_argument("blocks_to_affine: the byte count does not match the shape");
  }
  const int bits = kind == kQ8_0 ? 8 : 4;
  const size_t words_per_row = static_cast<size_t>(cols) * bits / 32;
  mx::array w(fresh(rows * words_per_row * 4), {rows, static_cast<int>(words_per_row)},
              mx::uint32);
  mx::array scales(fresh(rows * groups * 4), {rows, static_cast<int>(groups)}, mx::float32);
  mx::array biases(fresh(rows * groups * 4), {rows, static_cast<int>(groups)}, mx::float32);
  auto* wp = reinterpret_cast<uint8_t*>(w.data<uint32_t>());
  float* sp = scales.data<float>();
  float* bp = biases.data<float>();
  const size_t total = static_cast<size_t>(rows) * groups;
  constexpr size_t kBlocksPerTask = 4096;
  const int n_tasks = static_cast<int>((total + kBlocksPerTask - 1) / kBlocksPerTask);
  ThreadPool::instance().parallel_for(n_tasks, [&](int t) {
    const size_t begin = static_cast<size_t>(t) * kBlocksPerTask;
    const size_t end = std::min(total, begin + kBlocksPerTask);
    for (size_t b = begin; b < end; ++b) {
      const uint8_t* block = raw + b * bsize;
      const float d = half_to_float(load_u16(block));
      sp[b] = d;
      if (kind == kQ8_0) {
        bp[b] = -128.0f * d;
        uint8_t* out = wp + b * 32;
        for (int i = 0; i < 32; ++i) out[i] = block[2 + i] ^ 0x80;  // int8 + 128, as unsigned
      } else if (kind == kQ4_1) {
        bp[b] = half_to_float(load_u16(block + 2));
        q4_block(block + 4, wp + b * 16);
      } else {
        bp[b] = -8.0f * d;
        q4_block(block + 2, wp + b * 16);
      }
    }
  });
  return {w, scales, biases};
}

std::vector<std::tuple<mx::array, mx::array, mx::array>> read_blocks(int fd, const std::vector<BlockTensor>& tensors) {
  size_t largest = 0;
  for (const auto& t : tensors) largest = std::max(largest, t.n_bytes);
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[largest]);  // reused (not zeroed): its pages fault in once
  uint8_t* scratch = buffer.get();
  std::vector<std::tuple<mx::array, mx::array, mx::array>> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) {
    size_t done = 0;
    while (done < t.n_bytes) {
      const ssize_t got = pread(fd, scratch + done, t.n_bytes - done, static_cast<off_t>(t.offset + done));
      if (got < 0) throw std::runtime_error("read_blocks: reading the file failed");
      if (got == 0) throw std::length_error("read_blocks: the file ends inside a tensor (truncated)");
      done += static_cast<size_t>(got);
    }
    out.push_back(blocks_to_affine(scratch, t.n_bytes, t.kind, t.rows, t.cols));
  }
  return out;
}

}  // namespace glassbox
