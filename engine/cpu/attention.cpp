// Decode attention: one query a row over the slot cache: fp32, int8 rows (quantized models: kv8.h)
// or bf16 (their compiled steps' caches). A prompt chunk's attention is prefill.cpp's.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "kv8.h"
#include "team.h"

using namespace sikao;

namespace {

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
void query(const float* q, int G, int D, int8_t* qt, float* a, float* b) {
  for (int h = 0; h < G; h++) {
    const float* qh = q + h * D;
    __m512 top = _mm512_setzero_ps();
    for (int d = 0; d < D; d += 16) top = _mm512_max_ps(top, _mm512_abs_ps(_mm512_loadu_ps(qh + d)));
    const float amax = _mm512_reduce_max_ps(top);
    const __m512 inv = _mm512_set1_ps(amax > 0.f ? 127.f / amax : 0.f);
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
constexpr int HEADS = 24 / CS;

// Where a row's keys and values are read: positions [0, shared) from another row's cache holding
// the same ones (a forked branch's prompt, read once for all its siblings), the rest its own.
template <class T>
struct Rows {
  const T *k0, *v0, *k, *v;
  int shared, n;
  int tail;  // int8 rows: from a value pointer to its row's scale (D, less the dims skipped)
  const T* key(int j, long sn) const { return (j < shared ? k0 : k) + j * sn; }
  const T* value(int j, long sn) const { return (j < shared ? v0 : v) + j * sn; }
  int end(int j) const { return j < shared ? shared : n; }  // of j's run of keys in one row
  Rows range(int lo, int hi, long sn) const {  // positions lo..hi-1, renumbered from 0
    return {k0 + lo * sn, v0 + lo * sn, k + lo * sn, v + lo * sn,
            std::clamp(shared - lo, 0, hi - lo), hi - lo, tail};
  }
  Rows dims(int d) const { return {k0, v0 + d, k, v + d, shared, n, tail - d}; }  // from dim d on
};

template <int CS>  // a value row's first 16CS dims in fp32
inline void row(const float* v, int, __m512* x) {
  for (int c = 0; c < CS; c++) x[c] = _mm512_loadu_ps(v + 16 * c);
}
template <int CS>  // int8 rows: (byte - 128) * scale, as exact as one rounding can be
inline void row(const uint8_t* v, int tail, __m512* x) {
  const float s = row_scale(v, tail);
  const __m512 a = _mm512_set1_ps(s), b = _mm512_set1_ps(128.f * s);
  for (int c = 0; c < CS; c++) x[c] = _mm512_fmsub_ps(bytes16(v + 16 * c), a, b);
}

// y[h][0:16CS] = inv[h] * sum_j p[h][j] v_j[0:16CS] for g <= HEADS<CS> heads (p rows `ps`
// apart, y rows `ys` apart): fp32 values, or int8 rows taken to fp32.
template <int CS, class R>
void mix(const float* p, int ps, int g, const Rows<R>& r, long sn, const float* inv, float* y,
         int ys) {
  constexpr int HG = HEADS<CS>;
  __m512 o[HG][CS];
  for (int h = 0; h < HG; h++)
    for (int c = 0; c < CS; c++) o[h][c] = _mm512_setzero_ps();
  for (int j = 0; j < r.n; j++) {
    if (j + AHEAD < r.n) prefetch(r.value(j + AHEAD, sn), 16 * CS * sizeof(R));
    __m512 vj[CS];
    row<CS>(r.value(j, sn), r.tail, vj);
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

// bf16 values and probabilities: keys taken in pairs, rows j and j+1 interleaved (dims in the
// order unpacklo/hi leave them, restored at the end) so each vdpbf16ps adds p_j v_j + p_j+1 v_j+1;
// a pair never spans the two rows' runs (a run's odd last key is paired with zeros).
template <int CS>
void mix(const uint16_t* p, int ps, int g, const Rows<uint16_t>& r, long sn, const float* inv,
         float* y, int ys) {
  constexpr int HG = HEADS<CS>;
  __m512 o[HG][CS];
  for (int h = 0; h < HG; h++)
    for (int c = 0; c < CS; c++) o[h][c] = _mm512_setzero_ps();
  for (int j = 0, step; j < r.n; j += step) {
    const int end = r.end(j);
    step = j + 1 < end ? 2 : 1;
    if (j + AHEAD + 1 < r.n) {
      prefetch(r.value(j + AHEAD, sn), 32 * CS);
      prefetch(r.value(j + AHEAD + 1, sn), 32 * CS);
    }
    const uint16_t* v = r.value(j, sn);
    __m512i vj[CS];
    for (int c = 0; c < CS / 2; c++) {
      __m512i a = _mm512_loadu_si512(v + 32 * c);
      __m512i b = step == 2 ? _mm512_loadu_si512(v + sn + 32 * c) : _mm512_setzero_si512();
      vj[2 * c] = _mm512_unpacklo_epi16(a, b);
      vj[2 * c + 1] = _mm512_unpackhi_epi16(a, b);
    }
    for (int h = 0; h < HG; h++) {
      if (h >= g) break;
      int32_t pair;  // p_j, p_j+1 (j may be odd: the own run can start anywhere)
      std::memcpy(&pair, p + h * ps + j, sizeof pair);
      __m512bh pj = (__m512bh)_mm512_set1_epi32(pair);
      for (int c = 0; c < CS; c++) o[h][c] = _mm512_dpbf16_ps(o[h][c], pj, (__m512bh)vj[c]);
    }
  }
  // unpacklo held dims 0-3, 8-11, 16-19, 24-27 of each 32; unpackhi the others
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (int h = 0; h < g; h++) {
    __m512 scale = _mm512_set1_ps(inv[h]);
    for (int c = 0; c < CS / 2; c++) {
      float* out = y + h * ys + 32 * c;
      const __m512 a = o[h][2 * c], b = o[h][2 * c + 1];
      _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_permutex2var_ps(a, lo, b), scale));
      _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_permutex2var_ps(a, hi, b), scale));
    }
  }
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

// What attend holds for a cache of T: the query as dots reads it (Q) and the probabilities as mix
// reads them (P). int8 rows: an int8 query, and fp32 probabilities.
template <class T>
struct Kind {
  using Q = T;
  using P = T;
};
template <>
struct Kind<uint8_t> {
  using Q = int8_t;
  using P = float;
};

// The query heads of one KV head over its r.n keys: scores a block of 16 keys at a time (each key
// read once for all G heads; a block does not span the two runs), softmax, then the values. With
// `stats`, each head's max score and sum of exponentials go there (to combine ranges of keys).
template <class T, int C>
void attend(const float* q, const Rows<T>& r, float* y, int G, long sn, float* stats) {
  constexpr int D = 16 * C;
  const int n = r.n, np = (n + 32) & ~15;  // the pad after an odd n, and a block past a run's end
  std::vector<float> s((size_t)G * np), a(G), b(G), inv(G);
  std::vector<typename Kind<T>::P> p((size_t)G * np);
  std::vector<typename Kind<T>::Q> qt((size_t)G * D);
  query(q, G, D, qt.data(), a.data(), b.data());
  for (int i = 0; i < std::min(n, AHEAD); i++) {  // the rows the loops' prefetches start past
    prefetch(r.key(i, sn), D * sizeof(T));
    prefetch(r.value(i, sn), D * sizeof(T));
  }
  for (int j = 0, m; j < n; j += m) {
    m = std::min(16, r.end(j) - j);
    for (int i = j + AHEAD; i < std::min(n, j + AHEAD + 16); i++)
      prefetch(r.key(i, sn), D * sizeof(T));
    const __m512 ks = scales(r.key(j, sn), sn, m, D);
    for (int h = 0; h < G; h++)
      _mm512_storeu_ps(s.data() + h * np + j,
                       _mm512_mul_ps(_mm512_sub_ps(dots<C>(qt.data() + h * D, r.key(j, sn), sn, m),
                                                   _mm512_set1_ps(b[h])),
                                     _mm512_mul_ps(_mm512_set1_ps(a[h]), ks)));
  }
  for (int h = 0; h < G; h++) {
    const float* sh = s.data() + h * np;
    __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16)
      mx = _mm512_mask_max_ps(mx, first(n - j), mx, _mm512_loadu_ps(sh + j));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int j = 0; j < np; j += 16) {
      __m512 e = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(sh + j), m));
      e = _mm512_maskz_mov_ps(first(n - j), e);
      put(p.data() + h * np + j, e);
      sum = _mm512_add_ps(sum, e);
    }
    const float total = _mm512_reduce_add_ps(sum);
    inv[h] = 1.f / total;
    if (stats) stats[2 * h] = m[0], stats[2 * h + 1] = total;
  }
  if (G * C <= 24)  // every head's whole rows at once
    mix_passes<C>(p.data(), np, G, r, sn, inv.data(), y, C);
  else  // 64 dims at a time, 6 heads: each value row still read once for up to 6 heads
    mix_passes<4>(p.data(), np, G, r, sn, inv.data(), y, C);
}

