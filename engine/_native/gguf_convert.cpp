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

constexpr int kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ8_0 = 8, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14;

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

BlockFormat block_format(int kind) {
  switch (kind) {
    case kQ4_0: return {32, 18, 4, 32};
    case kQ4_1: return {32, 20, 4, 32};
    case kQ5_0: return {32, 22, 5, 32};
    case kQ8_0: return {32, 34, 8, 32};
    case kQ4_K: return {256, 144, 4, 32};
    case kQ5_K: return {256, 176, 5, 32};
    case kQ6_K: return {256, 210, 6, 16};
    default: return {0, 0, 0, 0};
  }
}

namespace {

// Eight codes of `bits` bits -> `bits` bytes of MLX's packing (a little-endian bit stream).
inline void pack8(const uint8_t* q, int bits, uint8_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(q[i]) << (bits * i);
  std::memcpy(out, &v, bits);  // little-endian hosts (x86-64, arm64)
}

inline void pack_codes(const uint8_t* q, int n, int bits, uint8_t* out) {
  for (int i = 0; i < n; i += 8) pack8(q + i, bits, out + i / 8 * bits);
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// One block of `kind` -> its codes (MLX packing) at w, its scales and biases at s, b.
void convert_block(int kind, const uint8_t* block, uint8_t* w, float* s, float* b) {
  uint8_t q[256];
  switch (kind) {
    case kQ8_0: {
      const float d = half_to_float(load_u16(block));
      s[0] = d;
      b[0] = -128.0f * d;
      for (int i = 0; i < 32; ++i) w[i] = block[2 + i] ^ 0x80;  // int8 + 128, as unsigned
      return;
    }
    case kQ4_1:
      s[0] = half_to_float(load_u16(block));
      b[0] = half_to_float(load_u16(block + 2));
      q4_block(block + 4, w);
      return;
    case kQ4_0: {
      const float d = half_to_float(load_u16(block));
      s[0] = d;
      b[0] = -8.0f * d;
      q4_block(block + 2, w);
      return;
    }
    case kQ5_0: {  // element j: low nibble of qs[j], j + 16: its high nibble; bit j of qh on top
      const float d = half_to_float(load_u16(block));
      s[0] = d;
      b[0] = -16.0f * d;
      uint32_t qh;
      std::memcpy(&qh, block + 2, 4);
      const uint8_t* qs = block + 6;
      for (int j = 0; j < 16; ++j) {
        q[j] = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      }
      pack_codes(q, 32, 5, w);
      return;
    }
    case kQ4_K:
    case kQ5_K: {  // values 64i .. 64i + 31: low nibbles of qs[32i ..], the next 32 their high ones
      const float d = half_to_float(load_u16(block)), dmin = half_to_float(load_u16(block + 2));
      const uint8_t* scales = block + 4;
      const uint8_t* qh = block + 16;  // Q5_K only: bit i of qh[l] is the fifth bit of value 32i + l
      const uint8_t* qs = block + (kind == kQ5_K ? 48 : 16);
      for (int j = 0; j < 8; ++j) {
        int sc, m;
        scale_min_k4(j, scales, &sc, &m);
        s[j] = d * static_cast<float>(sc);
        b[j] = -(dmin * static_cast<float>(m));
        const uint8_t* bytes = qs + 32 * (j / 2);
        for (int l = 0; l < 32; ++l) {
          uint8_t v = j % 2 ? bytes[l] >> 4 : bytes[l] & 0xF;
          if (kind == kQ5_K) v |= ((qh[l] >> j) & 1) << 4;
          q[32 * j + l] = v;
        }
      }
      pack_codes(q, 256, kind == kQ5_K ? 5 : 4, w);
      return;
    }
    case kQ6_K: {  // value = d * sc[v / 16] * (q - 32), q: a nibble of ql and two bits of qh
      const uint8_t* ql = block;
      const uint8_t* qh = block + 128;
      const auto* sc = reinterpret_cast<const int8_t*>(block + 192);
      const float d = half_to_float(load_u16(block + 208));
      for (int i = 0; i < 16; ++i) {
        s[i] = d * static_cast<float>(sc[i]);
        b[i] = -32.0f * s[i];
      }
      for (int h = 0; h < 2; ++h) {
        const uint8_t* l4 = ql + 64 * h;
        const uint8_t* h2 = qh + 32 * h;
        uint8_t* o = q + 128 * h;
        for (int l = 0; l < 32; ++l) {
          o[l] = (l4[l] & 0xF) | ((h2[l] & 3) << 4);
          o[l + 32] = (l4[l + 32] & 0xF) | (((h2[l] >> 2) & 3) << 4);
          o[l + 64] = (l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4);
          o[l + 96] = (l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4);
        }
      }
      pack_codes(q, 256, 6, w);
      return;
    }
    default:
      throw std::invalid_argument("blocks_to_affine: not a block kind this converts");
  }
}

}  // namespace

namespace {

// A tensor's output arrays, allocated (not filled) after its shape and byte count are checked.
struct AffineOut {
  BlockFormat f;
  size_t blocks;  // in the tensor
  mx::array w, scales, biases;

