// The int8 KV cache's rows (quantized models' decode reads half the bytes of bf16): one head's D
// values as bytes round(x / scale) + 128, then the row's fp32 scale (max |x| / 127). Bytes + 128,
// as pack_int8's weights, so keys go straight into vpdpbusd's unsigned operand. A row is D + 4
// bytes: D is a multiple of 16, so every scale is 4-byte aligned.
#pragma once
#include <cstring>

#include "common.h"

namespace sikao {

inline float row_scale(const uint8_t* r, int D) {
  float s;
  std::memcpy(&s, r + D, sizeof s);
  return s;
}

inline float largest(const float* x, int D) {  // max |x|
  __m512 top = _mm512_setzero_ps();
  for (int d = 0; d < D; d += 16) top = _mm512_max_ps(top, _mm512_abs_ps(_mm512_loadu_ps(x + d)));
  return _mm512_reduce_max_ps(top);
}

// 127 / amax: what rounds a row with that largest magnitude to int8 (0 for a row of zeros, or of
// values so small that the inverse would overflow: they are stored as 0)
inline float to_int8(float amax) { return amax >= 1e-30f ? 127.f / amax : 0.f; }

inline void quantize_row(const float* x, int D, uint8_t* r) {
  const float amax = largest(x, D), scale = amax / 127.f;
  const __m512 inv = _mm512_set1_ps(to_int8(amax));
  for (int d = 0; d < D; d += 16) {
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + d), inv));
    const __m512i u = _mm512_add_epi32(q, _mm512_set1_epi32(128));
    _mm_storeu_si128((__m128i*)(r + d), _mm512_cvtepi32_epi8(u));
  }
  std::memcpy(r + D, &scale, sizeof scale);
}

inline __m512 bytes16(const uint8_t* p) {  // 16 stored bytes as floats (still + 128)
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)p)));
}

inline void row_bf16(const uint8_t* r, int D, uint16_t* out) {  // the row's values in bf16
  const __m512 s = _mm512_set1_ps(row_scale(r, D)), off = _mm512_set1_ps(128.f);
  for (int d = 0; d < D; d += 32) {
    const __m512 a = _mm512_mul_ps(_mm512_sub_ps(bytes16(r + d), off), s);
    const __m512 b = _mm512_mul_ps(_mm512_sub_ps(bytes16(r + d + 16), off), s);
    _mm512_storeu_si512(out + d, (__m512i)_mm512_cvtne2ps_pbh(b, a));
  }
}

}  // namespace sikao