// y [G, D] from S attentions over consecutive ranges of keys (parts [S][G * D + 2 * G]: outputs,
// then each head's max score and sum), weighted by each range's share of the softmax.
void combine(const float* parts, int S, int G, int D, float* y) {
  const int stride = G * D + 2 * G;
  float w[16];  // each range's weight (S <= 16)
  for (int h = 0; h < G; h++) {
    float top = -INFINITY, total = 0.f;
    for (int s = 0; s < S; s++) top = std::max(top, parts[s * stride + G * D + 2 * h]);
    for (int s = 0; s < S; s++) {
      const float* st = parts + s * stride + G * D + 2 * h;
      total += w[s] = std::exp(st[0] - top) * st[1];
    }
    for (int d = 0; d < D; d += 16) {
      __m512 acc = _mm512_setzero_ps();
      for (int s = 0; s < S; s++)
        acc = _mm512_fmadd_ps(_mm512_set1_ps(w[s] / total),
                              _mm512_loadu_ps(parts + s * stride + h * D + d), acc);
      _mm512_storeu_ps(y + h * D + d, acc);
    }
  }
}

template <class T>
inline void store(T* p, const float* x, int d) {  // d floats, rounded to T
  for (int i = 0; i < d; i += 16) put(p + i, _mm512_loadu_ps(x + i));
}
inline void store(uint8_t* p, const float* x, int d) { quantize_row(x, d, p); }