  // blocks [first, first + n) of the tensor, whose bytes are at raw, converted into place
  void convert(int kind, const uint8_t* raw, size_t first, size_t n) {
    auto* wp = reinterpret_cast<uint8_t*>(w.data<uint32_t>());
    float* sp = scales.data<float>();
    float* bp = biases.data<float>();
    const size_t code_bytes = static_cast<size_t>(f.values) * f.bits / 8, block_groups = f.values / f.group;
    const size_t per_task = std::max<size_t>(1, 4096 * 32 / f.values);
    const int n_tasks = static_cast<int>((n + per_task - 1) / per_task);
    ThreadPool::instance().parallel_for(n_tasks, [&](int t) {
      const size_t begin = static_cast<size_t>(t) * per_task;
      const size_t end = std::min(n, begin + per_task);
      for (size_t i = begin; i < end; ++i) {
        const size_t b = first + i;
        convert_block(kind, raw + i * f.bytes, wp + b * code_bytes, sp + b * block_groups, bp + b * block_groups);
      }
    });
  }
};

AffineOut allocate(size_t n_bytes, int kind, int rows, int cols) {
  const BlockFormat f = block_format(kind);
  if (f.values == 0) {
    throw std::invalid_argument("blocks_to_affine: not a Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K or Q6_K tensor");
  }
  if (rows <= 0 || cols <= 0 || cols % f.values) throw std::invalid_argument("blocks_to_affine: bad shape");
  const size_t blocks_per_row = static_cast<size_t>(cols) / f.values;
  if (n_bytes != static_cast<size_t>(rows) * blocks_per_row * f.bytes) {
    throw std::invalid_argument("blocks_to_affine: the byte count does not match the shape");
  }
  const size_t words_per_row = static_cast<size_t>(cols) * f.bits / 32;
  const size_t groups = static_cast<size_t>(cols) / f.group;
  return {f, static_cast<size_t>(rows) * blocks_per_row,
          mx::array(fresh(rows * words_per_row * 4), {rows, static_cast<int>(words_per_row)}, mx::uint32),
          mx::array(fresh(rows * groups * 4), {rows, static_cast<int>(groups)}, mx::float32),
          mx::array(fresh(rows * groups * 4), {rows, static_cast<int>(groups)}, mx::float32)};
}

// File bytes read and converted at a time: a load holds the model plus this much, never a second
// copy of its largest tensor (Gemma 3's 262,144-row embedding is 178 MB of Q8_0 blocks).
constexpr size_t kChunkBytes = 8u << 20;

}  // namespace

std::tuple<mx::array, mx::array, mx::array> blocks_to_affine(const uint8_t* raw, size_t n_bytes, int kind,
                                                              int rows, int cols) {
  AffineOut out = allocate(n_bytes, kind, rows, cols);
  out.convert(kind, raw, 0, out.blocks);
  return {out.w, out.scales, out.biases};
}

std::vector<std::tuple<mx::array, mx::array, mx::array>> read_blocks(int fd, const std::vector<BlockTensor>& tensors) {
  size_t largest = 0;
  for (const auto& t : tensors) largest = std::max(largest, t.n_bytes);
  const size_t scratch_bytes = std::min(largest, kChunkBytes);
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[scratch_bytes]);  // reused (not zeroed): its pages fault in once
  uint8_t* scratch = buffer.get();
  std::vector<std::tuple<mx::array, mx::array, mx::array>> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) {
    AffineOut arrays = allocate(t.n_bytes, t.kind, t.rows, t.cols);
    const size_t chunk_blocks = std::max<size_t>(1, scratch_bytes / arrays.f.bytes);
    for (size_t first = 0; first < arrays.blocks; first += chunk_blocks) {
      const size_t n = std::min(chunk_blocks, arrays.blocks - first);
      const size_t bytes = n * arrays.f.bytes, offset = t.offset + first * arrays.f.bytes;
      size_t done = 0;
      while (done < bytes) {
        const ssize_t got = pread(fd, scratch + done, bytes - done, static_cast<off_t>(offset + done));
        if (got < 0) throw std::runtime_error("read_blocks: reading the file failed");
        if (got == 0) throw std::length_error("read_blocks: the file ends inside a tensor (truncated)");
        done += static_cast<size_t>(got);
      }
      arrays.convert(t.kind, scratch, first, n);
    }
    out.emplace_back(arrays.w, arrays.scales, arrays.biases);
  }
  return out;
}

}  // namespace glassbox
