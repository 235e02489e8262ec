#include "ops.h"

#include <atomic>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "decode_kernels.h"
#include "prefill_attention.h"
#include "threads.h"
#include "mlx/allocator.h"
#include "mlx/backend/cpu/encoder.h"
#include "qmm_kernels.h"

namespace glassbox {

namespace {

mx::Stream cpu_stream() {
  return mx::default_stream(mx::Device::cpu);
}

// A float32 array's elements in row-major order: its own buffer when that is already the case,
// otherwise a gathered copy. Built on the stream thread, when the input's data is ready.
struct RowMajor {
  const float* ptr;
  mx::Shape shape;
  mx::Strides strides;
  bool contiguous;
  size_t size;

  explicit RowMajor(const mx::array& a)
      : ptr(a.data<float>()),
        shape(a.shape()),
        strides(a.strides()),
        contiguous(a.flags().row_contiguous),
        size(a.size()) {}

  const float* get(std::vector<float>& buffer) const {
    if (contiguous) {
      return ptr;
    }
    buffer.resize(size);
    const int nd = static_cast<int>(shape.size());
    if (nd >= 1 && strides[nd - 1] == 1 && shape[nd - 1] > 1) {
      // rows contiguous (a transposed or sliced view): one copy per row
      const int64_t row = shape[nd - 1];
      std::vector<int> idx(nd - 1, 0);
      for (size_t start = 0; start < size; start += row) {
        int64_t loc = 0;
        for (int d = 0; d < nd - 1; ++d) loc += idx[d] * strides[d];
        std::memcpy(buffer.data() + start, ptr + loc, row * sizeof(float));
        for (int d = nd - 2; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
      return buffer.data();
    }
    std::vector<int> idx(nd, 0);
    for (size_t i = 0; i < size; ++i) {
      int64_t loc = 0;
      for (int d = 0; d < nd; ++d) {
        loc += idx[d] * strides[d];
      }
      buffer[i] = ptr[loc];
      for (int d = nd - 1; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    return buffer.data();
  }
};

void allocate(mx::array& out) {
  out.set_data(mx::allocator::malloc(out.nbytes()));
}

[[noreturn]] void fail(const std::string& msg) {
  throw std::invalid_argument(msg);
}

// ------------------------------------------------------------------------------------------

class QuantizedMatmul : public mx::UnaryPrimitive {
 public:
  QuantizedMatmul(mx::Stream s, int group, int bits) : UnaryPrimitive(s), group_(group), bits_(bits) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& x = inputs[0];
    const auto& w = inputs[1];
    const auto& scales = inputs[2];
    const auto& biases = inputs[3];
    for (const auto* a : {&w, &scales, &biases}) {
      if (!a->flags().row_contiguous) fail("glassbox quantized_matmul: weights must be row-contiguous");
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(x);
    encoder.set_output_array(out);
    const int K = x.shape(-1);
    const int M = static_cast<int>(x.size() / K);
    QMatrix W{reinterpret_cast<const uint8_t*>(w.data<uint32_t>()), scales.data<float>(),
              biases.data<float>(), w.shape(0), K, group_, bits_};
    encoder.dispatch([W, xv = RowMajor(x), M, y = out.data<float>()]() {
      std::vector<float> buffer;
      quantized_matmul(W, xv.get(buffer), M, y);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox quantized_matmul runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxQuantizedMatmul";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const QuantizedMatmul&>(other);
    return group_ == o.group_ && bits_ == o.bits_;
  }

 private:
  int group_;
  int bits_;
};

// Several quantized products of one input (multi-output): one node in the graph, one task.
class QuantizedMatmuls : public mx::Primitive {
 public:
  QuantizedMatmuls(mx::Stream s, int group, int bits) : Primitive(s), group_(group), bits_(bits) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    const auto& x = inputs[0];
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);
    const int K = x.shape(-1);
    const int M = static_cast<int>(x.size() / K);
    std::vector<QMatrix> mats;
    std::vector<float*> ys;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const auto& w = inputs[1 + 3 * i];
      const auto& scales = inputs[2 + 3 * i];
      const auto& biases = inputs[3 + 3 * i];
      for (const auto* a : {&w, &scales, &biases}) {
        if (!a->flags().row_contiguous) fail("glassbox quantized_matmuls: weights must be row-contiguous");
      }
      allocate(outputs[i]);
      encoder.set_output_array(outputs[i]);
      mats.push_back(QMatrix{reinterpret_cast<const uint8_t*>(w.data<uint32_t>()), scales.data<float>(),
                             biases.data<float>(), w.shape(0), K, group_, bits_});
      ys.push_back(outputs[i].data<float>());
    }
    encoder.dispatch([mats = std::move(mats), ys = std::move(ys), xv = RowMajor(x), M]() {
      std::vector<float> buffer;
      const float* X = xv.get(buffer);
      for (size_t i = 0; i < mats.size(); ++i) quantized_matmul(mats[i], X, M, ys[i]);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("glassbox quantized_matmuls runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxQuantizedMatmuls";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const QuantizedMatmuls&>(other);
    return group_ == o.group_ && bits_ == o.bits_;
  }

 private:
  int group_;
  int bits_;
};

class QuantizedSwiGLU : public mx::UnaryPrimitive {
 public:
  // gelu: the gate's activation is GELU's tanh approximation (GeGLU) instead of SiLU.
  QuantizedSwiGLU(mx::Stream s, int group, int bits, bool gelu)
      : UnaryPrimitive(s), group_(group), bits_(bits), gelu_(gelu) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& x = inputs[0];
    for (size_t i = 1; i < inputs.size(); ++i) {
      if (!inputs[i].flags().row_contiguous) fail("glassbox quantized_swiglu: weights must be row-contiguous");
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);
    encoder.set_output_array(out);
    const int K = x.shape(-1);
    const int M = static_cast<int>(x.size() / K);
    auto matrix = [&](int first) {
      const auto& w = inputs[first];
      return QMatrix{reinterpret_cast<const uint8_t*>(w.data<uint32_t>()), inputs[first + 1].data<float>(),
                     inputs[first + 2].data<float>(), w.shape(0), K, group_, bits_};
    };
    encoder.dispatch([G = matrix(1), U = matrix(4), xv = RowMajor(x), M, y = out.data<float>(), gelu = gelu_]() {
      std::vector<float> buffer;
      thread_local std::vector<float> gate;
      gate.resize(static_cast<size_t>(M) * G.N);
      const float* X = xv.get(buffer);
      quantized_matmul(G, X, M, gate.data());
      quantized_matmul(U, X, M, y);
      (gelu ? gelu_mul : silu_mul)(gate.data(), y, static_cast<int64_t>(M) * G.N);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox quantized_swiglu runs on the CPU only");
  }
  const char* name() const override {
    return gelu_ ? "GlassboxQuantizedGeGLU" : "GlassboxQuantizedSwiGLU";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const QuantizedSwiGLU&>(other);
    return group_ == o.group_ && bits_ == o.bits_ && gelu_ == o.gelu_;
  }

 private:
  int group_;
  int bits_;
  bool gelu_;
};

class QuantizedTake : public mx::UnaryPrimitive {
 public:
  QuantizedTake(mx::Stream s, int group, int bits) : UnaryPrimitive(s), group_(group), bits_(bits) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& w = inputs[0];
    const auto& scales = inputs[1];
    const auto& biases = inputs[2];
    const auto& ids = inputs[3];
    for (const auto* a : {&w, &scales, &biases, &ids}) {
      if (!a->flags().row_contiguous) fail("glassbox quantized_take: inputs must be row-contiguous");
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);
    encoder.set_output_array(out);
    const int K = out.shape(-1);
    QMatrix W{reinterpret_cast<const uint8_t*>(w.data<uint32_t>()), scales.data<float>(),
              biases.data<float>(), w.shape(0), K, group_, bits_};
    encoder.dispatch([W, idp = ids.data<int32_t>(), n = ids.size(), o = out.data<float>()]() {
      for (size_t i = 0; i < n; ++i) {
        float* row = o + static_cast<int64_t>(i) * W.K;
        if (idp[i] < 0 || idp[i] >= W.N) {
          std::fill(row, row + W.K, 0.0f);
        } else {
          dequantize_rows(W, idp[i], idp[i] + 1, row);
        }
      }
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox quantized_take runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxQuantizedTake";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const QuantizedTake&>(other);
    return group_ == o.group_ && bits_ == o.bits_;
  }

 private:
  int group_;
  int bits_;
};

class Dequantize : public mx::UnaryPrimitive {
 public:
  Dequantize(mx::Stream s, int group, int bits) : UnaryPrimitive(s), group_(group), bits_(bits) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& w = inputs[0];
    const auto& scales = inputs[1];
    const auto& biases = inputs[2];
    for (const auto* a : {&w, &scales, &biases}) {
      if (!a->flags().row_contiguous) fail("glassbox dequantize: weights must be row-contiguous");
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(w);
    encoder.set_output_array(out);
    QMatrix W{reinterpret_cast<const uint8_t*>(w.data<uint32_t>()), scales.data<float>(),
              biases.data<float>(), out.shape(0), out.shape(1), group_, bits_};
    encoder.dispatch([W, o = out.data<float>()]() { dequantize(W, o); });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox dequantize runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxDequantize";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const Dequantize&>(other);
    return group_ == o.group_ && bits_ == o.bits_;
  }

 private:
  int group_;
  int bits_;
};

class DecodeAttention : public mx::UnaryPrimitive {
 public:
  DecodeAttention(mx::Stream s, float scale) : UnaryPrimitive(s), scale_(scale) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& q = inputs[0];
    const auto& k = inputs[1];
    const auto& v = inputs[2];
    if (k.strides(-1) != 1 || v.strides(-1) != 1) {
      fail("glassbox decode_attention: keys and values need a unit stride along head_dim");
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(q);
    encoder.set_input_array(k);
    encoder.set_input_array(v);
    encoder.set_output_array(out);
    auto view = [](const mx::array& a) {
      return KVView{a.data<float>(), a.strides(0), a.strides(1), a.strides(2)};
    };
    encoder.dispatch([qv = RowMajor(q), kv = view(k), vv = view(v), o = out.data<float>(),
                      B = q.shape(0), H = q.shape(1), Hkv = k.shape(1), S = k.shape(2),
                      D = q.shape(3), Dv = v.shape(3), scale = scale_]() {
      std::vector<float> buffer;
      decode_attention(qv.get(buffer), kv, vv, o, B, H, Hkv, S, D, Dv, scale);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox decode_attention runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxDecodeAttention";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return scale_ == static_cast<const DecodeAttention&>(other).scale_;
  }

 private:
  float scale_;
};

class PrefillAttention : public mx::UnaryPrimitive {
 public:
  PrefillAttention(mx::Stream s, float scale, AttentionBand band) : UnaryPrimitive(s), scale_(scale), band_(band) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);
    encoder.set_output_array(out);
    // Strided views where the last axis is contiguous (a transposed query, a slice of a cache
    // buffer); anything else is gathered row-major first.
    auto view = [](const mx::array& a) {
      return std::pair{RowMajor(a), a.strides(-1) == 1};
    };
    encoder.dispatch([qa = view(inputs[0]), ka = view(inputs[1]), va = view(inputs[2]), o = out.data<float>(),
                      B = inputs[0].shape(0), H = inputs[0].shape(1), L = inputs[0].shape(2),
                      Hkv = inputs[1].shape(1), S = inputs[1].shape(2), D = inputs[0].shape(3),
                      Dv = inputs[2].shape(3), scale = scale_, band = band_]() {
      std::vector<float> qbuf, kbuf, vbuf;
      auto heads = [](const std::pair<RowMajor, bool>& a, std::vector<float>& buffer) {
        const auto& [rows, unit] = a;
        if (unit) {
          return HeadsView{rows.ptr, rows.strides[0], rows.strides[1], rows.strides[2]};
        }
        const int64_t n = rows.shape[2], d = rows.shape[3];
        return HeadsView{rows.get(buffer), rows.shape[1] * n * d, n * d, d};
      };
      prefill_attention(heads(qa, qbuf), heads(ka, kbuf), heads(va, vbuf), o, B, H, Hkv, L, S, D, Dv, scale, band);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox prefill_attention runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxPrefillAttention";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const PrefillAttention&>(other);
    return scale_ == o.scale_ && band_.causal == o.band_.causal && band_.q0 == o.band_.q0 &&
           band_.k0 == o.band_.k0 && band_.window == o.band_.window;
  }

 private:
  float scale_;
  AttentionBand band_;
};

// act(g) * u elementwise (SwiGLU's or GeGLU's gate) over the thread pool: MLX runs an elementwise
// kernel on one thread, and a prompt chunk's hidden layer is (chunk, intermediate) values.
class GatedActivation : public mx::UnaryPrimitive {
 public:
  GatedActivation(mx::Stream s, bool gelu) : UnaryPrimitive(s), gelu_(gelu) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);
    encoder.set_output_array(out);
    encoder.dispatch([g = RowMajor(inputs[0]), u = RowMajor(inputs[1]), o = out.data<float>(), gelu = gelu_]() {
      std::vector<float> gbuf, ubuf;
      const float* gp = g.get(gbuf);
      const float* up = u.get(ubuf);
      const int64_t n = static_cast<int64_t>(g.size), chunk = 16384;
      ThreadPool::instance().parallel_for(static_cast<int>((n + chunk - 1) / chunk), [&](int task) {
        const int64_t start = task * chunk, len = std::min(chunk, n - start);
        std::memcpy(o + start, up + start, len * sizeof(float));
        (gelu ? gelu_mul : silu_mul)(gp + start, o + start, len);
      });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox gated_activation runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxGatedActivation";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return gelu_ == static_cast<const GatedActivation&>(other).gelu_;
  }

 private:
  bool gelu_;
};

class RMSNorm : public mx::UnaryPrimitive {
 public:
  RMSNorm(mx::Stream s, float eps) : UnaryPrimitive(s), eps_(eps) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& x = inputs[0];
    const auto& w = inputs[1];
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(x);
    encoder.set_input_array(w);
    encoder.set_output_array(out);
    const int D = x.shape(-1);
    encoder.dispatch([xv = RowMajor(x), wv = RowMajor(w), o = out.data<float>(),
                      rows = static_cast<int64_t>(x.size() / D), D, eps = eps_]() {
      std::vector<float> xb, wb;
      rms_norm(xv.get(xb), wv.get(wb), o, rows, D, eps);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox rms_norm runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxRMSNorm";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return eps_ == static_cast<const RMSNorm&>(other).eps_;
  }

 private:
  float eps_;
};

class RoPE : public mx::UnaryPrimitive {
 public:
  RoPE(mx::Stream s, int dims, bool traditional, float scale, int offset)
      : UnaryPrimitive(s), dims_(dims), traditional_(traditional), scale_(scale), offset_(offset) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& x = inputs[0];
    const auto& inv_freq = inputs[1];
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(x);
    encoder.set_input_array(inv_freq);
    encoder.set_output_array(out);
    const int D = x.shape(-1), L = x.shape(-2);
    encoder.dispatch([xv = RowMajor(x), fv = RowMajor(inv_freq), o = out.data<float>(),
                      n_seq = static_cast<int64_t>(x.size() / (static_cast<size_t>(D) * L)), L, D,
                      dims = dims_, traditional = traditional_, scale = scale_, offset = offset_]() {
      std::vector<float> xb, fb;
      rope(xv.get(xb), o, fv.get(fb), n_seq, L, D, dims, traditional, scale, offset);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox rope runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxRoPE";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const RoPE&>(other);
    return dims_ == o.dims_ && traditional_ == o.traditional_ && scale_ == o.scale_ &&
        offset_ == o.offset_;
  }

 private:
  int dims_;
  bool traditional_;
  float scale_;
  int offset_;
};

std::atomic<int64_t> g_kv_write_copies{0};

// Writes one row per head of a cache buffer; its output takes over the buffer when MLX says the
// input may be donated (no other array or view holds it), like MLX's own slice update.
class KVWrite : public mx::UnaryPrimitive {
 public:
  KVWrite(mx::Stream s, int64_t row, bool rotate, int dims, bool traditional, float scale, int64_t position,
          bool norm, float norm_eps)
      : UnaryPrimitive(s), row_(row), rotate_(rotate), dims_(dims), traditional_(traditional),
        scale_(scale), position_(position), norm_(norm), norm_eps_(norm_eps) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& buf = inputs[0];
    const auto& x = inputs[1];
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(buf);
    encoder.set_input_array(x);
    const bool in_place = buf.flags().row_contiguous && buf.is_donatable();
    if (in_place) {
      out.copy_shared_buffer(buf);
    } else {
      allocate(out);
      g_kv_write_copies.fetch_add(1, std::memory_order_relaxed);
    }
    encoder.set_output_array(out);
    const float* freqs = nullptr;
    size_t next = 2;  // the optional inputs follow buf and x: inv_freq, then the norm's weight
    if (rotate_) {
      encoder.set_input_array(inputs[next]);
      freqs = inputs[next++].data<float>();
    }
    std::optional<RowMajor> wv;
    if (norm_) {
      encoder.set_input_array(inputs[next]);
      wv = RowMajor(inputs[next]);
    }
    encoder.dispatch([bv = in_place ? std::optional<RowMajor>() : std::optional<RowMajor>(RowMajor(buf)),
                      xv = RowMajor(x), wv, o = out.data<float>(), size = out.size(), freqs,
                      B = buf.shape(0), H = buf.shape(1), cap = static_cast<int64_t>(buf.shape(2)),
                      D = buf.shape(3), row = row_, dims = dims_, traditional = traditional_,
                      scale = scale_, position = position_, eps = norm_eps_]() {
      if (bv) {  // the old contents first, then the new row
        std::vector<float> gathered;
        const float* src = bv->get(gathered);
        std::copy(src, src + size, o);
      }
      std::vector<float> xb, wb;
      kv_write_row(xv.get(xb), o, B, H, cap, D, row, freqs, dims, traditional, scale, position,
                   wv ? wv->get(wb) : nullptr, eps);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox kv_write runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxKVWrite";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const KVWrite&>(other);
    return row_ == o.row_ && rotate_ == o.rotate_ && dims_ == o.dims_ && traditional_ == o.traditional_ &&
        scale_ == o.scale_ && position_ == o.position_ && norm_ == o.norm_ && norm_eps_ == o.norm_eps_;
  }

 private:
  int64_t row_;
  bool rotate_;
  int dims_;
  bool traditional_;
  float scale_;
  int64_t position_;
  bool norm_;
  float norm_eps_;
};

class RotaryDecodeAttention : public mx::UnaryPrimitive {
 public:
  RotaryDecodeAttention(mx::Stream s, int dims, bool traditional, float rope_scale, int64_t position,
                        int64_t first_row, int64_t n_rows, float scale, bool norm, float norm_eps)
      : UnaryPrimitive(s), dims_(dims), traditional_(traditional), rope_scale_(rope_scale),
        position_(position), first_row_(first_row), n_rows_(n_rows), scale_(scale), norm_(norm),
        norm_eps_(norm_eps) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& q = inputs[0];
    const auto& k = inputs[1];
    const auto& v = inputs[2];
    const auto& inv_freq = inputs[3];
    if (k.strides(-1) != 1 || v.strides(-1) != 1) {
      fail("glassbox rotary_decode_attention: cache buffers need a unit stride along head_dim");
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);  // q, k, v, inv_freq[, norm weight]
    encoder.set_output_array(out);
    std::optional<RowMajor> wv;
    if (norm_) wv = RowMajor(inputs[4]);
    auto view = [first = first_row_](const mx::array& a) {
      return KVView{a.data<float>() + first * a.strides(2), a.strides(0), a.strides(1), a.strides(2)};
    };
    const int H = q.shape(2) / k.shape(3);
    encoder.dispatch([qv = RowMajor(q), fv = RowMajor(inv_freq), wv, kv = view(k), vv = view(v),
                      o = out.data<float>(), B = q.shape(0), H, Hkv = k.shape(1),
                      S = static_cast<int>(n_rows_), D = k.shape(3), Dv = v.shape(3), dims = dims_,
                      traditional = traditional_, rope_scale = rope_scale_, position = position_,
                      scale = scale_, eps = norm_eps_]() {
      std::vector<float> qb, fb, wb;
      thread_local std::vector<float> normed, rotated;
      const int64_t rows = static_cast<int64_t>(B) * H;
      const float* query = qv.get(qb);
      if (wv) {  // the query norm (per head) before RoPE
        normed.resize(static_cast<size_t>(rows) * D);
        rms_norm(query, wv->get(wb), normed.data(), rows, D, eps);
        query = normed.data();
      }
      rotated.resize(static_cast<size_t>(rows) * D);
      rope(query, rotated.data(), fv.get(fb), rows, 1, D, dims, traditional, rope_scale, position);
      decode_attention(rotated.data(), kv, vv, o, B, H, Hkv, S, D, Dv, scale);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox rotary_decode_attention runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxRotaryDecodeAttention";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const RotaryDecodeAttention&>(other);
    return dims_ == o.dims_ && traditional_ == o.traditional_ && rope_scale_ == o.rope_scale_ &&
        position_ == o.position_ && first_row_ == o.first_row_ && n_rows_ == o.n_rows_ && scale_ == o.scale_ &&
        norm_ == o.norm_ && norm_eps_ == o.norm_eps_;
  }

 private:
  int dims_;
  bool traditional_;
  float rope_scale_;
  int64_t position_;
  int64_t first_row_;
  int64_t n_rows_;
  float scale_;
  bool norm_;
  float norm_eps_;
};

// The 4-byte elements of `a` (any layout) in row-major order at dst: a strided gather, bit for bit.
void gather_words(const mx::array& a, char* dst) {
  const char* src = a.data<char>();
  const int nd = a.ndim();
  std::vector<int> idx(nd, 0);
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t loc = 0;
    for (int d = 0; d < nd; ++d) loc += idx[d] * a.strides(d);
    std::memcpy(dst + i * 4, src + loc * 4, 4);
    for (int d = nd - 1; d >= 0 && ++idx[d] == a.shape(d); --d) idx[d] = 0;
  }
}

// The buffers of a quantized KV cache (w, scales, biases), each row-contiguous.
QuantizedKV quantized_kv(const mx::array& w, const mx::array& scales, const mx::array& biases, int group,
                         int bits) {
  return QuantizedKV{const_cast<uint32_t*>(w.data<uint32_t>()), const_cast<float*>(scales.data<float>()),
                     const_cast<float*>(biases.data<float>()), static_cast<int64_t>(w.shape(2)),
                     static_cast<int>(scales.shape(3)) * group, group, bits};
}

// kv_write for one part (0: w, 1: scales, 2: biases) of a quantized cache buffer: one row per
// head quantized from x (normed and turned first when asked), that part written. Three operations
// for the three parts, each a unary one so that its output can take over its buffer (MLX donates
// no input of a multi-output operation: every output holds the inputs).
class QuantizedKVWrite : public mx::UnaryPrimitive {
 public:
  QuantizedKVWrite(mx::Stream s, int part, int64_t row, int D, int group, int bits, bool rotate, int dims,
                   bool traditional, float scale, int64_t position, bool norm, float norm_eps)
      : UnaryPrimitive(s), part_(part), row_(row), D_(D), group_(group), bits_(bits), rotate_(rotate), dims_(dims),
        traditional_(traditional), scale_(scale), position_(position), norm_(norm), norm_eps_(norm_eps) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& buf = inputs[0];
    const auto& x = inputs[1];
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);
    const bool contiguous = buf.flags().row_contiguous;
    const bool in_place = contiguous && buf.is_donatable();
    if (in_place) {
      out.copy_shared_buffer(buf);
    } else {
      allocate(out);
      g_kv_write_copies.fetch_add(1, std::memory_order_relaxed);
    }
    encoder.set_output_array(out);
    size_t next = 2;
    const float* freqs = rotate_ ? inputs[next++].data<float>() : nullptr;
    const float* norm_w = norm_ ? inputs[next].data<float>() : nullptr;
    QuantizedKV target{nullptr, nullptr, nullptr, static_cast<int64_t>(buf.shape(2)), D_, group_, bits_};
    if (part_ == 0) {
      target.w = out.data<uint32_t>();
    } else {
      (part_ == 1 ? target.scales : target.biases) = out.data<float>();
    }
    encoder.dispatch([src = in_place || !contiguous ? nullptr : buf.data<char>(), dst = out.data<char>(),
                      bytes = out.nbytes(), strided = contiguous ? std::optional<mx::array>() : std::optional(buf),
                      xv = RowMajor(x), target, B = buf.shape(0), H = buf.shape(1), row = row_, freqs,
                      dims = dims_, traditional = traditional_, scale = scale_, position = position_, norm_w,
                      eps = norm_eps_]() {
      if (src != nullptr) std::memcpy(dst, src, bytes);  // the old contents first, then the new row
      if (strided) gather_words(*strided, dst);  // (a view: a slice of a larger buffer)
      std::vector<float> xb;
      quantized_kv_write_row(xv.get(xb), target, B, H, row, freqs, dims, traditional, scale, position, norm_w,
                             eps);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox quantized_kv_write runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxQuantizedKVWrite";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const QuantizedKVWrite&>(other);
    return part_ == o.part_ && row_ == o.row_ && D_ == o.D_ && group_ == o.group_ && bits_ == o.bits_ &&
        rotate_ == o.rotate_ && dims_ == o.dims_ && traditional_ == o.traditional_ && scale_ == o.scale_ &&
        position_ == o.position_ && norm_ == o.norm_ && norm_eps_ == o.norm_eps_;
  }

 private:
  int part_;
  int64_t row_;
  int D_;
  int group_;
  int bits_;
  bool rotate_;
  int dims_;
  bool traditional_;
  float scale_;
  int64_t position_;
  bool norm_;
  float norm_eps_;
};

// rotary_decode_attention over quantized key and value buffers.
class QuantizedRotaryDecodeAttention : public mx::UnaryPrimitive {
 public:
  QuantizedRotaryDecodeAttention(mx::Stream s, int group, int bits, int dims, bool traditional, float rope_scale,
                                 int64_t position, int64_t first_row, int64_t n_rows, float scale, bool norm,
                                 float norm_eps)
      : UnaryPrimitive(s), group_(group), bits_(bits), dims_(dims), traditional_(traditional),
        rope_scale_(rope_scale), position_(position), first_row_(first_row), n_rows_(n_rows), scale_(scale),
        norm_(norm), norm_eps_(norm_eps) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    for (int i = 1; i <= 6; ++i) {
      if (!inputs[i].flags().row_contiguous) {
        fail("glassbox quantized_rotary_decode_attention: cache buffers must be row-contiguous");
      }
    }
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : inputs) encoder.set_input_array(a);  // q, k (3), v (3), inv_freq[, norm weight]
    encoder.set_output_array(out);
    std::optional<RowMajor> wv;
    if (norm_) wv = RowMajor(inputs[8]);
    const auto& q = inputs[0];
    const auto kq = quantized_kv(inputs[1], inputs[2], inputs[3], group_, bits_);
    const auto vq = quantized_kv(inputs[4], inputs[5], inputs[6], group_, bits_);
    encoder.dispatch([qv = RowMajor(q), fv = RowMajor(inputs[7]), wv, kq, vq, o = out.data<float>(),
                      B = q.shape(0), H = q.shape(2) / kq.D, Hkv = inputs[1].shape(1), first = first_row_,
                      S = static_cast<int>(n_rows_), dims = dims_, traditional = traditional_,
                      rope_scale = rope_scale_, position = position_, scale = scale_, eps = norm_eps_]() {
      std::vector<float> qb, fb, wb;
      thread_local std::vector<float> normed, rotated;
      const int64_t rows = static_cast<int64_t>(B) * H;
      const float* query = qv.get(qb);
      if (wv) {
        normed.resize(static_cast<size_t>(rows) * kq.D);
        rms_norm(query, wv->get(wb), normed.data(), rows, kq.D, eps);
        query = normed.data();
      }
      rotated.resize(static_cast<size_t>(rows) * kq.D);
      rope(query, rotated.data(), fv.get(fb), rows, 1, kq.D, dims, traditional, rope_scale, position);
      quantized_decode_attention(rotated.data(), kq, vq, o, B, H, Hkv, first, S, scale);
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("glassbox quantized_rotary_decode_attention runs on the CPU only");
  }
  const char* name() const override {
    return "GlassboxQuantizedRotaryDecodeAttention";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const QuantizedRotaryDecodeAttention&>(other);
    return group_ == o.group_ && bits_ == o.bits_ && dims_ == o.dims_ && traditional_ == o.traditional_ &&
        rope_scale_ == o.rope_scale_ && position_ == o.position_ && first_row_ == o.first_row_ &&
        n_rows_ == o.n_rows_ && scale_ == o.scale_ && norm_ == o.norm_ && norm_eps_ == o.norm_eps_;
  }

 private:
  int group_;
  int bits_;
  int dims_;
  bool traditional_;
  float rope_scale_;
  int64_t position_;
  int64_t first_row_;
  int64_t n_rows_;
  float scale_;
  bool norm_;
  float norm_eps_;
};

mx::array as_f32(const mx::array& a, mx::Stream s) {
  return a.dtype() == mx::float32 ? a : mx::astype(a, mx::float32, s);
}

}  // namespace

// ------------------------------------------------------------------------------------------

namespace {
// Checks a quantized matrix for K input features; returns N.
int check_quantized(const char* op, int K, const mx::array& w, const mx::array& scales,
                    const mx::array& biases, int group_size, int bits) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8) {
    fail(std::string(op) + ": bits must be 2, 3, 4, 5, 6 or 8");
  }
  if (group_size < 8 || group_size % 8) fail(std::string(op) + ": bad group size");
  if (w.ndim() != 2 || w.dtype() != mx::uint32 || scales.ndim() != 2 || biases.shape() != scales.shape()) {
    fail(std::string(op) + ": w must be (N, K*bits/32) uint32 with (N, K/group) scales and biases");
  }
  const int N = w.shape(0);
  if (static_cast<int64_t>(w.shape(1)) * 32 != static_cast<int64_t>(K) * bits || K % group_size ||
      scales.shape(0) != N || scales.shape(1) != K / group_size) {
    std::ostringstream msg;
    msg << op << ": " << K << " features but w is (" << N << ", "
        << w.shape(1) << ") with " << scales.shape(1) << " groups of " << group_size << " at "
        << bits << " bits";
    fail(msg.str());
  }
  return N;
}
}  // namespace

mx::array quantized_matmul(const mx::array& x, const mx::array& w, const mx::array& scales,
                           const mx::array& biases, int group_size, int bits) {
  auto s = cpu_stream();
  if (x.ndim() < 1) fail("glassbox quantized_matmul: x needs at least one dimension");
  const int K = x.shape(-1);
  const int N = check_quantized("glassbox quantized_matmul", K, w, scales, biases, group_size, bits);
  auto out_shape = x.shape();
  out_shape.back() = N;
  return mx::array(out_shape, mx::float32, std::make_shared<QuantizedMatmul>(s, group_size, bits),
                   {as_f32(x, s), w, as_f32(scales, s), as_f32(biases, s)});
}

std::vector<mx::array> quantized_matmuls(const mx::array& x, const std::vector<mx::array>& weights,
                                         int group_size, int bits) {
  auto s = cpu_stream();
  if (x.ndim() < 1) fail("glassbox quantized_matmuls: x needs at least one dimension");
  if (weights.empty() || weights.size() % 3) fail("glassbox quantized_matmuls: (w, scales, biases) per matrix");
  const int K = x.shape(-1);
  std::vector<mx::array> inputs{as_f32(x, s)};
  std::vector<mx::Shape> shapes;
  for (size_t i = 0; i < weights.size(); i += 3) {
    const int N = check_quantized("glassbox quantized_matmuls", K, weights[i], weights[i + 1], weights[i + 2],
                                  group_size, bits);
    auto shape = x.shape();
    shape.back() = N;
    shapes.push_back(shape);
    inputs.push_back(weights[i]);
    inputs.push_back(as_f32(weights[i + 1], s));
    inputs.push_back(as_f32(weights[i + 2], s));
  }
  std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
  return mx::array::make_arrays(std::move(shapes), dtypes,
                                std::make_shared<QuantizedMatmuls>(s, group_size, bits), inputs);
}

mx::array quantized_swiglu(const mx::array& x, const std::vector<mx::array>& gate,
                           const std::vector<mx::array>& up, int group_size, int bits, bool gelu) {
  auto s = cpu_stream();
  if (x.ndim() < 1) fail("glassbox quantized_swiglu: x needs at least one dimension");
  if (gate.size() != 3 || up.size() != 3) fail("glassbox quantized_swiglu: gate and up are (w, scales, biases)");
  const int K = x.shape(-1);
  const int N = check_quantized("glassbox quantized_swiglu", K, gate[0], gate[1], gate[2], group_size, bits);
  if (check_quantized("glassbox quantized_swiglu", K, up[0], up[1], up[2], group_size, bits) != N) {
    fail("glassbox quantized_swiglu: gate and up have different output sizes");
  }
  auto shape = x.shape();
  shape.back() = N;
  return mx::array(shape, mx::float32, std::make_shared<QuantizedSwiGLU>(s, group_size, bits, gelu),
                   {as_f32(x, s), gate[0], as_f32(gate[1], s), as_f32(gate[2], s), up[0], as_f32(up[1], s),
                    as_f32(up[2], s)});
}

mx::array quantized_take(const mx::array& w, const mx::array& scales, const mx::array& biases,
                         const mx::array& ids, int group_size, int bits) {
  auto s = cpu_stream();
  if (w.ndim() != 2) fail("glassbox quantized_take: w must be (N, K*bits/32)");
  if (!mx::issubdtype(ids.dtype(), mx::integer)) fail("glassbox quantized_take: ids must be integers");
  const int64_t K = static_cast<int64_t>(w.shape(1)) * 32 / bits;
  check_quantized("glassbox quantized_take", static_cast<int>(K), w, scales, biases, group_size, bits);
  auto shape = ids.shape();
  shape.push_back(static_cast<int>(K));
  return mx::array(shape, mx::float32, std::make_shared<QuantizedTake>(s, group_size, bits),
                   {w, as_f32(scales, s), as_f32(biases, s),
                    ids.dtype() == mx::int32 ? ids : mx::astype(ids, mx::int32, s)});
}

mx::array dequantize(const mx::array& w, const mx::array& scales, const mx::array& biases,
                     int group_size, int bits) {
  auto s = cpu_stream();
  if (w.ndim() != 2) fail("glassbox dequantize: w must be (N, K*bits/32)");
  const int64_t K = static_cast<int64_t>(w.shape(1)) * 32 / bits;
  const int N = check_quantized("glassbox dequantize", static_cast<int>(K), w, scales, biases, group_size, bits);
  return mx::array({N, static_cast<int>(K)}, mx::float32, std::make_shared<Dequantize>(s, group_size, bits),
                   {w, as_f32(scales, s), as_f32(biases, s)});
}

mx::array decode_attention(const mx::array& q, const mx::array& k, const mx::array& v, float scale) {
  auto s = cpu_stream();
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4 || q.shape(2) != 1) {
    fail("glassbox decode_attention: q (B, H, 1, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv)");
  }
  if (k.shape(0) != q.shape(0) || v.shape(0) != q.shape(0) || k.shape(3) != q.shape(3) ||
      v.shape(1) != k.shape(1) || v.shape(2) != k.shape(2) || k.shape(1) == 0 ||
      q.shape(1) % k.shape(1) || k.shape(2) == 0) {
    fail("glassbox decode_attention: inconsistent q, k, v shapes");
  }
  mx::Shape out_shape{q.shape(0), q.shape(1), 1, v.shape(3)};
  return mx::array(out_shape, mx::float32, std::make_shared<DecodeAttention>(s, scale),
                   {as_f32(q, s), as_f32(k, s), as_f32(v, s)});
}

mx::array prefill_attention(const mx::array& q, const mx::array& k, const mx::array& v, float scale, bool causal,
                            int64_t q0, int64_t k0, int64_t window) {
  auto s = cpu_stream();
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) {
    fail("glassbox prefill_attention: q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv)");
  }
  if (k.shape(0) != q.shape(0) || v.shape(0) != q.shape(0) || k.shape(3) != q.shape(3) ||
      v.shape(1) != k.shape(1) || v.shape(2) != k.shape(2) || k.shape(1) == 0 || q.shape(1) % k.shape(1) ||
      k.shape(2) == 0 || q.shape(2) == 0) {
    fail("glassbox prefill_attention: inconsistent q, k, v shapes");
  }
  if (window < 0) fail("glassbox prefill_attention: window must be >= 0");
  mx::Shape out_shape{q.shape(0), q.shape(1), q.shape(2), v.shape(3)};
  return mx::array(out_shape, mx::float32,
                   std::make_shared<PrefillAttention>(s, scale, AttentionBand{causal, q0, k0, window}),
                   {as_f32(q, s), as_f32(k, s), as_f32(v, s)});
}

mx::array gated_activation(const mx::array& g, const mx::array& u, bool gelu) {
  auto s = cpu_stream();
  if (g.shape() != u.shape()) fail("glassbox gated_activation: the gate and the up projection differ in shape");
  return mx::array(g.shape(), mx::float32, std::make_shared<GatedActivation>(s, gelu), {as_f32(g, s), as_f32(u, s)});
}

mx::array rms_norm(const mx::array& x, const mx::array& weight, float eps) {
  auto s = cpu_stream();
  if (x.ndim() < 1 || weight.ndim() != 1 || weight.shape(0) != x.shape(-1)) {
    fail("glassbox rms_norm: weight must be (D,) for x (..., D)");
  }
  return mx::array(x.shape(), mx::float32, std::make_shared<RMSNorm>(s, eps),
                   {as_f32(x, s), as_f32(weight, s)});
}

mx::array rope(const mx::array& x, const mx::array& inv_freq, int dims, bool traditional, float scale,
               int offset) {
  auto s = cpu_stream();
  if (x.ndim() < 2 || dims % 2 || dims > x.shape(-1) || dims <= 0 || inv_freq.ndim() != 1 ||
      inv_freq.shape(0) != dims / 2) {
    fail("glassbox rope: x (..., L, D), dims even and <= D, inv_freq (dims / 2,)");
  }
  return mx::array(x.shape(), mx::float32,
                   std::make_shared<RoPE>(s, dims, traditional, scale, offset),
                   {as_f32(x, s), as_f32(inv_freq, s)});
}

namespace {
// A per-head norm's weight: (D,) for heads of D features.
void check_norm(const char* op, const std::optional<mx::array>& norm_weight, int D) {
  if (norm_weight && (norm_weight->ndim() != 1 || norm_weight->shape(0) != D)) {
    fail(std::string(op) + ": norm_weight must be (head_dim,)");
  }
}
}  // namespace

mx::array kv_write(const mx::array& buf, const mx::array& x, int64_t row,
                   const std::optional<mx::array>& inv_freq, int dims, bool traditional, float scale,
                   int64_t position, const std::optional<mx::array>& norm_weight, float norm_eps) {
  auto s = cpu_stream();
  if (buf.ndim() != 4 || buf.dtype() != mx::float32 || x.ndim() != 3 || x.shape(0) != buf.shape(0) ||
      x.shape(1) != 1 || static_cast<int64_t>(x.shape(2)) != static_cast<int64_t>(buf.shape(1)) * buf.shape(3)) {
    fail("glassbox kv_write: buf (B, heads, capacity, D) float32 and x (B, 1, heads * D)");
  }
  if (row < 0 || row >= buf.shape(2)) fail("glassbox kv_write: row outside the buffer");
  std::vector<mx::array> inputs{buf, as_f32(x, s)};
  if (inv_freq) {
    if (dims % 2 || dims <= 0 || dims > buf.shape(3) || inv_freq->ndim() != 1 || inv_freq->shape(0) != dims / 2) {
      fail("glassbox kv_write: dims even and <= D, inv_freq (dims / 2,)");
    }
    inputs.push_back(as_f32(*inv_freq, s));
  }
  check_norm("glassbox kv_write", norm_weight, buf.shape(3));
  if (norm_weight) inputs.push_back(as_f32(*norm_weight, s));
  return mx::array(buf.shape(), mx::float32,
                   std::make_shared<KVWrite>(s, row, inv_freq.has_value(), dims, traditional, scale, position,
                                             norm_weight.has_value(), norm_eps),
                   std::move(inputs));
}

mx::array rotary_decode_attention(const mx::array& q, const mx::array& k_buf, const mx::array& v_buf,
                                  const mx::array& inv_freq, int dims, bool traditional, float rope_scale,
                                  int64_t position, int64_t first_row, int64_t n_rows, float scale,
                                  const std::optional<mx::array>& norm_weight, float norm_eps) {
  auto s = cpu_stream();
  if (q.ndim() != 3 || q.shape(1) != 1 || k_buf.ndim() != 4 || v_buf.ndim() != 4 ||
      k_buf.shape(0) != q.shape(0) || v_buf.shape(0) != q.shape(0) || v_buf.shape(1) != k_buf.shape(1) ||
      v_buf.shape(2) != k_buf.shape(2) || q.shape(2) % k_buf.shape(3) ||
      (q.shape(2) / k_buf.shape(3)) % k_buf.shape(1)) {
    fail("glassbox rotary_decode_attention: q (B, 1, H * D), k_buf (B, Hkv, capacity, D), v_buf (B, Hkv, capacity, Dv)");
  }
  if (first_row < 0 || n_rows < 1 || first_row + n_rows > k_buf.shape(2)) {
    fail("glassbox rotary_decode_attention: rows outside the buffer");
  }
  if (dims % 2 || dims <= 0 || dims > k_buf.shape(3) || inv_freq.ndim() != 1 || inv_freq.shape(0) != dims / 2) {
    fail("glassbox rotary_decode_attention: dims even and <= D, inv_freq (dims / 2,)");
  }
  check_norm("glassbox rotary_decode_attention", norm_weight, k_buf.shape(3));
  const int H = q.shape(2) / k_buf.shape(3);
  std::vector<mx::array> inputs{as_f32(q, s), as_f32(k_buf, s), as_f32(v_buf, s), as_f32(inv_freq, s)};
  if (norm_weight) inputs.push_back(as_f32(*norm_weight, s));
  return mx::array({q.shape(0), 1, H * v_buf.shape(3)}, mx::float32,
                   std::make_shared<RotaryDecodeAttention>(s, dims, traditional, rope_scale, position, first_row,
                                                           n_rows, scale, norm_weight.has_value(), norm_eps),
                   std::move(inputs));
}

namespace {
// (w, scales, biases) of a quantized cache buffer (B, heads, capacity, ·) holding rows of D values;
// returns D.
int check_quantized_kv(const char* op, const std::vector<mx::array>& parts, int group, int bits) {
  if (parts.size() != 3) fail(std::string(op) + ": a quantized buffer is (w, scales, biases)");
  if (bits != 4 && bits != 8) fail(std::string(op) + ": bits must be 4 or 8");
  if (group <= 0 || group % 8) fail(std::string(op) + ": bad group size");
  const auto& w = parts[0];
  const auto& sc = parts[1];
  const auto& bi = parts[2];
  if (w.ndim() != 4 || w.dtype() != mx::uint32 || sc.shape() != bi.shape() || sc.ndim() != 4 ||
      sc.dtype() != mx::float32 || bi.dtype() != mx::float32 || sc.shape(0) != w.shape(0) ||
      sc.shape(1) != w.shape(1) || sc.shape(2) != w.shape(2) ||
      static_cast<int64_t>(w.shape(3)) * 32 != static_cast<int64_t>(sc.shape(3)) * group * bits) {
    fail(std::string(op) + ": w (B, heads, capacity, D * bits / 32) uint32, scales and biases "
         "(B, heads, capacity, D / group) float32");
  }
  return sc.shape(3) * group;
}
}  // namespace

std::vector<mx::array> quantized_kv_write(const std::vector<mx::array>& buf, const mx::array& x, int64_t row,
                                          int group_size, int bits, const std::optional<mx::array>& inv_freq,
                                          int dims, bool traditional, float scale, int64_t position,
                                          const std::optional<mx::array>& norm_weight, float norm_eps) {
  auto s = cpu_stream();
  const int D = check_quantized_kv("glassbox quantized_kv_write", buf, group_size, bits);
  const auto& w = buf[0];
  if (x.ndim() != 3 || x.shape(0) != w.shape(0) || x.shape(1) != 1 ||
      static_cast<int64_t>(x.shape(2)) != static_cast<int64_t>(w.shape(1)) * D) {
    fail("glassbox quantized_kv_write: x must be (B, 1, heads * D)");
  }
  if (row < 0 || row >= w.shape(2)) fail("glassbox quantized_kv_write: row outside the buffer");
  std::vector<mx::array> inputs{buf[0], as_f32(x, s)};  // the part written, x[, inv_freq][, norm weight]
  if (inv_freq) {
    if (dims % 2 || dims <= 0 || dims > D || inv_freq->ndim() != 1 || inv_freq->shape(0) != dims / 2) {
      fail("glassbox quantized_kv_write: dims even and <= D, inv_freq (dims / 2,)");
    }
    inputs.push_back(as_f32(*inv_freq, s));
  }
  check_norm("glassbox quantized_kv_write", norm_weight, D);
  if (norm_weight) inputs.push_back(as_f32(*norm_weight, s));
  std::vector<mx::array> out;
  for (int part = 0; part < 3; ++part) {
    inputs[0] = buf[part];
    out.push_back(mx::array(buf[part].shape(), buf[part].dtype(),
                            std::make_shared<QuantizedKVWrite>(s, part, row, D, group_size, bits, inv_freq.has_value(),
                                                               dims, traditional, scale, position,
                                                               norm_weight.has_value(), norm_eps),
                            inputs));
  }
  return out;
}

mx::array quantized_rotary_decode_attention(const mx::array& q, const std::vector<mx::array>& k_buf,
                                            const std::vector<mx::array>& v_buf, int group_size, int bits,
                                            const mx::array& inv_freq, int dims, bool traditional,
                                            float rope_scale, int64_t position, int64_t first_row, int64_t n_rows,
                                            float scale, const std::optional<mx::array>& norm_weight,
                                            float norm_eps) {
  auto s = cpu_stream();
  const char* op = "glassbox quantized_rotary_decode_attention";
  const int D = check_quantized_kv(op, k_buf, group_size, bits);
  const int Dv = check_quantized_kv(op, v_buf, group_size, bits);
  const auto& kw = k_buf[0];
  const auto& vw = v_buf[0];
  if (q.ndim() != 3 || q.shape(1) != 1 || kw.shape(0) != q.shape(0) || vw.shape(0) != q.shape(0) ||
      vw.shape(1) != kw.shape(1) || vw.shape(2) != kw.shape(2) || q.shape(2) % D || (q.shape(2) / D) % kw.shape(1)) {
    fail(std::string(op) + ": q (B, 1, H * D) with H a multiple of the buffers' heads");
  }
  if (first_row < 0 || n_rows < 1 || first_row + n_rows > kw.shape(2)) fail(std::string(op) + ": rows outside the buffer");
  if (dims % 2 || dims <= 0 || dims > D || inv_freq.ndim() != 1 || inv_freq.shape(0) != dims / 2) {
    fail(std::string(op) + ": dims even and <= D, inv_freq (dims / 2,)");
  }
  check_norm(op, norm_weight, D);
  std::vector<mx::array> inputs{as_f32(q, s), k_buf[0], k_buf[1], k_buf[2], v_buf[0], v_buf[1], v_buf[2],
                                as_f32(inv_freq, s)};
  if (norm_weight) inputs.push_back(as_f32(*norm_weight, s));
  const int H = q.shape(2) / D;
  return mx::array({q.shape(0), 1, H * Dv}, mx::float32,
                   std::make_shared<QuantizedRotaryDecodeAttention>(s, group_size, bits, dims, traditional, rope_scale,
                                                                    position, first_row, n_rows, scale,
                                                                    norm_weight.has_value(), norm_eps),
                   std::move(inputs));
}

int64_t kv_write_copies() {
  return g_kv_write_copies.load();
}

const char* kernel_name(int bits, int group_size) {
  QMatrix W{nullptr, nullptr, nullptr, 0, 0, group_size, bits};
  const char* name = "scalar";
  select_qmm_kernel(W, &name);
  return name;
}

}  // namespace glassbox