template <class T>
void decode(const float* q, long qs, const float* kn, const float* vn, long ns, T* k, T* v,
            float* y, int B, int H, int KV, int D, long sb, long sh, long sn, const int* lens,
            const int* share, int S, float* parts) {
  const int G = H / KV, heads = B * KV;
#pragma omp for schedule(static)
  for (int t = 0; t < heads * S; t++) {
    const int s = t % S, b = t / S / KV, h = t / S % KV, n = lens[b], b0 = share ? share[b] : b;
    T *kh = k + b * sb + h * sh, *vh = v + b * sb + h * sh;
    if (kn && s == S - 1) {  // this step's key and value go in first, at position n - 1
      store(kh + (n - 1) * sn, kn + b * ns + h * D, D);
      store(vh + (n - 1) * sn, vn + b * ns + h * D, D);
    }
    const Rows<T> r{k + b0 * sb + h * sh, v + b0 * sb + h * sh, kh, vh,
                    share ? std::min(share[B + b], kn ? n - 1 : n) : 0, n, D};
    const Rows<T> part = r.range((long)n * s / S, (long)n * (s + 1) / S, sn);
    const float* qh = q + b * qs + h * G * D;
    float* yh = S == 1 ? y + (size_t)t * G * D : parts + (size_t)t * (G * D + 2 * G);
    float* stats = S == 1 ? nullptr : yh + G * D;
    switch (D) {
      case 64: attend<T, 4>(qh, part, yh, G, sn, stats); break;
      case 128: attend<T, 8>(qh, part, yh, G, sn, stats); break;
      default: attend<T, 16>(qh, part, yh, G, sn, stats); break;
    }
  }
  if (S > 1) {
#pragma omp for schedule(static)
    for (int t = 0; t < heads; t++)
      combine(parts + (size_t)t * S * (G * D + 2 * G), S, G, D, y + (size_t)t * G * D);
  }
}

