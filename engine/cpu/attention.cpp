// Decode attention: one query a row over the slot cache: fp32, int8 rows (quantized models: kv8.h)
// or bf16 (their compiled steps' caches). A prompt chunk's attention is prefill.cpp's.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "caches.h"
#include "common.h"
#include "kv8.h"
#include "team.h"

using namespace sikao;
using namespace sikao::decoding;

namespace {

// What attend holds for a cache of T: the query as dots reads it (Q) and the probabilities as mix
// reads them (P). int8 rows: an int8 query, and int16 probabilities with the value rows' scales in.
template <class T>
struct Kind {
  using Q = T;
  using P = T;
};
template <>
struct Kind<uint8_t> {
  using Q = int8_t;
  using P = int16_t;
};

// Buffer I of this thread, n zeroed T's: kept from call to call, because allocating a task's seven
// buffers took a fifth of an 8-row step's attention (0.50 -> 0.40 ms a step)
template <class T, int I>
T* zeroed(size_t n) {
  static thread_local std::vector<T> v;
  v.assign(n, T());
  return v.data();
}

// The query heads of one KV head over its r.n keys: scores a block of 16 keys at a time (each key
// read once for all G heads; a block does not span the two runs), softmax, then the values. With
// `stats`, each head's max score and sum of exponentials go there (to combine ranges of keys).
template <class T, int C>
void attend(const float* q, const Rows<T>& r, float* y, int G, long sn, float* stats) {
  constexpr int D = 16 * C;
  constexpr bool int8 = std::is_same_v<T, uint8_t>;
  const int n = r.n, np = (n + 32) & ~15;  // the pad after an odd n, and a block past a run's end
  float *s = zeroed<float, 0>((size_t)G * np), *vs = zeroed<float, 1>(int8 ? np : 0),
        *a = zeroed<float, 2>(3 * G), *b = a + G, *inv = b + G;
  typename Kind<T>::P* p = zeroed<typename Kind<T>::P, 3>((size_t)G * np);
  typename Kind<T>::Q* qt = zeroed<typename Kind<T>::Q, 4>((size_t)G * D);
  query(q, G, D, qt, a, b);
  for (int i = 0; i < std::min(n, AHEAD); i++) {  // the rows the loops' prefetches start past
    prefetch(r.key(i, sn), D * sizeof(T));
    prefetch(r.value(i, sn), D * sizeof(T));
  }
  for (int j = 0, m; j < n; j += m) {
    m = std::min(16, r.end(j) - j);
    for (int i = j + AHEAD; i < std::min(n, j + AHEAD + 16); i++) {
      prefetch(r.key(i, sn), D * sizeof(T));
      if (int8) prefetch(r.value(i, sn), D);  // for the scales read next, and then for mix
    }
    const __m512 ks = scales(r.key(j, sn), sn, m, D);
    if constexpr (int8) _mm512_storeu_ps(vs + j, scales(r.value(j, sn), sn, m, D));
    for (int h = 0; h < G; h++)
      _mm512_storeu_ps(s + h * np + j,
                       _mm512_mul_ps(_mm512_sub_ps(dots<C>(qt + h * D, r.key(j, sn), sn, m),
                                                   _mm512_set1_ps(b[h])),
                                     _mm512_mul_ps(_mm512_set1_ps(a[h]), ks)));
  }
  for (int h = 0; h < G; h++) {
    float* sh = s + h * np;
    __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps(), top = sum;
    for (int j = 0; j < n; j += 16)
      mx = _mm512_mask_max_ps(mx, first(n - j), mx, _mm512_loadu_ps(sh + j));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int j = 0; j < np; j += 16) {
      __m512 e = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(sh + j), m));
      e = _mm512_maskz_mov_ps(first(n - j), e);
      sum = _mm512_add_ps(sum, e);
      if constexpr (int8) {  // times the value row's scale, kept for the rounding below
        e = _mm512_mul_ps(e, _mm512_loadu_ps(vs + j));
        top = _mm512_max_ps(top, e);
        _mm512_storeu_ps(sh + j, e);
      } else {
        put(p + h * np + j, e);
      }
    }
    const float total = _mm512_reduce_add_ps(sum);
    inv[h] = 1.f / total;
    if (stats) stats[2 * h] = m[0], stats[2 * h + 1] = total;
    if constexpr (int8) {  // to int16 on the head's largest: 2^-16 of it at most off
      const float most = _mm512_reduce_max_ps(top);
      const __m512 to = _mm512_set1_ps(most > 0.f ? 32767.f / most : 0.f);
      for (int j = 0; j < np; j += 16)
        _mm256_storeu_si256((__m256i*)(p + h * np + j),
                            _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(
                                _mm512_mul_ps(_mm512_loadu_ps(sh + j), to))));
      inv[h] *= most / 32767.f;
    }
  }
  if (G * C <= 3 * VREGS / 4)  // every head's whole rows at once
    mix_passes<C>(p, np, G, r, sn, inv, y, C);
  else  // SLICE dims at a time (AVX-512: 64 for 6 heads, each value row read once for them)
    mix_passes<SLICE>(p, np, G, r, sn, inv, y, C);
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
                    share ? std::min(share[B + b], kn ? n - 1 : n) : 0, n};
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
// last dim contiguous); query heads h*G..h*G+G-1 read KV head h. One task per (row, KV head),
// or per range of its keys. With kn and vn (fp32 [B, KV, D], rows ns apart) the step's own key
// and value are first written at position lens[b] - 1. With `share` ([2, B]: a row index, a
// length) row b reads its first share[B + b] keys and values from row share[b] (which must hold
// the same ones there; not the step's own, written to row b): siblings read a common prefix once.
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
