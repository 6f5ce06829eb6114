// Weight-only int4 / int8 matmuls with the activations quantized to int8 in blocks of 32 (the
// llama.cpp Q8_0 scheme) so the inner product runs on AVX512-VNNI (vpdpbusd: 64 multiply-adds an
// instruction). torch's packed int4 CPU kernel dequantizes its weight tile again for every few
// rows, so 8 rows cost it ~3x one row; here a 16-column tile is unpacked once (two ANDs and a
// shift for 128 weights) and multiplied into up to 8 rows held in registers, which is what lets
// 8 forked branches decode in little more time than one. Without AVX-512, the weight kinds and
// the tile are matmul_avx2.h's (vpmaddubsw).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "common.h"
#include "team.h"

using namespace sikao;

namespace {

constexpr int GROUP = 32;  // activation block and int4 weight group: the Q4/Q8 GGUF block

// x [M, K] fp32 -> q int8, per (block, row): scale, sum of x (for the int4 zeros) and -`zero` times
// the sum of q, where the dot products start: it centres the unsigned weights vpdpbusd takes (int4
// q - 8, int8 stored as q + 128).
// Block-major ([G][M][32], [G][M]): a tile's rows are one pointer and constant offsets apart (row-
// major, the 8-row tile kept 8 row pointers, spilled to vector registers and moved back every
// group: a step's 8-row matmuls took 2.34 ms, now 2.13).
struct Acts {
  const int M;
  std::vector<int8_t> q;
  std::vector<float> scale, sum;
  std::vector<int32_t> qzero;

  Acts(const float* x, int M, int K, int zero, int threads) : M(M), q((size_t)M * K),
      scale((size_t)M * K / GROUP), sum(scale.size()), qzero(scale.size()) {
    const int G = K / GROUP;
#pragma omp parallel for num_threads(threads) schedule(static) if (M >= 16)
    for (int m = 0; m < M; m++) {
      for (int g = 0; g < G; g++) {
        const float* p = x + (size_t)m * K + g * GROUP;
        __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
        __m512 inv = _mm512_set1_ps(amax > 0 ? 127.f / amax : 0.f);
        __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, inv));
        __m512i qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, inv));
        const size_t i = (size_t)g * M + m;
        _mm_storeu_si128((__m128i*)row(i), _mm512_cvtsepi32_epi8(qa));
        _mm_storeu_si128((__m128i*)(row(i) + 16), _mm512_cvtsepi32_epi8(qb));
        scale[i] = amax / 127.f;
        sum[i] = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
        qzero[i] = -zero * _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
      }
    }
  }

  int8_t* row(size_t i) { return q.data() + i * GROUP; }
  const int8_t* row(size_t i) const { return q.data() + i * GROUP; }
};

// Weights are read once per tile, in order; the hardware prefetcher alone left the 8-row tile
// waiting on memory (a step's int4 matmuls at 8 rows: 2.57 -> 2.34 ms; at 1 row: unchanged)
inline void prefetch(const uint8_t* p, int bytes) {
  constexpr int AHEAD = 4096;  // past the last block: harmless, prefetches never fault
  for (int i = 0; i < bytes; i += 64) _mm_prefetch((const char*)(p + AHEAD + i), _MM_HINT_T0);
}

// silu(v) = v / (1 + e^-v), with exp_neg's argument kept <= 0: v e^v / (1 + e^v) for v < 0
inline __m512 silu(__m512 v) {
  __m512 e = exp_neg(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(v)));
  __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_div_ps(_mm512_mask_mul_ps(v, neg, v, e), _mm512_add_ps(e, _mm512_set1_ps(1.f)));
}

// An int4 layer's column block. w: [G][4][64] bytes, byte 4i+j of chunk c holding column i's
// k = 8c+j (low nibble) and 8c+4+j (high nibble) of the group; sz: [G][2][16] bf16 scales and
// zeros, w = (q - 8) * scale + zero. Each ISA's Int4 reads it.
struct Int4Block {
  static constexpr int BYTES = 256;  // per group of 32 k and 16 columns
  // dots sum (q - 8) x, not q x: the rounding error of x is then weighed by the centred weight,
  // as with a signed int4 (the uncentred form had 10x the error)
  static constexpr int ZERO = 8;
  const uint8_t* w;
  const uint16_t* sz;
  Int4Block(const uint8_t* w, const uint16_t* sz, int cb, int G)
      : w(w + (size_t)cb * G * BYTES), sz(sz + (size_t)cb * G * 32) {}
};

