// Python bindings: `engine/_native` builds the module `_glassbox_native` (see build.py).
#include <nanobind/nanobind.h>

#include "ops.h"
#include "threads.h"

namespace nb = nanobind;
using namespace nb::literals;

NB_MODULE(_glassbox_native, m) {
  m.doc() = "Glassbox's CPU kernels as MLX operations (quantized matmul, decode attention, norms, RoPE)";
  m.def("quantized_matmul", &glassbox::quantized_matmul, "x"_a, "w"_a, "scales"_a, "biases"_a,
        "group_size"_a, "bits"_a, "x @ W.T for W in MLX's affine quantized layout (float32 result).");
  m.def("dequantize", &glassbox::dequantize, "w"_a, "scales"_a, "biases"_a, "group_size"_a, "bits"_a,
        "The dense (N, K) float32 matrix of a quantized one.");
  m.def("decode_attention", &glassbox::decode_attention, "q"_a, "k"_a, "v"_a, "scale"_a,
        "softmax(q k^T * scale) v for one query per head (B, H, 1, D).");
  m.def("rms_norm", &glassbox::rms_norm, "x"_a, "weight"_a, "eps"_a, "RMSNorm over the last axis.");
  m.def("rope", &glassbox::rope, "x"_a, "inv_freq"_a, "dims"_a, "traditional"_a, "scale"_a, "offset"_a,
        "Rotary embedding of x (..., L, D) at positions offset .. offset + L - 1.");
  m.def("kernel_name", &glassbox::kernel_name, "bits"_a, "group_size"_a,
        "The quantized-matmul kernel this CPU uses for (bits, group_size): 'avx2' or 'scalar'.");
  m.def("cpu_has_avx2_fma", &glassbox::cpu_has_avx2_fma);
  m.def("threads", [] { return glassbox::ThreadPool::instance().size(); },
        "Threads a kernel call uses (the caller included).");
  m.def("set_threads", [](int n) { glassbox::ThreadPool::instance().resize(n); }, "n"_a,
        "Use n threads (>= 1) for the kernels from now on.");
}
