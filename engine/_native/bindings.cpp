// Python bindings: `engine/_native` builds the module `_glassbox_native` (see build.py).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstring>

#include "bpe.h"
#include "gguf_convert.h"
#include "mapped_arrays.h"
#include "ops.h"
#include "threads.h"

namespace nb = nanobind;
namespace mx = mlx::core;
using namespace nb::literals;

namespace {

using Bytes = nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// `count` GGUF strings (uint64 length, then UTF-8 bytes) from buf[pos:], decoded with
// errors="replace" as the Python reader does -> (list of str, position after the last one).
nb::tuple gguf_strings(Bytes buf, size_t pos, size_t count) {
  const auto* data = reinterpret_cast<const char*>(buf.data());
  const size_t size = buf.shape(0);
  if (count > size / 8) throw nb::value_error("more strings than the buffer can hold");
  nb::list out = nb::steal<nb::list>(PyList_New(static_cast<Py_ssize_t>(count)));
  for (size_t i = 0; i < count; ++i) {
    if (pos > size || size - pos < 8) throw nb::value_error("a string extends past the end of the buffer");
    uint64_t n;
    std::memcpy(&n, data + pos, 8);
    pos += 8;
    if (n > size - pos) throw nb::value_error("a string extends past the end of the buffer");
    PyObject* s = PyUnicode_DecodeUTF8(data + pos, static_cast<Py_ssize_t>(n), "replace");
    if (s == nullptr) throw nb::python_error();
    PyList_SetItem(out.ptr(), static_cast<Py_ssize_t>(i), s);  // steals s
    pos += n;
  }
  return nb::make_tuple(out, pos);
}

std::tuple<mx::array, mx::array, mx::array> convert_blocks(Bytes raw, int kind, int rows, int cols) {
  nb::gil_scoped_release release;  // the window's thread keeps running while a model loads
  return glassbox::blocks_to_affine(raw.data(), raw.shape(0), kind, rows, cols);
}

// GGUF tensors (offset, n_bytes, kind, rows, cols) read from `fd` and converted, all without the
// GIL: Python builds the tokenizer in another thread meanwhile. Truncation -> ValueError.
std::vector<std::tuple<mx::array, mx::array, mx::array>> read_blocks(
    int fd, const std::vector<std::tuple<size_t, size_t, int, int, int>>& specs) {
  std::vector<glassbox::BlockTensor> tensors;
  for (const auto& [offset, n_bytes, kind, rows, cols] : specs) tensors.push_back({offset, n_bytes, kind, rows, cols});
  try {
    nb::gil_scoped_release release;
    return glassbox::read_blocks(fd, tensors);
  } catch (const std::length_error& e) {
    throw nb::value_error(e.what());
  }
}

// Arrays in a converted-weights cache file (engine/weights_cache.py), checked and mapped without
// the GIL. specs: (offset, shape, dtype name). A damaged file -> ValueError.
std::vector<mx::array> map_arrays(const std::string& path, size_t size, size_t payload, uint64_t expected,
                                  const std::vector<std::tuple<size_t, std::vector<int>, std::string>>& specs) {
  std::vector<glassbox::MappedSpec> arrays;
  arrays.reserve(specs.size());
  for (const auto& [offset, shape, dtype] : specs) arrays.push_back({offset, shape, dtype});
  try {
    nb::gil_scoped_release release;
    return glassbox::map_arrays(path, size, payload, expected, arrays);
  } catch (const std::exception& e) {
    throw nb::value_error(e.what());
  }
}

uint64_t file_checksum(const std::string& path, size_t from) {
  try {
    nb::gil_scoped_release release;
    return glassbox::file_checksum(path, from);
  } catch (const std::exception& e) {
    throw nb::value_error(e.what());
  }
}

// The UTF-8 of each str in `list`, concatenated, and where each ends (the GIL held: Python objects).
void gather_utf8(nb::handle list, std::string& text, std::vector<size_t>& ends, const char* what) {
  if (!PyList_Check(list.ptr())) throw nb::type_error((std::string(what) + " must be a list of str").c_str());
  const Py_ssize_t n = PyList_Size(list.ptr());
  ends.reserve(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    Py_ssize_t size;
    const char* utf8 = PyUnicode_AsUTF8AndSize(PyList_GetItem(list.ptr(), i), &size);  // borrowed item
    if (utf8 == nullptr) throw nb::python_error();
    text.append(utf8, static_cast<size_t>(size));
    ends.push_back(text.size());
  }
}

// A byte-level BPE model from the vocabulary and merges as lists of str: the strings are copied
// with the GIL held (~ms), the tables built without it.
void new_byte_pair_model(glassbox::BytePairModel* self, nb::handle tokens, nb::handle merges) {
  std::string token_text, merge_text;
  std::vector<size_t> token_ends, merge_ends;
  gather_utf8(tokens, token_text, token_ends, "tokens");
  gather_utf8(merges, merge_text, merge_ends, "merges");
  nb::gil_scoped_release release;
  new (self) glassbox::BytePairModel(std::move(token_text), token_ends, std::move(merge_text), merge_ends);
}

// The ids of pre-tokenized pieces (a list of str), in order; merged without the GIL.
std::vector<uint32_t> byte_pair_encode(const glassbox::BytePairModel& model, nb::handle pieces) {
  std::string text;
  std::vector<size_t> ends;
  gather_utf8(pieces, text, ends, "pieces");
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 2 + 1);
  nb::gil_scoped_release release;
  size_t start = 0;
  for (size_t end : ends) {
    model.encode(std::string_view(text).substr(start, end - start), ids);
    start = end;
  }
  return ids;
}

}  // namespace

