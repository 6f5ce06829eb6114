// The AVX-512 intrinsics the kernels use, on AVX2 + FMA: each 512-bit value is a pair of 256-bit
// registers, so one source serves both kinds of CPU. Most laptops (Intel's consumer chips, AMD
// before Zen 4) have no AVX-512. Included by common.h only where __AVX512F__ is not defined; the
// macros at the end then name these types and functions with AVX-512's names.
//
// Pairs of registers, not GCC's 64-byte vector types: without AVX-512, GCC keeps those in memory
// and moves them a lane at a time (an 8-row decode step took 29 ms that way, 13.6 ms as pairs).
// Exact where the kernels need it: vpdpbusd's unsigned bytes may reach 255, where AVX2's
// vpmaddubsw would saturate, so they are split into nibbles. The hottest loops are written for
// AVX2 directly: the matmuls' (matmul_avx2.h) and decode attention's q.k over int8 rows (caches.h).
#pragma once
#include <immintrin.h>
#include <stdint.h>

#include <algorithm>
#include <cstring>

namespace sikao::avx2 {

struct f512 {
  __m256 lo, hi;
  float operator[](int i) const {  // as GCC's vector types read a lane
    float t[16];
    std::memcpy(t, this, sizeof t);
    return t[i];
  }
};
struct i512 {
  __m256i lo, hi;
};
struct d512 {
  __m256d lo, hi;
};
struct bh512 {  // 32 bf16: AVX-512's __m512bh, made from and to i512 by casts only
  __m256i lo, hi;
  bh512() = default;
  explicit bh512(i512 x) : lo(x.lo), hi(x.hi) {}
  explicit operator i512() const { return {lo, hi}; }
};

#define SIKAO_INLINE inline __attribute__((always_inline))
// f(a.lo, b.lo...), f(a.hi, b.hi...) as a pair
#define SIKAO_F1(T, f, a) T{f((a).lo), f((a).hi)}
#define SIKAO_F2(T, f, a, b) T{f((a).lo, (b).lo), f((a).hi, (b).hi)}
#define SIKAO_F3(T, f, a, b, c) T{f((a).lo, (b).lo, (c).lo), f((a).hi, (b).hi, (c).hi)}

SIKAO_INLINE __m256i lanes(unsigned k) {  // k's low 8 bits as all-ones / all-zero lanes
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)k), bit), bit);
}
SIKAO_INLINE __mmask16 bits(__m256 l, __m256 h) {
  return (__mmask16)(_mm256_movemask_ps(l) | _mm256_movemask_ps(h) << 8);
}

