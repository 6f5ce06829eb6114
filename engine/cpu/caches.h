// How decode attention (attention.cpp) reads each KV cache type, fp32, bf16 or int8 rows (kv8.h):
// the query prepared for the keys (query), q.k for a block of 16 keys (dots, each key's products
// summed by one tree for all 16), and the values mixed by the probabilities (mix).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "kv8.h"

namespace sikao::decoding {

// 16 vectors to one whose lane j is the sum of a[j]'s lanes: a transpose-and-add tree (45 ops;
// 16 horizontal reductions take ~130 and were most of the decode attention's time)
inline __m512 sum16(const __m512* a) {
  __m512 t[8], u[4], w[2];
  for (int i = 0; i < 8; i++)  // lane pairs (0, 2), (1, 3) of every 128-bit quarter
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                         _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int i = 0; i < 4; i++) {  // quarter q of u[i] holds keys 4i..4i+3 summed over quarter q
    __m512d x = _mm512_castps_pd(t[2 * i]), y = _mm512_castps_pd(t[2 * i + 1]);
    u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  for (int i = 0; i < 2; i++)  // quarters (0, 1) and (2, 3) added
    w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88),
                       _mm512_shuffle_f32x4(w[0], w[1], 0xDD));
}

// q . k for the m (<= 16) keys at k, k + sn, ...; lanes past m are 0. C: head_dim / 16.
template <int C>
inline __m512 dots(const float* q, const float* k, long sn, int m) {
  __m512 acc[16];
  for (int j = 0; j < 16; j++) {
    acc[j] = _mm512_setzero_ps();
    if (j < m)
      for (int c = 0; c < C; c++)
        acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(k + j * sn + 16 * c),
                                 _mm512_loadu_ps(q + 16 * c), acc[j]);
  }
  return sum16(acc);
}

template <int C>  // bf16 keys, q rounded to bf16: pairs of products per lane (vdpbf16ps)
inline __m512 dots(const uint16_t* q, const uint16_t* k, long sn, int m) {
  __m512 acc[16];
  for (int j = 0; j < 16; j++) {
    acc[j] = _mm512_setzero_ps();
    if (j < m)
      for (int c = 0; c < C / 2; c++)
        acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)_mm512_loadu_si512(k + j * sn + 32 * c),
                                  (__m512bh)_mm512_loadu_si512(q + 32 * c));
  }
  return sum16(acc);
}

#ifdef __AVX512F__
template <int C>  // keys' bytes (+ 128) against an int8 query: four products per lane (vpdpbusd)
inline __m512 dots(const int8_t* q, const uint8_t* k, long sn, int m) {
  __m512 acc[16];
  for (int j = 0; j < 16; j++) {
    __m512i a = _mm512_setzero_si512();
    if (j < m)
      for (int c = 0; c < C / 4; c++)
        a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(k + j * sn + 64 * c),
                                _mm512_loadu_si512(q + 64 * c));
    acc[j] = _mm512_cvtepi32_ps(a);  // exact: |a| < 2^24 for D <= 256
  }
  return sum16(acc);
}
#else
// 8 vectors to one whose lane j is the sum of a[j]'s lanes (sum16's tree, for a ymm each)
inline __m256 sum8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 t1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
}

