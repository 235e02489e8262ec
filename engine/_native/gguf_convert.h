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

// A ggml block format this converts: values and bytes per block, and the affine layout it becomes.
struct BlockFormat {
  int values;  // per block (32, or 256 for a K-quant super-block); 0: not a kind this converts
  int bytes;
  int bits;  // codes of the affine layout
  int group;  // values per scale and bias
};

// Q4_0 (2), Q4_1 (3), Q5_0 (6), Q8_0 (8): 4/4/5/8 bits, group 32; Q4_K (12), Q5_K (13): 4/5 bits,
// group 32; Q6_K (14): 6 bits, group 16 (a group size only Glassbox's kernels take). Else values 0.
BlockFormat block_format(int kind);

// `rows` rows of `cols` values stored as ggml blocks of `kind` -> the affine layout of
// block_format(kind): w (rows, cols * bits / 32) uint32 in MLX's packing, scales and biases
// (rows, cols / group) float32, exactly the file's numbers (value = scale * q + bias; Q4_0 bias
// -8d, Q5_0 -16d, Q8_0 -128d with q + 128, Q4_K/Q5_K scale d·sc and bias -dmin·m, Q6_K scale d·sc
// and bias -32·d·sc). Throws std::invalid_argument when the byte count or the kind does not fit.
// Multi-threaded.
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