SIKAO_INLINE f512 set1_ps(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
SIKAO_INLINE f512 setzero_ps() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
SIKAO_INLINE f512 loadu_ps(const void* p) {
  return {_mm256_loadu_ps((const float*)p), _mm256_loadu_ps((const float*)p + 8)};
}
SIKAO_INLINE void storeu_ps(void* p, f512 v) {
  _mm256_storeu_ps((float*)p, v.lo);
  _mm256_storeu_ps((float*)p + 8, v.hi);
}
SIKAO_INLINE f512 add_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_add_ps, a, b); }
SIKAO_INLINE f512 sub_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_sub_ps, a, b); }
SIKAO_INLINE f512 mul_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_mul_ps, a, b); }
SIKAO_INLINE f512 div_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_div_ps, a, b); }
SIKAO_INLINE f512 max_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_max_ps, a, b); }
SIKAO_INLINE f512 fmadd_ps(f512 a, f512 b, f512 c) {
  return SIKAO_F3(f512, _mm256_fmadd_ps, a, b, c);
}
SIKAO_INLINE f512 fnmadd_ps(f512 a, f512 b, f512 c) {
  return SIKAO_F3(f512, _mm256_fnmadd_ps, a, b, c);
}
SIKAO_INLINE __m256 abs8(__m256 a) {
  return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)));
}
SIKAO_INLINE f512 abs_ps(f512 a) { return SIKAO_F1(f512, abs8, a); }
SIKAO_INLINE float reduce_add_ps(f512 a) {
  const __m256 s = _mm256_add_ps(a.lo, a.hi);
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}
SIKAO_INLINE float reduce_max_ps(f512 a) {
  const __m256 s = _mm256_max_ps(a.lo, a.hi);
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_max_ss(x, _mm_movehdup_ps(x)));
}
template <int P>
SIKAO_INLINE __mmask16 cmp_ps_mask(f512 a, f512 b) {
  return bits(_mm256_cmp_ps(a.lo, b.lo, P), _mm256_cmp_ps(a.hi, b.hi, P));
}
SIKAO_INLINE f512 mask_mov_ps(f512 src, __mmask16 k, f512 a) {
  return {_mm256_blendv_ps(src.lo, a.lo, _mm256_castsi256_ps(lanes(k))),
          _mm256_blendv_ps(src.hi, a.hi, _mm256_castsi256_ps(lanes(k >> 8)))};
}
SIKAO_INLINE f512 maskz_mov_ps(__mmask16 k, f512 a) { return mask_mov_ps(setzero_ps(), k, a); }
SIKAO_INLINE f512 maskz_loadu_ps(__mmask16 k, const void* p) {  // lanes off k: never read
  const float* f = (const float*)p;
  return {_mm256_maskload_ps(f, lanes(k)), _mm256_maskload_ps(f + 8, lanes(k >> 8))};
}
SIKAO_INLINE f512 mask_loadu_ps(f512 src, __mmask16 k, const void* p) {
  return mask_mov_ps(src, k, maskz_loadu_ps(k, p));
}
SIKAO_INLINE f512 mask_mul_ps(f512 src, __mmask16 k, f512 a, f512 b) {
  return mask_mov_ps(src, k, mul_ps(a, b));
}
SIKAO_INLINE f512 mask_max_ps(f512 src, __mmask16 k, f512 a, f512 b) {
  return mask_mov_ps(src, k, max_ps(a, b));
}
template <int R>  // R: the rounding (these kernels set no scale bits)
SIKAO_INLINE f512 roundscale_ps(f512 a) {
  return {_mm256_round_ps(a.lo, R), _mm256_round_ps(a.hi, R)};
}
// p * 2^n for integral n >= -150: two factors 2^(n/2), each a normal float
SIKAO_INLINE __m256 scalef8(__m256 p, __m256 n) {
  const __m256i t = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(t, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 b = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(t, h), bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, a), b);
}
SIKAO_INLINE f512 scalef_ps(f512 p, f512 n) { return SIKAO_F2(f512, scalef8, p, n); }