// The same dots on AVX2, 8 keys at a time in registers (16 at once spilled to the stack). The
// stored bytes are made signed again (x ^ 0x80) for vpmaddubsw, as |q| times the key with q's
// sign; each lane starts from 128 times its four query bytes, which the + 128 of the stored
// bytes added to vpdpbusd's.
template <int C>
inline __m512 dots(const int8_t* q, const uint8_t* k, long sn, int m) {
  constexpr int N = C / 2;  // 32-byte chunks of a head
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(-128);
  __m256i qa[N], qs[N], base = _mm256_setzero_si256();
  for (int c = 0; c < N; c++) {
    qs[c] = _mm256_loadu_si256((const __m256i*)(q + 32 * c));
    qa[c] = _mm256_abs_epi8(qs[c]);
    base = _mm256_add_epi32(base, _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_set1_epi8(1), qs[c]), _mm256_set1_epi16(128)));
  }
  __m256 half[2];
  for (int b = 0; b < 2; b++) {
    __m256 acc[8];
    for (int j = 0; j < 8; j++) {
      __m256i a = _mm256_setzero_si256();
      if (8 * b + j < m) {
        a = base;
        for (int c = 0; c < N; c++) {
          const __m256i key = _mm256_xor_si256(
              _mm256_loadu_si256((const __m256i*)(k + (8 * b + j) * sn + 32 * c)), flip);
          a = _mm256_add_epi32(a, _mm256_madd_epi16(
              _mm256_maddubs_epi16(qa[c], _mm256_sign_epi8(key, qs[c])), ones));
        }
      }
      acc[j] = _mm256_cvtepi32_ps(a);
    }
    half[b] = sum8(acc);
  }
  return {half[0], half[1]};
}
#endif

// The hardware prefetcher lags on these per-head streams: fetch `bytes` at p ahead of use. Keys
// and values are fetched AHEAD rows before they are read: far enough for rows coming from DRAM (a
// decode step's caches of all layers do not fit in L3; 16 rows ahead covered only L3's latency,
// and a one-row step of the bundled model's layer at 4,000 keys took 49.8 us instead of 43.5).
constexpr int AHEAD = 64;
inline void prefetch(const void* p, int bytes) {
  for (int b = 0; b < bytes; b += 64) _mm_prefetch((const char*)p + b, _MM_HINT_T0);
}

inline void put(float* p, __m512 x) { _mm512_storeu_ps(p, x); }
inline void put(uint16_t* p, __m512 x) {
  _mm256_storeu_si256((__m256i*)p, (__m256i)_mm512_cvtneps_pbh(x));
}

// The query heads as dots reads them, and per head a, b: a key's score is (dot - b) * a * its
// row's scale. fp32 and bf16: a copy (rounded to bf16), a = 1/sqrt(D), b = 0.
template <class Q>
void query(const float* q, int G, int D, Q* qt, float* a, float* b) {
  for (int i = 0; i < G * D; i += 16) put(qt + i, _mm512_loadu_ps(q + i));
  for (int h = 0; h < G; h++) a[h] = 1.f / std::sqrt((float)D), b[h] = 0.f;
}

// int8 rows: each head rounded to int8 on its own scale; b takes out the keys' + 128
inline void query(const float* q, int G, int D, int8_t* qt, float* a, float* b) {
  for (int h = 0; h < G; h++) {
    const float* qh = q + h * D;
    const float amax = largest(qh, D);
    const __m512 inv = _mm512_set1_ps(to_int8(amax));
    __m512i sum = _mm512_setzero_si512();
    for (int d = 0; d < D; d += 16) {
      const __m512i x = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(qh + d), inv));
      sum = _mm512_add_epi32(sum, x);
      _mm_storeu_si128((__m128i*)(qt + h * D + d), _mm512_cvtsepi32_epi8(x));
    }
    a[h] = amax / 127.f / std::sqrt((float)D);
    b[h] = 128.f * _mm512_reduce_add_epi32(sum);
  }
}

// The scales of the m (<= 16) rows at r, r + sn, ...: 1 but for int8 rows (0 past m)
template <class T>
inline __m512 scales(const T*, long, int, int) { return _mm512_set1_ps(1.f); }
inline __m512 scales(const uint8_t* r, long sn, int m, int D) {
  const __m512i at = _mm512_add_epi32(
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32((int)sn)),
      _mm512_set1_epi32(D));
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first(m), at, r, 1);
}

// Values are mixed CS vectors of 16 dims at a time for up to HEADS<CS> heads: their accumulators
// fit in registers beside the value row.
template <int CS>
constexpr int HEADS = std::max(1, 3 * VREGS / 4 / CS);
// CS of a pass over part of the dims: on AVX2, 32 (64 spilled the int8 mix's accumulators)
constexpr int SLICE = VREGS >= 32 ? 4 : 2;

