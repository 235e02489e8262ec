// What every kernel file shares: the ISA clones of the inner loops and the one exp they use.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace glassbox {

// The inner loops, compiled twice on x86-64 Linux (AVX2 + FMA, and the baseline ISA) and chosen by
// the loader at run time (GCC's target_clones): `-O3` vectorises both.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define GB_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GB_CLONES
#endif

// exp(x) as 2^k * p(f), t = x log2(e) = k + f, |f| <= 1/2, p a degree-6 polynomial for 2^f
// (float32-accurate to ~2e-7 relative): 0 where t <= -126 (x below about -87.3), 2^126 * p
// (finite) where t >= 126. Branch-free and inlined into its callers' loops, so -O3 vectorises them
// (std::exp does not: it was a third of a decode step's attention). The one exp of every kernel's
// softmax, SiLU and GELU.
inline float fast_exp(float x) {
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr float c1 = 0.6931471805599453f, c2 = 0.2402265069591007f, c3 = 0.05550410866482158f,
                  c4 = 0.009618129107628477f, c5 = 0.0013333558146428443f, c6 = 0.00015403530393381606f;
  float t = x * kLog2e;
  t = t < -126.0f ? -126.0f : (t > 126.0f ? 126.0f : t);  // 2^k stays a normal float
  const float k = std::floor(t + 0.5f);
  const float f = t - k;
  const float p = 1.0f + f * (c1 + f * (c2 + f * (c3 + f * (c4 + f * (c5 + f * c6)))));
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return t <= -126.0f ? 0.0f : p * scale;
}

}  // namespace glassbox
