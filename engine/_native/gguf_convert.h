// GGUF block formats -> MLX's affine quantized layout, for loading (no graph: the arrays come
// back evaluated). The Python reader (engine/gguf.py) does the same in numpy when this is missing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "mlx/array.h"

namespace glassbox {

namespace mx = mlx::core;

// Bytes per 32-value block of a ggml type this converts (Q4_0 18, Q4_1 20, Q8_0 34), else 0.
int block_bytes(int kind);

// `rows` rows of `cols` values stored as ggml blocks (Q4_0 = 2, Q4_1 = 3, Q8_0 = 8) -> MLX affine,
// group 32: w (rows, cols * bits / 32) uint32, scales and biases (rows, cols / 32) float32, exactly
// the file's numbers (value = scale * q + bias; Q4_0 bias -8d, Q8_0 bias -128d with q + 128).
// Throws std::invalid_argument when the byte count or the kind does not fit. Multi-threaded.
std::tuple<mx::array, mx::array, mx::array> blocks_to_affine(const uint8_t* raw, size_t n_bytes, int kind,
                                                              int rows, int cols);

// One tensor of a GGUF file for read_blocks: where its bytes are (from the start of the file) and
// what they hold.
struct BlockTensor {
  size_t offset;
  size_t n_bytes;
  int kind;
  int rows;
  int cols;
};

// Each tensor read from the open file `fd` (pread: the file position is not used) and converted
// as blocks_to_affine does, in order. Throws std::length_error when the file ends early,
// std::runtime_error when reading fails, std::invalid_argument as blocks_to_affine.
std::vector<std::tuple<mx::array, mx::array, mx::array>> read_blocks(int fd, const std::vector<BlockTensor>& tensors);

}  // namespace glassbox