// An int8 layer's column block. w: [G][8][64] bytes, byte 4i+j of chunk c holding column i's
// k = 4c+j as q + 128; scales [16] fp32 per column.
struct Int8Block {
  static constexpr int BYTES = 512;
  const uint8_t* w;
  const float* scales;
  Int8Block(const uint8_t* w, const float* scales, int cb, int G)
      : w(w + (size_t)cb * G * BYTES), scales(scales + cb * 16) {}
};

// A tile's rows. AVX-512: 8 sums of 16 columns held in registers. AVX2: 8 rows' sums and int16
// partials take twice its 16 registers, and some spill, but each unpacked weight vector then
// serves 8 rows: 8 rows' matmuls of a step 7.5 -> 7.0 ms against tiles of 4, 64 rows' 48 -> 44.
constexpr int ROWS = 8;

#ifdef __AVX512F__

inline __m512i bcast4(const int8_t* p) { return _mm512_set1_epi32(*(const int32_t*)p); }

struct Int4 : Int4Block {
  using Int4Block::Int4Block;

  template <int R>  // the rows' dot products with group g's weights, into dot
  void dots(const int8_t* x, int g, __m512i* dot) const {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    const uint8_t* wg = w + (size_t)g * BYTES;
    prefetch(wg, BYTES);
    for (int c = 0; c < 4; c++) {
      __m512i v = _mm512_loadu_si512(wg + c * 64);
      __m512i lo = _mm512_and_si512(v, nib), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
      for (int r = 0; r < R; r++) {
        dot[r] = _mm512_dpbusd_epi32(dot[r], lo, bcast4(x + r * GROUP + c * 8));
        dot[r] = _mm512_dpbusd_epi32(dot[r], hi, bcast4(x + r * GROUP + c * 8 + 4));
      }
    }
  }

  template <int R>  // group g's dot products, scaled, into the rows' sums (a's entries i..)
  void add(const Acts& a, size_t i, int g, const __m512i* dot, __m512* acc) const {
    __m512 s = bf16x16(sz + (size_t)g * 32), z = bf16x16(sz + (size_t)g * 32 + 16);
    for (int r = 0; r < R; r++) {
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r]),
                               _mm512_mul_ps(s, _mm512_set1_ps(a.scale[i + r])), acc[r]);
      acc[r] = _mm512_fmadd_ps(z, _mm512_set1_ps(a.sum[i + r]), acc[r]);
    }
  }

  __m512 out(__m512 acc) const { return acc; }
};

struct Int8 : Int8Block {
  using Int8Block::Int8Block;
  static constexpr int ZERO = 128;  // the stored q + 128

  template <int R>
  void dots(const int8_t* x, int g, __m512i* dot) const {
    const uint8_t* wg = w + (size_t)g * BYTES;
    prefetch(wg, BYTES);
    for (int c = 0; c < 8; c++) {
      __m512i v = _mm512_loadu_si512(wg + c * 64);
      for (int r = 0; r < R; r++)
        dot[r] = _mm512_dpbusd_epi32(dot[r], v, bcast4(x + r * GROUP + c * 4));
    }
  }

  template <int R>
  void add(const Acts& a, size_t i, int, const __m512i* dot, __m512* acc) const {
    for (int r = 0; r < R; r++) {
      const __m512 scale = _mm512_set1_ps(a.scale[i + r]);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r]), scale, acc[r]);
    }
  }

  __m512 out(__m512 acc) const { return _mm512_mul_ps(acc, _mm512_loadu_ps(scales)); }
};

// R rows x one column block of 16 (B = 1), or x a gate block and its up block (B = 2, the
// output silu(gate) * up): the rows' sums stay in registers over all of K.
template <int R, int B, class W>
void tile(const Acts& a, int m0, int K, const W* w, float* y, int N) {
  __m512 out[B][R];
  for (int b = 0; b < B; b++) {  // one block at a time: R accumulators, no spills in the K loop
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int g = 0; g < K / GROUP; g++) {
      const size_t i = (size_t)g * a.M + m0;  // the tile's rows in a's block g
      __m512i dot[R];  // from -zero * sum q: the weights' centring, for every kind
      for (int r = 0; r < R; r++) dot[r] = _mm512_set1_epi32(a.qzero[i + r]);
      w[b].template dots<R>(a.row(i), g, dot);
      w[b].template add<R>(a, i, g, dot, acc);
    }
    for (int r = 0; r < R; r++) out[b][r] = w[b].out(acc[r]);
  }
  for (int r = 0; r < R; r++)
    _mm512_storeu_ps(y + (size_t)(m0 + r) * N,
                     B == 2 ? _mm512_mul_ps(silu(out[0][r]), out[B - 1][r]) : out[0][r]);
}