SIKAO_INLINE i512 set1_epi32(int x) { return {_mm256_set1_epi32(x), _mm256_set1_epi32(x)}; }
SIKAO_INLINE i512 set1_epi16(short x) { return {_mm256_set1_epi16(x), _mm256_set1_epi16(x)}; }
SIKAO_INLINE i512 set1_epi8(char x) { return {_mm256_set1_epi8(x), _mm256_set1_epi8(x)}; }
SIKAO_INLINE i512 setzero_si512() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
SIKAO_INLINE i512 setr_epi32(int a, int b, int c, int d, int e, int f, int g, int h, int i, int j,
                             int k, int l, int m, int n, int o, int p) {
  return {_mm256_setr_epi32(a, b, c, d, e, f, g, h), _mm256_setr_epi32(i, j, k, l, m, n, o, p)};
}
template <class... T>  // _mm512_set_epi16's order: the last element first
SIKAO_INLINE i512 set_epi16(T... e) {
  const short in[32] = {(short)e...};
  short out[32];
  for (int i = 0; i < 32; i++) out[i] = in[31 - i];
  i512 v;
  std::memcpy(&v, out, sizeof v);
  return v;
}
SIKAO_INLINE i512 loadu_si512(const void* p) {
  return {_mm256_loadu_si256((const __m256i*)p), _mm256_loadu_si256((const __m256i*)p + 1)};
}
SIKAO_INLINE void storeu_si512(void* p, i512 v) {
  _mm256_storeu_si256((__m256i*)p, v.lo);
  _mm256_storeu_si256((__m256i*)p + 1, v.hi);
}
SIKAO_INLINE i512 add_epi32(i512 a, i512 b) { return SIKAO_F2(i512, _mm256_add_epi32, a, b); }
SIKAO_INLINE i512 add_epi16(i512 a, i512 b) { return SIKAO_F2(i512, _mm256_add_epi16, a, b); }
SIKAO_INLINE i512 mullo_epi32(i512 a, i512 b) { return SIKAO_F2(i512, _mm256_mullo_epi32, a, b); }
SIKAO_INLINE i512 and_si512(i512 a, i512 b) { return SIKAO_F2(i512, _mm256_and_si256, a, b); }
SIKAO_INLINE i512 srli_epi16(i512 a, int n) {
  return {_mm256_srli_epi16(a.lo, n), _mm256_srli_epi16(a.hi, n)};
}
SIKAO_INLINE i512 slli_epi32(i512 a, int n) {
  return {_mm256_slli_epi32(a.lo, n), _mm256_slli_epi32(a.hi, n)};
}
SIKAO_INLINE i512 cvtps_epi32(f512 a) { return SIKAO_F1(i512, _mm256_cvtps_epi32, a); }
SIKAO_INLINE f512 cvtepi32_ps(i512 a) { return SIKAO_F1(f512, _mm256_cvtepi32_ps, a); }
SIKAO_INLINE i512 cvtepu16_epi32(__m256i a) {
  return {_mm256_cvtepu16_epi32(_mm256_castsi256_si128(a)),
          _mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1))};
}
SIKAO_INLINE i512 cvtepu8_epi32(__m128i a) {
  return {_mm256_cvtepu8_epi32(a), _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(a, a))};
}
SIKAO_INLINE i512 cvtepi8_epi16(__m256i a) {
  return {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(a)),
          _mm256_cvtepi8_epi16(_mm256_extracti128_si256(a, 1))};
}
// 16 int32 to 16 int16 (truncated): each value's low half, in order
SIKAO_INLINE __m256i cvtepi32_epi16(i512 a) {
  const __m256i low = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                       0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  // each 128-bit lane's four values in its low 8 bytes; then lanes' quarters 0, 2 of lo, of hi
  const __m256i l = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(a.lo, low), 0x08);
  const __m256i h = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(a.hi, low), 0x08);
  return _mm256_permute2x128_si256(l, h, 0x20);
}
SIKAO_INLINE __m128i cvtepi32_epi8(i512 a) {  // truncated
  const __m256i w = cvtepi32_epi16(a);
  const __m256i low = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1,
                                       0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(w, low), 0x08);
  return _mm256_castsi256_si128(b);
}
SIKAO_INLINE __m128i cvtsepi32_epi8(i512 a) {  // saturated
  const __m256i top = _mm256_set1_epi32(127), bottom = _mm256_set1_epi32(-128);
  return cvtepi32_epi8({_mm256_max_epi32(_mm256_min_epi32(a.lo, top), bottom),
                        _mm256_max_epi32(_mm256_min_epi32(a.hi, top), bottom)});
}
SIKAO_INLINE int reduce_add_epi32(i512 a) {
  const __m256i s = _mm256_add_epi32(a.lo, a.hi);
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1)));
}
SIKAO_INLINE int mask_reduce_min_epi32(__mmask16 k, i512 a) {
  int v[16], m = 0x7FFFFFFF;
  storeu_si512(v, a);
  for (int i = 0; i < 16; i++)
    if (k >> i & 1) m = std::min(m, v[i]);
  return m;
}
SIKAO_INLINE __mmask16 cmplt_epi32_mask(i512 a, i512 b) {
  return bits(_mm256_castsi256_ps(_mm256_cmpgt_epi32(b.lo, a.lo)),
              _mm256_castsi256_ps(_mm256_cmpgt_epi32(b.hi, a.hi)));
}
SIKAO_INLINE i512 mask_mov_epi32(i512 src, __mmask16 k, i512 a) {
  return {_mm256_blendv_epi8(src.lo, a.lo, lanes(k)),
          _mm256_blendv_epi8(src.hi, a.hi, lanes(k >> 8))};
}
SIKAO_INLINE __m256 gather8(__m256 src, unsigned k, __m256i at, const void* base, int scale) {
  return _mm256_mask_i32gather_ps(src, (const float*)base,
                                  _mm256_mullo_epi32(at, _mm256_set1_epi32(scale)),
                                  _mm256_castsi256_ps(lanes(k)), 1);
}
SIKAO_INLINE f512 mask_i32gather_ps(f512 src, __mmask16 k, i512 at, const void* base, int scale) {
  return {gather8(src.lo, k, at.lo, base, scale), gather8(src.hi, k >> 8, at.hi, base, scale)};
}