NB_MODULE(_glassbox_native, m) {
  m.doc() = "Glassbox's CPU kernels as MLX operations (quantized matmul, decode attention, norms, RoPE)";
  m.def("quantized_matmul", &glassbox::quantized_matmul, "x"_a, "w"_a, "scales"_a, "biases"_a,
        "group_size"_a, "bits"_a, "x @ W.T for W in MLX's affine quantized layout (float32 result).");
  m.def("quantized_matmuls", &glassbox::quantized_matmuls, "x"_a, "weights"_a, "group_size"_a, "bits"_a,
        "[x @ W_i.T] for quantized matrices sharing x (weights: w, scales, biases per matrix), one operation.");
  m.def("quantized_swiglu", &glassbox::quantized_swiglu, "x"_a, "gate"_a, "up"_a, "group_size"_a, "bits"_a,
        "gelu"_a = false,
        "silu(x @ G.T) * (x @ U.T) (gelu: gelu_tanh instead of silu) for quantized G and U (each: w, scales, "
        "biases), one operation.");
  m.def("quantized_take", &glassbox::quantized_take, "w"_a, "scales"_a, "biases"_a, "ids"_a, "group_size"_a,
        "bits"_a, "Rows ids of a quantized matrix, dequantized (an embedding lookup): (ids..., K) float32.");
  m.def("dequantize", &glassbox::dequantize, "w"_a, "scales"_a, "biases"_a, "group_size"_a, "bits"_a,
        "The dense (N, K) float32 matrix of a quantized one.");
  m.def("decode_attention", &glassbox::decode_attention, "q"_a, "k"_a, "v"_a, "scale"_a,
        "softmax(q k^T * scale) v for one query per head (B, H, 1, D).");
  m.def("prefill_attention", &glassbox::prefill_attention, "q"_a, "k"_a, "v"_a, "scale"_a, "causal"_a, "q0"_a,
        "k0"_a, "window"_a,
        "softmax(q k^T * scale) v for many queries (B, H, L, D) under a causal (optionally sliding-window) band.");
  m.def("kv_write", &glassbox::kv_write, "buf"_a, "x"_a, "row"_a, "inv_freq"_a.none(), "dims"_a,
        "traditional"_a, "scale"_a, "position"_a, "norm_weight"_a.none() = nb::none(), "norm_eps"_a = 0.0f,
        "A cache buffer (B, heads, capacity, D) with row `row` replaced by x (B, 1, heads * D), "
        "RMS-normalised per head if norm_weight, RoPE'd if inv_freq.");
  m.def("rotary_decode_attention", &glassbox::rotary_decode_attention, "q"_a, "k_buf"_a, "v_buf"_a,
        "inv_freq"_a, "dims"_a, "traditional"_a, "rope_scale"_a, "position"_a, "first_row"_a, "n_rows"_a,
        "scale"_a, "norm_weight"_a.none() = nb::none(), "norm_eps"_a = 0.0f,
        "One decode step's attention from q (B, 1, H * D) (RMS-normalised per head if norm_weight) over "
        "cache buffer rows -> (B, 1, H * Dv).");
  m.def("quantized_kv_write", &glassbox::quantized_kv_write, "buf"_a, "x"_a, "row"_a, "group_size"_a, "bits"_a,
        "inv_freq"_a.none(), "dims"_a, "traditional"_a, "scale"_a, "position"_a, "norm_weight"_a.none(),
        "norm_eps"_a, "kv_write into a quantized cache buffer [w, scales, biases] -> the three buffers.");
  m.def("quantized_rotary_decode_attention", &glassbox::quantized_rotary_decode_attention, "q"_a, "k_buf"_a,
        "v_buf"_a, "group_size"_a, "bits"_a, "inv_freq"_a, "dims"_a, "traditional"_a, "rope_scale"_a,
        "position"_a, "first_row"_a, "n_rows"_a, "scale"_a, "norm_weight"_a.none(), "norm_eps"_a,
        "rotary_decode_attention over quantized key and value buffers -> (B, 1, H * Dv).");
  m.def("kv_write_copies", &glassbox::kv_write_copies,
        "Cache buffers kv_write copied instead of writing in place (since load).");
  m.def("gated_activation", &glassbox::gated_activation, "g"_a, "u"_a, "gelu"_a,
        "silu(g) * u, or gelu_tanh(g) * u, elementwise over the kernel threads.");
  m.def("rms_norm", &glassbox::rms_norm, "x"_a, "weight"_a, "eps"_a, "RMSNorm over the last axis.");
  m.def("rope", &glassbox::rope, "x"_a, "inv_freq"_a, "dims"_a, "traditional"_a, "scale"_a, "offset"_a,
        "Rotary embedding of x (..., L, D) at positions offset .. offset + L - 1.");
  m.def("gguf_strings", &gguf_strings, "buf"_a, "pos"_a, "count"_a,
        "count GGUF strings from buf[pos:] -> (list of str, end position); ValueError when truncated.");
  m.def("blocks_to_affine", &convert_blocks, "raw"_a, "kind"_a, "rows"_a, "cols"_a,
        "ggml Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q5_K/Q6_K blocks -> affine (w uint32, scales and biases float32).");
  m.def("read_blocks", &read_blocks, "fd"_a, "specs"_a,
        "GGUF tensors [(offset, n_bytes, kind, rows, cols)] read from fd and converted as blocks_to_affine.");
  m.def("map_arrays", &map_arrays, "path"_a, "size"_a, "payload"_a, "checksum"_a, "specs"_a,
        "Arrays [(offset, shape, dtype name)] left in a private mapping of path, after its payload's checksum is checked.");
  m.def("file_checksum", &file_checksum, "path"_a, "start"_a,
        "The checksum map_arrays checks, of the file's bytes from `start` to its end.");
  m.def("kernel_name", &glassbox::kernel_name, "bits"_a, "group_size"_a,
        "The quantized-matmul kernel this CPU uses for (bits, group_size): 'avx2' or 'scalar'.");
  m.def("cpu_has_avx2_fma", &glassbox::cpu_has_avx2_fma);
  m.def("threads", [] { return glassbox::ThreadPool::instance().size(); },
        "Threads a kernel call uses (the caller included).");
  m.def("set_threads", [](int n) { glassbox::ThreadPool::instance().resize(n); }, "n"_a,
        "Use n threads (>= 1) for the kernels from now on.");
  nb::class_<glassbox::BytePairModel>(m, "BytePairModel",
                                       "A byte-level BPE vocabulary and its merges (engine/_native/bpe.h).")
      .def("__init__", &new_byte_pair_model, "tokens"_a, "merges"_a,
           "tokens: list of str (id = index); merges: list of \"left right\" (rank = index). ValueError when a "
           "merge has no space or names a token not in the vocabulary.")
      .def("encode", &byte_pair_encode, "pieces"_a, "The ids of pre-tokenized pieces (list of str), in order.")
      .def("rank", [](const glassbox::BytePairModel& model, const std::string& left, const std::string& right) {
             const int64_t rank = model.rank(left, right);
             return rank < 0 ? std::optional<int64_t>() : std::optional<int64_t>(rank);
           }, "left"_a, "right"_a, "The rank of the merge rule joining tokens `left` and `right`, or None.")
      .def_prop_ro("vocab_size", &glassbox::BytePairModel::vocab_size)
      .def_prop_ro("merge_count", &glassbox::BytePairModel::merge_count);
}