#else
#include "matmul_avx2.h"
#endif

// tile<R> for the R = rows (<= R0) of this tile
template <int R0, int B, class W>
void tiles(const Acts& a, int m0, int rows, int K, const W* w, float* y, int N) {
  if constexpr (R0 > 1)
    if (rows < R0) return tiles<R0 - 1, B>(a, m0, rows, K, w, y, N);
  tile<R0, B>(a, m0, K, w, y, N);
}

// y [M, N] = x [M, K] @ W^T for packed weights of kind W (N % 16 == 0, K % 32 == 0), the column
// blocks shared out among the team, rows in tiles of up to ROWS. B = 2: W's rows are a gate and an
// up projection (N / 2 each) and y [M, N / 2] = silu(x gate^T) * (x up^T), the SwiGLU of llama
// MLPs. With B = 1, a bias [N] is added.
template <class W, int B, class P, class Q>
void columns(const Acts& a, int K, P w, Q aux, int N, float* y, const float* bias) {
  const int M = a.M, n = N / B, blocks = n / 16;
#pragma omp for schedule(static)
  for (int cb = 0; cb < blocks; cb++) {
    const W block[2] = {W(w, aux, cb, K / GROUP), W(w, aux, cb + (B - 1) * blocks, K / GROUP)};
    float* yb = y + cb * 16;
    for (int m0 = 0; m0 < M; m0 += ROWS)
      tiles<ROWS, B>(a, m0, std::min(ROWS, M - m0), K, block, yb, n);
    if (B == 1 && bias)
      for (int m = 0; m < M; m++) {
        float* row = yb + (size_t)m * n;
        _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), _mm512_loadu_ps(bias + cb * 16)));
      }
  }
}

// threads > 0: a team of its own, the activations quantized once for it (in parallel for many
// rows); 0: the calling team's, each thread quantizing them for itself: sharing them would take
// one more barrier (~0.4 us), about what quantizing a row of 576 takes (~0.3 us; 8 rows ~1 us)
template <class W, class P, class Q>
void dispatch(const float* x, int M, int K, P w, Q aux, int N, float* y, const float* bias,
              int glu, int threads) {
  const Acts a(x, M, K, W::ZERO, std::max(threads, 1));
  if (threads == 0) {
    glu ? columns<W, 2>(a, K, w, aux, N, y, nullptr) : columns<W, 1>(a, K, w, aux, N, y, bias);
    return;
  }
#pragma omp parallel num_threads(threads)
  glu ? columns<W, 2>(a, K, w, aux, N, y, nullptr) : columns<W, 1>(a, K, w, aux, N, y, bias);
}

}  // namespace

extern "C" {

int sikao_abi() { return 1; }

// y [M, N] fp32 = x [M, K] fp32 @ W^T, W packed by engine/cpu/ops.py (N % 16 == 0, K % 32 == 0);
// with `glu`, y [M, N / 2] = silu(first half) * second half (N % 32 == 0).
void sikao_int4_mm(const float* x, int M, int K, const uint8_t* w, const uint16_t* sz, int N,
                   float* y, int glu, int threads) {
  dispatch<Int4>(x, M, K, w, sz, N, y, nullptr, glu, threads);
}

void sikao_int8_mm(const float* x, int M, int K, const uint8_t* w, const float* scales, int N,
                   float* y, int glu, int threads) {
  dispatch<Int8>(x, M, K, w, scales, N, y, nullptr, glu, threads);
}
}

void sikao::int4_mm_team(const float* x, int M, int K, const uint8_t* w, const uint16_t* sz,
                         int N, float* y, const float* bias, int glu) {
  dispatch<Int4>(x, M, K, w, sz, N, y, bias, glu, 0);
}

void sikao::int8_mm_team(const float* x, int M, int K, const uint8_t* w, const float* scales,
                         int N, float* y, const float* bias, int glu) {
  dispatch<Int8>(x, M, K, w, scales, N, y, bias, glu, 0);
}