// per 128-bit lane, as AVX2's own
SIKAO_INLINE f512 unpacklo_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_unpacklo_ps, a, b); }
SIKAO_INLINE f512 unpackhi_ps(f512 a, f512 b) { return SIKAO_F2(f512, _mm256_unpackhi_ps, a, b); }
SIKAO_INLINE d512 unpacklo_pd(d512 a, d512 b) { return SIKAO_F2(d512, _mm256_unpacklo_pd, a, b); }
SIKAO_INLINE d512 unpackhi_pd(d512 a, d512 b) { return SIKAO_F2(d512, _mm256_unpackhi_pd, a, b); }
SIKAO_INLINE i512 unpacklo_epi16(i512 a, i512 b) {
  return SIKAO_F2(i512, _mm256_unpacklo_epi16, a, b);
}
SIKAO_INLINE i512 unpackhi_epi16(i512 a, i512 b) {
  return SIKAO_F2(i512, _mm256_unpackhi_epi16, a, b);
}
SIKAO_INLINE d512 castps_pd(f512 a) { return SIKAO_F1(d512, _mm256_castps_pd, a); }
SIKAO_INLINE f512 castpd_ps(d512 a) { return SIKAO_F1(f512, _mm256_castpd_ps, a); }
SIKAO_INLINE f512 castsi512_ps(i512 a) { return SIKAO_F1(f512, _mm256_castsi256_ps, a); }
// 128-bit blocks: two of a (M's bits 0-3), then two of b (bits 4-7)
template <int M>
SIKAO_INLINE f512 shuffle_f32x4(f512 a, f512 b) {
  const __m256 a0 = (M & 2) ? a.hi : a.lo, a1 = (M >> 2 & 2) ? a.hi : a.lo;
  const __m256 b0 = (M >> 4 & 2) ? b.hi : b.lo, b1 = (M >> 6 & 2) ? b.hi : b.lo;
  // block q of x is half q / 2's 128-bit lane q % 2
  return {_mm256_permute2f128_ps(a0, a1, (M & 1) | ((M >> 2 & 1) + 2) << 4),
          _mm256_permute2f128_ps(b0, b1, (M >> 4 & 1) | ((M >> 6 & 1) + 2) << 4)};
}
// table lookups, lane i taking entry at[i] of a and b together (AVX2 has no such permutes; these
// run once per output block, outside the kernels' loops)
SIKAO_INLINE f512 permutex2var_ps(f512 a, i512 at, f512 b) {
  float t[32], out[16];
  int idx[16];
  storeu_ps(t, a), storeu_ps(t + 16, b), storeu_si512(idx, at);
  for (int i = 0; i < 16; i++) out[i] = t[idx[i] & 31];
  return loadu_ps(out);
}
SIKAO_INLINE i512 permutex2var_epi16(i512 a, i512 at, i512 b) {
  uint16_t t[64], idx[32], out[32];
  storeu_si512(t, a), storeu_si512(t + 32, b), storeu_si512(idx, at);
  for (int i = 0; i < 32; i++) out[i] = t[idx[i] & 63];
  return loadu_si512(out);
}
SIKAO_INLINE i512 permutexvar_epi16(i512 at, i512 a) { return permutex2var_epi16(a, at, a); }