// Where a row's keys and values are read: positions [0, shared) from another row's cache holding
// the same ones (a forked branch's prompt, read once for all its siblings), the rest its own.
template <class T>
struct Rows {
  const T *k0, *v0, *k, *v;
  int shared, n;
  const T* key(int j, long sn) const { return (j < shared ? k0 : k) + j * sn; }
  const T* value(int j, long sn) const { return (j < shared ? v0 : v) + j * sn; }
  int end(int j) const { return j < shared ? shared : n; }  // of j's run of keys in one row
  Rows range(int lo, int hi, long sn) const {  // positions lo..hi-1, renumbered from 0
    return {k0 + lo * sn, v0 + lo * sn, k + lo * sn, v + lo * sn,
            std::clamp(shared - lo, 0, hi - lo), hi - lo};
  }
  Rows dims(int d) const { return {k0, v0 + d, k, v + d, shared, n}; }  // values from dim d on
};

// y[h][0:16CS] = inv[h] * sum_j p[h][j] v_j[0:16CS] for g <= HEADS<CS> heads (p rows `ps` apart,
// y rows `ys` apart).
template <int CS>
void mix(const float* p, int ps, int g, const Rows<float>& r, long sn, const float* inv, float* y,
         int ys) {
  constexpr int HG = HEADS<CS>;
  __m512 o[HG][CS];
  for (int h = 0; h < HG; h++)
    for (int c = 0; c < CS; c++) o[h][c] = _mm512_setzero_ps();
  for (int j = 0; j < r.n; j++) {
    if (j + AHEAD < r.n) prefetch(r.value(j + AHEAD, sn), 64 * CS);
    const float* v = r.value(j, sn);
    __m512 vj[CS];
    for (int c = 0; c < CS; c++) vj[c] = _mm512_loadu_ps(v + 16 * c);
    for (int h = 0; h < HG; h++) {
      if (h >= g) break;
      __m512 pj = _mm512_set1_ps(p[h * ps + j]);
      for (int c = 0; c < CS; c++) o[h][c] = _mm512_fmadd_ps(pj, vj[c], o[h][c]);
    }
  }
  for (int h = 0; h < g; h++)
    for (int c = 0; c < CS; c++)
      _mm512_storeu_ps(y + h * ys + 16 * c, _mm512_mul_ps(o[h][c], _mm512_set1_ps(inv[h])));
}

// The 16-bit mixes below take keys in pairs: rows j and j+1 interleaved (dims in the order
// unpacklo/hi leave them, restored by unpair) so each product adds p_j v_j + p_j+1 v_j+1; a pair
// never spans the two rows' runs (a run's odd last key is paired with zeros).
inline __m512i wide32(const uint16_t* v) { return _mm512_loadu_si512(v); }
inline __m512i wide32(const uint8_t* v) {  // an int8 row's bytes less 128, as int16
  const __m256i x = _mm256_loadu_si256((const __m256i*)v);
  return _mm512_cvtepi8_epi16(_mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)));
}

template <int CS, class T>  // rows j and (if both) j + 1, their first 16CS dims, in pairs
inline void pairs(const T* v, long sn, bool both, __m512i* vj) {
  for (int c = 0; c < CS / 2; c++) {
    const __m512i a = wide32(v + 32 * c);
    const __m512i b = both ? wide32(v + sn + 32 * c) : _mm512_setzero_si512();
    vj[2 * c] = _mm512_unpacklo_epi16(a, b);
    vj[2 * c + 1] = _mm512_unpackhi_epi16(a, b);
  }
}

// 16-bit p_j, p_j+1 as one lane (j may be odd: the own run can start anywhere)
inline int32_t pair(const void* p, int j) {
  int32_t x;
  std::memcpy(&x, (const char*)p + 2 * j, sizeof x);
  return x;
}

template <int CS>  // y[0:16CS] = scale * the pairs' sums o, in dim order again
inline void unpair(const __m512* o, float scale, float* y) {
  // unpacklo held dims 0-3, 8-11, 16-19, 24-27 of each 32; unpackhi the others
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  const __m512 s = _mm512_set1_ps(scale);
  for (int c = 0; c < CS / 2; c++) {
    _mm512_storeu_ps(y + 32 * c,
                     _mm512_mul_ps(_mm512_permutex2var_ps(o[2 * c], lo, o[2 * c + 1]), s));
    _mm512_storeu_ps(y + 32 * c + 16,
                     _mm512_mul_ps(_mm512_permutex2var_ps(o[2 * c], hi, o[2 * c + 1]), s));
  }
}