void decode(const float* q, long qs, const float* kn, const float* vn, long ns, void* k, void* v,
            float* y, int B, int H, int KV, int D, long sb, long sh, long sn, const int* lens,
            const int* share, int bytes, int S, float* parts) {
  switch (bytes) {
    case 1:
      decode(q, qs, kn, vn, ns, (uint8_t*)k, (uint8_t*)v, y, B, H, KV, D, sb, sh, sn, lens, share,
             S, parts);
      break;
    case 2:
      decode(q, qs, kn, vn, ns, (uint16_t*)k, (uint16_t*)v, y, B, H, KV, D, sb, sh, sn, lens,
             share, S, parts);
      break;
    default:
      decode(q, qs, kn, vn, ns, (float*)k, (float*)v, y, B, H, KV, D, sb, sh, sn, lens, share, S,
             parts);
  }
}

}  // namespace

extern "C" {

// One query per row: y [B, H, D] = softmax(q k^T / sqrt(D)) v over the first lens[b] keys of row
// b. q [B, H, D] fp32 with rows qs apart; y contiguous; k and v caches of `bytes` an element (4
// fp32, 2 bf16, 1 int8 rows of D + 4 bytes: kv8.h) sharing strides (row, head, position; the
// last dim contiguous); query heads
// h*G..h*G+G-1 read KV head h. One task per (row, KV head), or per range of its keys. With kn
// and vn (fp32 [B, KV, D], rows ns apart) the step's own key and value are first written at
// position lens[b] - 1. With `share` ([2, B]: a row index, a length) row b reads its first
// share[B + b] keys and values from row share[b] (which must hold the same ones there; not the
// step's own, written to row b): siblings read a common prefix once.
void sikao_decode_attention(const float* q, long qs, const float* kn, const float* vn, long ns,
                            void* k, void* v, float* y, int B, int H, int KV, int D, long sb,
                            long sh, long sn, const int* lens, const int* share, int bytes,
                            int threads) {
  const int S = sikao::decode_splits(B, KV, lens, threads);
  std::vector<float> parts(S > 1 ? (size_t)S * B * H * (D + 2) : 0);
#pragma omp parallel num_threads(threads)
  decode(q, qs, kn, vn, ns, k, v, y, B, H, KV, D, sb, sh, sn, lens, share, bytes, S, parts.data());
}
}

// Fewer (row, KV head) tasks than twice the threads (one long row) leave a core idle or unevenly
// loaded: each row's keys are then split into S ranges of 400 or more, attended apart and
// combined (measured for the bundled model's one row: 3 % slower at 600 keys, so not split there;
// 7 % faster at 1,000, 25 % at 4,000).
int sikao::decode_splits(int B, int KV, const int* lens, int threads) {
  const int heads = B * KV, shortest = *std::min_element(lens, lens + B);
  if (heads >= 2 * threads) return 1;
  return std::clamp(std::min((2 * threads + heads - 1) / heads, shortest / 400), 1, 16);
}

void sikao::decode_attention_team(const float* q, long qs, const float* kn, const float* vn,
                                  long ns, void* k, void* v, float* y, int B, int H, int KV,
                                  int D, long sb, long sh, long sn, const int* lens,
                                  const int* share, int bytes, int S, float* parts) {
  decode(q, qs, kn, vn, ns, k, v, y, B, H, KV, D, sb, sh, sn, lens, share, bytes, S, parts);
}