// sum u * s over each lane's 4 bytes, u unsigned and s signed, exactly: u's nibbles apart, as
// vpmaddubsw saturates a pair of products past 32767
SIKAO_INLINE __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
  const __m256i nib = _mm256_set1_epi8(0x0F);
  const __m256i l = _mm256_maddubs_epi16(_mm256_and_si256(u, nib), s);
  const __m256i h = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(u, 4), nib), s);
  return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(l, _mm256_set1_epi16(1)),
                                                _mm256_madd_epi16(h, _mm256_set1_epi16(16))));
}
SIKAO_INLINE i512 dpbusd_epi32(i512 acc, i512 u, i512 s) {
  return SIKAO_F3(i512, dpbusd, acc, u, s);
}
SIKAO_INLINE __m256i dpwssd(__m256i acc, __m256i a, __m256i b) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}
SIKAO_INLINE i512 dpwssd_epi32(i512 acc, i512 a, i512 b) {
  return SIKAO_F3(i512, dpwssd, acc, a, b);
}

// bf16 pairs: each 32-bit lane's two halves as fp32 (exact: a bf16 is a float's top half)
SIKAO_INLINE __m256 bf16_even(__m256i a) { return _mm256_castsi256_ps(_mm256_slli_epi32(a, 16)); }
SIKAO_INLINE __m256 bf16_odd(__m256i a) {
  return _mm256_castsi256_ps(_mm256_and_si256(a, _mm256_set1_epi32(-65536)));
}
SIKAO_INLINE __m256 dpbf16(__m256 acc, __m256i a, __m256i b) {
  return _mm256_fmadd_ps(bf16_even(a), bf16_even(b),
                         _mm256_fmadd_ps(bf16_odd(a), bf16_odd(b), acc));
}
SIKAO_INLINE f512 dpbf16_ps(f512 acc, bh512 a, bh512 b) {
  return SIKAO_F3(f512, dpbf16, acc, a, b);
}
// 8 fp32 to bf16 in the low 16 bits of each lane, rounded to nearest even (NaNs stay NaNs)
SIKAO_INLINE __m256i bf16_bits(__m256 a) {
  const __m256i x = _mm256_castps_si256(a);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(
      _mm256_add_epi32(x, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF))), 16);
  const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(r, nan, _mm256_castps_si256(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)));
}
SIKAO_INLINE __m256i pack_bf16(f512 a) {  // 16 bf16 in order
  // packus works per 128-bit lane: lo's and hi's halves interleave; the permute restores them
  return _mm256_permute4x64_epi64(_mm256_packus_epi32(bf16_bits(a.lo), bf16_bits(a.hi)), 0xD8);
}
SIKAO_INLINE __m256bh cvtneps_pbh(f512 a) { return (__m256bh)pack_bf16(a); }
SIKAO_INLINE bh512 cvtne2ps_pbh(f512 b, f512 a) {  // a's 16, then b's
  return bh512(i512{pack_bf16(a), pack_bf16(b)});
}

#undef SIKAO_INLINE
#undef SIKAO_F1
#undef SIKAO_F2
#undef SIKAO_F3
}  // namespace sikao::avx2

