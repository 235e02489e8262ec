// MLX arrays whose data stays in a file mapping (the converted-weights cache, engine/weights_cache.py):
// no fresh memory to fault in and no copy, which is most of a GGUF load's work on a VM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mlx/array.h"

namespace glassbox {

namespace mx = mlx::core;

// One array in a mapped file: its data starts `offset` bytes into the file (a multiple of 64; the
// 8 bytes before it hold its byte count, as MLX's CPU allocator lays out a buffer).
struct MappedSpec {
  size_t offset;
  std::vector<int> shape;
  std::string dtype;  // "uint32", "float32", "float16", "bfloat16", "int8", "uint8", "int32"
};

// A 64-bit checksum of n bytes (four independent multiply-rotate lanes over 8-byte words, the
// tail mixed in byte by byte): it catches a damaged or altered file, it is no cryptographic hash.
uint64_t checksum(const uint8_t* data, size_t n);

// The checksum of the file's bytes [from, end). Throws std::runtime_error when it cannot be read.
uint64_t file_checksum(const std::string& path, size_t from);

// Maps `path`, checks that it is `size` bytes long and that the checksum of its bytes [payload, size)
// is `expected` (std::runtime_error otherwise: a damaged or changed file is never used), and returns
// one array per spec (std::invalid_argument for a spec outside the payload or whose byte count
// field disagrees with its shape). The mapping is read-only: MLX does not own the arrays' buffers,
// so it never reuses one for an operation's output (donation), and nothing else writes to weights.
// It is unmapped when the last of the arrays is freed.
std::vector<mx::array> map_arrays(const std::string& path, size_t size, size_t payload, uint64_t expected,
                                  const std::vector<MappedSpec>& specs);

}  // namespace glassbox