// bf16 values and probabilities: vdpbf16ps into fp32
template <int CS>
void mix(const uint16_t* p, int ps, int g, const Rows<uint16_t>& r, long sn, const float* inv,
         float* y, int ys) {
  constexpr int HG = HEADS<CS>;
  __m512 o[HG][CS];
  for (int h = 0; h < HG; h++)
    for (int c = 0; c < CS; c++) o[h][c] = _mm512_setzero_ps();
  for (int j = 0, step; j < r.n; j += step) {
    step = j + 1 < r.end(j) ? 2 : 1;
    if (j + AHEAD + 1 < r.n) {
      prefetch(r.value(j + AHEAD, sn), 32 * CS);
      prefetch(r.value(j + AHEAD + 1, sn), 32 * CS);
    }
    __m512i vj[CS];
    pairs<CS>(r.value(j, sn), sn, step == 2, vj);
    for (int h = 0; h < HG; h++) {
      if (h >= g) break;
      const __m512bh pj = (__m512bh)_mm512_set1_epi32(pair(p + h * ps, j));
      for (int c = 0; c < CS; c++) o[h][c] = _mm512_dpbf16_ps(o[h][c], pj, (__m512bh)vj[c]);
    }
  }
  for (int h = 0; h < g; h++) unpair<CS>(o[h], inv[h], y + h * ys);
}

// int8 rows against int16 probabilities (each row's scale in, attend's): vpdpwssd into int32,
// moved to fp32 every 256 keys, before 32767 * 128 * 2 a pair could overflow them. Their rows
// were prefetched with the keys (attend read their scales).
template <int CS>
void mix(const int16_t* p, int ps, int g, const Rows<uint8_t>& r, long sn, const float* inv,
         float* y, int ys) {
  constexpr int HG = HEADS<CS>;
  __m512 o[HG][CS];
  __m512i acc[HG][CS];
  for (int h = 0; h < HG; h++)
    for (int c = 0; c < CS; c++) o[h][c] = _mm512_setzero_ps(), acc[h][c] = _mm512_setzero_si512();
  for (int j = 0, step, since = 0; j < r.n; j += step) {
    step = j + 1 < r.end(j) ? 2 : 1;
    __m512i vj[CS];
    pairs<CS>(r.value(j, sn), sn, step == 2, vj);
    for (int h = 0; h < HG; h++) {
      if (h >= g) break;
      const __m512i pj = _mm512_set1_epi32(pair(p + h * ps, j));
      for (int c = 0; c < CS; c++) acc[h][c] = _mm512_dpwssd_epi32(acc[h][c], pj, vj[c]);
    }
    if ((since += step) >= 256 || j + step >= r.n) {
      for (int h = 0; h < HG; h++) {
        if (h >= g) break;
        for (int c = 0; c < CS; c++) {
          o[h][c] = _mm512_add_ps(o[h][c], _mm512_cvtepi32_ps(acc[h][c]));
          acc[h][c] = _mm512_setzero_si512();
        }
      }
      since = 0;
    }
  }
  for (int h = 0; h < g; h++) unpair<CS>(o[h], inv[h], y + h * ys);
}

// y [G, 16C] from probabilities p [G][np]: passes of CS vectors of dims and HEADS<CS> heads.
template <int CS, class P, class T>
void mix_passes(const P* p, int np, int G, const Rows<T>& r, long sn, const float* inv, float* y,
                int C) {
  for (int c = 0; c < C; c += CS)
    for (int h = 0; h < G; h += HEADS<CS>)
      mix<CS>(p + h * np, np, std::min(HEADS<CS>, G - h), r.dims(16 * c), sn, inv + h,
              y + h * 16 * C + 16 * c, 16 * C);
}

}  // namespace sikao::decoding