// GCC declares these for AVX-512 targets only: the names now call the emulation above
#define SIKAO_AVX2(name) sikao::avx2::name
#define __m512 SIKAO_AVX2(f512)
#define __m512i SIKAO_AVX2(i512)
#define __m512d SIKAO_AVX2(d512)
#define __m512bh SIKAO_AVX2(bh512)
#undef _mm512_set1_ps
#define _mm512_set1_ps SIKAO_AVX2(set1_ps)
#undef _mm512_setzero_ps
#define _mm512_setzero_ps SIKAO_AVX2(setzero_ps)
#undef _mm512_loadu_ps
#define _mm512_loadu_ps SIKAO_AVX2(loadu_ps)
#undef _mm512_load_ps
#define _mm512_load_ps SIKAO_AVX2(loadu_ps)
#undef _mm512_storeu_ps
#define _mm512_storeu_ps SIKAO_AVX2(storeu_ps)
#undef _mm512_store_ps
#define _mm512_store_ps SIKAO_AVX2(storeu_ps)
#undef _mm512_add_ps
#define _mm512_add_ps SIKAO_AVX2(add_ps)
#undef _mm512_sub_ps
#define _mm512_sub_ps SIKAO_AVX2(sub_ps)
#undef _mm512_mul_ps
#define _mm512_mul_ps SIKAO_AVX2(mul_ps)
#undef _mm512_div_ps
#define _mm512_div_ps SIKAO_AVX2(div_ps)
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps SIKAO_AVX2(fmadd_ps)
#undef _mm512_fnmadd_ps
#define _mm512_fnmadd_ps SIKAO_AVX2(fnmadd_ps)
#undef _mm512_max_ps
#define _mm512_max_ps SIKAO_AVX2(max_ps)
#undef _mm512_abs_ps
#define _mm512_abs_ps SIKAO_AVX2(abs_ps)
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps SIKAO_AVX2(reduce_add_ps)
#undef _mm512_reduce_max_ps
#define _mm512_reduce_max_ps SIKAO_AVX2(reduce_max_ps)
#undef _mm512_cmp_ps_mask
#define _mm512_cmp_ps_mask(a, b, p) SIKAO_AVX2(cmp_ps_mask<p>)(a, b)
#undef _mm512_mask_cmp_ps_mask
#define _mm512_mask_cmp_ps_mask(k, a, b, p) ((__mmask16)((k) & SIKAO_AVX2(cmp_ps_mask<p>)(a, b)))
#undef _mm512_mask_mov_ps
#define _mm512_mask_mov_ps SIKAO_AVX2(mask_mov_ps)
#undef _mm512_maskz_mov_ps
#define _mm512_maskz_mov_ps SIKAO_AVX2(maskz_mov_ps)
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps SIKAO_AVX2(maskz_loadu_ps)
#undef _mm512_mask_loadu_ps
#define _mm512_mask_loadu_ps SIKAO_AVX2(mask_loadu_ps)
#undef _mm512_mask_mul_ps
#define _mm512_mask_mul_ps SIKAO_AVX2(mask_mul_ps)
#undef _mm512_mask_max_ps
#define _mm512_mask_max_ps SIKAO_AVX2(mask_max_ps)
#undef _mm512_roundscale_ps
#define _mm512_roundscale_ps(a, r) SIKAO_AVX2(roundscale_ps<r>)(a)
#undef _mm512_scalef_ps
#define _mm512_scalef_ps SIKAO_AVX2(scalef_ps)
#undef _mm512_set1_epi32
#define _mm512_set1_epi32 SIKAO_AVX2(set1_epi32)
#undef _mm512_set1_epi16
#define _mm512_set1_epi16 SIKAO_AVX2(set1_epi16)
#undef _mm512_set1_epi8
#define _mm512_set1_epi8 SIKAO_AVX2(set1_epi8)
#undef _mm512_setzero_si512
#define _mm512_setzero_si512 SIKAO_AVX2(setzero_si512)
#undef _mm512_setr_epi32
#define _mm512_setr_epi32 SIKAO_AVX2(setr_epi32)
#undef _mm512_set_epi16
#define _mm512_set_epi16 SIKAO_AVX2(set_epi16)
#undef _mm512_loadu_si512
#define _mm512_loadu_si512 SIKAO_AVX2(loadu_si512)
#undef _mm512_load_si512
#define _mm512_load_si512 SIKAO_AVX2(loadu_si512)
#undef _mm512_storeu_si512
#define _mm512_storeu_si512 SIKAO_AVX2(storeu_si512)
#undef _mm512_add_epi32
#define _mm512_add_epi32 SIKAO_AVX2(add_epi32)
#undef _mm512_add_epi16
#define _mm512_add_epi16 SIKAO_AVX2(add_epi16)
#undef _mm512_mullo_epi32
#define _mm512_mullo_epi32 SIKAO_AVX2(mullo_epi32)
#undef _mm512_and_si512
#define _mm512_and_si512 SIKAO_AVX2(and_si512)
#undef _mm512_srli_epi16
#define _mm512_srli_epi16 SIKAO_AVX2(srli_epi16)
#undef _mm512_slli_epi32
#define _mm512_slli_epi32 SIKAO_AVX2(slli_epi32)
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 SIKAO_AVX2(cvtps_epi32)
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps SIKAO_AVX2(cvtepi32_ps)
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32 SIKAO_AVX2(cvtepu16_epi32)
#undef _mm512_cvtepu8_epi32
#define _mm512_cvtepu8_epi32 SIKAO_AVX2(cvtepu8_epi32)
#undef _mm512_cvtepi8_epi16
#define _mm512_cvtepi8_epi16 SIKAO_AVX2(cvtepi8_epi16)
#undef _mm512_cvtepi32_epi8
#define _mm512_cvtepi32_epi8 SIKAO_AVX2(cvtepi32_epi8)
#undef _mm512_cvtepi32_epi16
#define _mm512_cvtepi32_epi16 SIKAO_AVX2(cvtepi32_epi16)
#undef _mm512_cvtsepi32_epi8
#define _mm512_cvtsepi32_epi8 SIKAO_AVX2(cvtsepi32_epi8)
#undef _mm512_reduce_add_epi32
#define _mm512_reduce_add_epi32 SIKAO_AVX2(reduce_add_epi32)
#undef _mm512_mask_reduce_min_epi32
#define _mm512_mask_reduce_min_epi32 SIKAO_AVX2(mask_reduce_min_epi32)
#undef _mm512_cmplt_epi32_mask
#define _mm512_cmplt_epi32_mask SIKAO_AVX2(cmplt_epi32_mask)
#undef _mm512_mask_mov_epi32
#define _mm512_mask_mov_epi32 SIKAO_AVX2(mask_mov_epi32)
#undef _mm512_mask_i32gather_ps
#define _mm512_mask_i32gather_ps SIKAO_AVX2(mask_i32gather_ps)
#undef _mm512_unpacklo_ps
#define _mm512_unpacklo_ps SIKAO_AVX2(unpacklo_ps)
#undef _mm512_unpackhi_ps
#define _mm512_unpackhi_ps SIKAO_AVX2(unpackhi_ps)
#undef _mm512_unpacklo_pd
#define _mm512_unpacklo_pd SIKAO_AVX2(unpacklo_pd)
#undef _mm512_unpackhi_pd
#define _mm512_unpackhi_pd SIKAO_AVX2(unpackhi_pd)
#undef _mm512_unpacklo_epi16
#define _mm512_unpacklo_epi16 SIKAO_AVX2(unpacklo_epi16)
#undef _mm512_unpackhi_epi16
#define _mm512_unpackhi_epi16 SIKAO_AVX2(unpackhi_epi16)
#undef _mm512_castps_pd
#define _mm512_castps_pd SIKAO_AVX2(castps_pd)
#undef _mm512_castpd_ps
#define _mm512_castpd_ps SIKAO_AVX2(castpd_ps)
#undef _mm512_castsi512_ps
#define _mm512_castsi512_ps SIKAO_AVX2(castsi512_ps)
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4(a, b, m) SIKAO_AVX2(shuffle_f32x4<m>)(a, b)
#undef _mm512_permutex2var_ps
#define _mm512_permutex2var_ps SIKAO_AVX2(permutex2var_ps)
#undef _mm512_permutex2var_epi16
#define _mm512_permutex2var_epi16 SIKAO_AVX2(permutex2var_epi16)
#undef _mm512_permutexvar_epi16
#define _mm512_permutexvar_epi16 SIKAO_AVX2(permutexvar_epi16)
#undef _mm512_dpbusd_epi32
#define _mm512_dpbusd_epi32 SIKAO_AVX2(dpbusd_epi32)
#undef _mm512_dpwssd_epi32
#define _mm512_dpwssd_epi32 SIKAO_AVX2(dpwssd_epi32)
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps SIKAO_AVX2(dpbf16_ps)
#undef _mm512_cvtneps_pbh
#define _mm512_cvtneps_pbh SIKAO_AVX2(cvtneps_pbh)
#undef _mm512_cvtne2ps_pbh
#define _mm512_cvtne2ps_pbh SIKAO_AVX2(cvtne2ps_pbh)
