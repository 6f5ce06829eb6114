// CPU kernels for the quantized decode path, built once per machine by engine/cpu/build.py.
//
// Weight-only int4 / int8 matmuls with the activations quantized to int8 in blocks of 32 (the
// llama.cpp Q8_0 scheme) so the inner product runs on AVX512-VNNI (vpdpbusd: 64 multiply-adds an
// instruction). torch's packed int4 CPU kernel dequantizes its weight tile again for every few
// rows, so 8 rows cost it ~3x one row; here a 16-column tile is unpacked once (two ANDs and a
// shift for 128 weights) and multiplied into up to 8 rows held in registers, which is what lets
// 8 forked branches decode in little more time than one.
//
// And a causal softmax with a polynomial exp (bf16 out needs ~1e-4 relative, not Sleef's 1 ulp).
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int GROUP = 32;  // activation block and int4 weight group: the Q4/Q8 GGUF block

// x [M, K] fp32 -> q int8, per (row, block): scale, sum of x (for the int4 zeros), sum of q (to
// centre the unsigned weights vpdpbusd takes: int4 q - 8, int8 stored as q + 128).
struct Acts {
  std::vector<int8_t> q;
  std::vector<float> scale, sum;
  std::vector<int32_t> qsum;

  Acts(const float* x, int M, int K, int threads) : q((size_t)M * K), scale((size_t)M * K / GROUP),
      sum(scale.size()), qsum(scale.size()) {
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
        int8_t* out = q.data() + (size_t)m * K + g * GROUP;
        _mm_storeu_si128((__m128i*)out, _mm512_cvtsepi32_epi8(qa));
        _mm_storeu_si128((__m128i*)(out + 16), _mm512_cvtsepi32_epi8(qb));
        const size_t i = (size_t)m * G + g;
        scale[i] = amax / 127.f;
        sum[i] = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
        qsum[i] = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
      }
    }
  }
};

inline __m512 bf16x16(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}

inline __m512i bcast4(const int8_t* p) { return _mm512_set1_epi32(*(const int32_t*)p); }

// An int4 layer's column block. w: [G][4][64] bytes, byte 4i+j of chunk c holding column i's
// k = 8c+j (low nibble) and 8c+4+j (high nibble) of the group; sz: [G][2][16] bf16 scales and
// zeros, w = (q - 8) * scale + zero.
struct Int4 {
  static constexpr int BYTES = 256;  // per group of 32 k and 16 columns
  const uint8_t* w;
  const uint16_t* sz;
  Int4(const uint8_t* w, const uint16_t* sz, int cb, int G)
      : w(w + (size_t)cb * G * BYTES), sz(sz + (size_t)cb * G * 32) {}

  template <int R>
  void group(const Acts& a, int m0, int K, int g, __m512* acc) const {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __m512i dot[R];
    for (int r = 0; r < R; r++) dot[r] = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
      __m512i v = _mm512_loadu_si512(w + (size_t)g * BYTES + c * 64);
      __m512i lo = _mm512_and_si512(v, nib), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
      for (int r = 0; r < R; r++) {
        const int8_t* xr = a.q.data() + (size_t)(m0 + r) * K + g * GROUP + c * 8;
        dot[r] = _mm512_dpbusd_epi32(dot[r], lo, bcast4(xr));
        dot[r] = _mm512_dpbusd_epi32(dot[r], hi, bcast4(xr + 4));
      }
    }
    // sum (q - 8) x, not sum q x: the rounding error of x is then weighed by the centred
    // weight, as with a signed int4 (the uncentred form had 10x the error)
    __m512 s = bf16x16(sz + (size_t)g * 32), z = bf16x16(sz + (size_t)g * 32 + 16);
    const int G = K / GROUP;
    for (int r = 0; r < R; r++) {
      const size_t i = (size_t)(m0 + r) * G + g;
      __m512i centred = _mm512_sub_epi32(dot[r], _mm512_set1_epi32(8 * a.qsum[i]));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(centred),
                               _mm512_mul_ps(s, _mm512_set1_ps(a.scale[i])), acc[r]);
      acc[r] = _mm512_fmadd_ps(z, _mm512_set1_ps(a.sum[i]), acc[r]);
    }
  }

  __m512 out(__m512 acc) const { return acc; }
};

// An int8 layer's column block. w: [G][8][64] bytes, byte 4i+j of chunk c holding column i's
// k = 4c+j as q + 128; scales [16] fp32 per column.
struct Int8 {
  static constexpr int BYTES = 512;
  const uint8_t* w;
  const float* scales;
  Int8(const uint8_t* w, const float* scales, int cb, int G)
      : w(w + (size_t)cb * G * BYTES), scales(scales + cb * 16) {}

  template <int R>
  void group(const Acts& a, int m0, int K, int g, __m512* acc) const {
    __m512i dot[R];
    for (int r = 0; r < R; r++) dot[r] = _mm512_setzero_si512();
    for (int c = 0; c < 8; c++) {
      __m512i v = _mm512_loadu_si512(w + (size_t)g * BYTES + c * 64);
      for (int r = 0; r < R; r++)
        dot[r] = _mm512_dpbusd_epi32(
            dot[r], v, bcast4(a.q.data() + (size_t)(m0 + r) * K + g * GROUP + c * 4));
    }
    const int G = K / GROUP;
    for (int r = 0; r < R; r++) {
      const size_t i = (size_t)(m0 + r) * G + g;
      __m512i exact = _mm512_sub_epi32(dot[r], _mm512_set1_epi32(128 * a.qsum[i]));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_set1_ps(a.scale[i]), acc[r]);
    }
  }

  __m512 out(__m512 acc) const { return _mm512_mul_ps(acc, _mm512_loadu_ps(scales)); }
};

// R rows x one column block of 16: the rows' sums stay in registers over all of K.
template <int R, class W>
void tile(const Acts& a, int m0, int K, const W& w, float* y, int N) {
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  for (int g = 0; g < K / GROUP; g++) w.template group<R>(a, m0, K, g, acc);
  for (int r = 0; r < R; r++) _mm512_storeu_ps(y + (size_t)(m0 + r) * N, w.out(acc[r]));
}

// y [M, N] = x [M, K] @ W^T for packed weights of kind W (N % 16 == 0, K % 32 == 0): column blocks
// split across threads, rows in tiles of up to 8.
template <class W, class P, class Q>
void matmul(const float* x, int M, int K, P w, Q aux, int N, float* y, int threads) {
  Acts a(x, M, K, threads);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int cb = 0; cb < N / 16; cb++) {
    const W block(w, aux, cb, K / GROUP);
    for (int m0 = 0; m0 < M; m0 += 8) {
      float* yb = y + cb * 16;
      switch (std::min(8, M - m0)) {
        case 1: tile<1>(a, m0, K, block, yb, N); break;
        case 2: tile<2>(a, m0, K, block, yb, N); break;
        case 3: tile<3>(a, m0, K, block, yb, N); break;
        case 4: tile<4>(a, m0, K, block, yb, N); break;
        case 5: tile<5>(a, m0, K, block, yb, N); break;
        case 6: tile<6>(a, m0, K, block, yb, N); break;
        case 7: tile<7>(a, m0, K, block, yb, N); break;
        default: tile<8>(a, m0, K, block, yb, N); break;
      }
    }
  }
}

// exp(x) for x <= 0 to ~3e-6 relative: 2^n * p(f), p the degree-5 Taylor polynomial of 2^f on
// [-0.5, 0.5]
inline __m512 exp_neg(__m512 x) {
  __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f));
  t = _mm512_max_ps(t, _mm512_set1_ps(-150.f));
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.3333558e-3f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

inline __m512 load_bf16(const uint16_t* p, __mmask16 k) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p)), 16));
}

inline __mmask16 first(int n) { return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1); }

// One query per row: y [B, H, D] = softmax(q k^T / sqrt(D)) v over the first lens[b] keys of row
// b. q and y contiguous fp32; k and v fp32 caches sharing strides (row, head, position; the last
// dim contiguous); query heads h*G..h*G+G-1 read KV head h. One task per (row, KV head): each key
// and value is loaded once for the G heads that share it. On a forked batch torch's flash kernel
// took ~110 us a layer for 8 rows of these single-query shapes, this ~40.
template <int C>
void attend(const float* q, const float* kh, const float* vh, float* y, int G, int n, long sn) {
  constexpr int MAXG = 16;
  const float scale = 1.f / std::sqrt(16.f * C);
  std::vector<float> p((size_t)G * (n + 16));
  float* s[MAXG];
  float mx[MAXG];
  for (int h0 = 0; h0 < G; h0 += MAXG) {
    const int g = std::min(MAXG, G - h0);
    for (int h = 0; h < g; h++) s[h] = p.data() + (size_t)(h0 + h) * (n + 16), mx[h] = -INFINITY;
    for (int j = 0; j < n; j++) {
      __m512 kv[C];
      for (int c = 0; c < C; c++) kv[c] = _mm512_loadu_ps(kh + j * sn + 16 * c);
      for (int h = 0; h < g; h++) {
        const float* qh = q + (size_t)(h0 + h) * 16 * C;
        __m512 acc = _mm512_mul_ps(kv[0], _mm512_loadu_ps(qh));
        for (int c = 1; c < C; c++) acc = _mm512_fmadd_ps(kv[c], _mm512_loadu_ps(qh + 16 * c), acc);
        const float d = _mm512_reduce_add_ps(acc) * scale;
        s[h][j] = d;
        mx[h] = std::max(mx[h], d);
      }
    }
    float inv[MAXG];
    for (int h = 0; h < g; h++) {
      __m512 sum = _mm512_setzero_ps(), m = _mm512_set1_ps(mx[h]);
      for (int j = 0; j < n; j += 16) {
        __m512 e = _mm512_maskz_mov_ps(first(n - j),
                                       exp_neg(_mm512_sub_ps(_mm512_loadu_ps(s[h] + j), m)));
        _mm512_storeu_ps(s[h] + j, e);
        sum = _mm512_add_ps(sum, e);
      }
      inv[h] = 1.f / _mm512_reduce_add_ps(sum);
    }
    for (int h = 0; h < g; h++) {  // per head: C accumulators, two interleaved chains
      __m512 o[2][C];
      for (int c = 0; c < C; c++) o[0][c] = o[1][c] = _mm512_setzero_ps();
      for (int j = 0; j < n; j++) {
        __m512 pj = _mm512_set1_ps(s[h][j]);
        for (int c = 0; c < C; c++)
          o[j & 1][c] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vh + j * sn + 16 * c), o[j & 1][c]);
      }
      for (int c = 0; c < C; c++)
        _mm512_storeu_ps(y + (size_t)(h0 + h) * 16 * C + 16 * c,
                         _mm512_mul_ps(_mm512_add_ps(o[0][c], o[1][c]), _mm512_set1_ps(inv[h])));
    }
  }
}

}  // namespace

extern "C" {

int sikao_abi() { return 1; }

// y [M, N] fp32 = x [M, K] fp32 @ W^T, W packed by engine/cpu/ops.py (N % 16 == 0, K % 32 == 0).
void sikao_int4_mm(const float* x, int M, int K, const uint8_t* w, const uint16_t* sz, int N,
                   float* y, int threads) {
  matmul<Int4>(x, M, K, w, sz, N, y, threads);
}

void sikao_int8_mm(const float* x, int M, int K, const uint8_t* w, const float* scales, int N,
                   float* y, int threads) {
  matmul<Int8>(x, M, K, w, scales, N, y, threads);
}

// In place over bf16 scores s [rows, n], stacked blocks of `block` rows, each row the query at
// position t = (offset + its index in the block) % period: it sees keys 0..visible0 + t and the
// keys after those become 0 (causal attention of `period` queries appended after visible0 keys).
void sikao_causal_softmax(uint16_t* s, int rows, int n, int block, int offset, int period,
                          int visible0, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int r = 0; r < rows; r++) {
    uint16_t* p = s + (size_t)r * n;
    const int len = std::min(n, visible0 + (offset + r % block) % period + 1);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < len; j += 16) mx = _mm512_max_ps(mx, load_bf16(p + j, first(len - j)));
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    std::vector<float> e(len);
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < len; j += 16) {
      __mmask16 k = first(len - j);
      __m512 v = exp_neg(_mm512_sub_ps(load_bf16(p + j, k), m));
      v = _mm512_maskz_mov_ps(k, v);
      sum = _mm512_add_ps(sum, v);
      _mm512_mask_storeu_ps(e.data() + j, k, v);
    }
    __m512 inv = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
    for (int j = 0; j < len; j += 16) {
      __mmask16 k = first(len - j);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, e.data() + j), inv);
      _mm256_mask_storeu_epi16(p + j, k, (__m256i)_mm512_cvtneps_pbh(v));
    }
    for (int j = len; j < n; j++) p[j] = 0;
  }
}

void sikao_decode_attention(const float* q, const float* k, const float* v, float* y, int B,
                            int H, int KV, int D, long sb, long sh, long sn, const int* lens,
                            int threads) {
  const int G = H / KV;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < B * KV; t++) {
    const int b = t / KV, h = t % KV;
    const size_t at = (size_t)t * G * D;
    const float *kh = k + b * sb + h * sh, *vh = v + b * sb + h * sh;
    switch (D) {
      case 64: attend<4>(q + at, kh, vh, y + at, G, lens[b], sn); break;
      case 128: attend<8>(q + at, kh, vh, y + at, G, lens[b], sn); break;
      default: attend<16>(q + at, kh, vh, y + at, G, lens[b], sn); break;
    }
  }
}

// Per row of logits x [B, V] fp32: log-sum-exp, the mean of the k largest, and the first index
// of the maximum (torch.argmax's tie rule): a greedy step's token, logprob and DeepConf
// confidence in two passes over the row instead of torch's four.
void sikao_row_stats(const float* x, int B, int V, int k, float* lse, float* topmean,
                     int64_t* argmax, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int b = 0; b < B; b++) {
    const float* p = x + (size_t)b * V;
    __m512 best = _mm512_set1_ps(-INFINITY);
    __m512i at = _mm512_setzero_si512(), idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                                                 10, 11, 12, 13, 14, 15);
    for (int j = 0; j < V; j += 16) {
      __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), first(V - j), p + j);
      __mmask16 up = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);  // strict: earliest index kept
      best = _mm512_mask_mov_ps(best, up, v);
      at = _mm512_mask_mov_epi32(at, up, idx);
      idx = _mm512_add_epi32(idx, _mm512_set1_epi32(16));
    }
    const float mx = _mm512_reduce_max_ps(best);
    argmax[b] = _mm512_mask_reduce_min_epi32(
        _mm512_cmp_ps_mask(best, _mm512_set1_ps(mx), _CMP_EQ_OQ), at);
    // the k largest: keep candidates above a threshold that rises as they accumulate
    std::vector<float> cand;
    cand.reserve(8 * k + 16);
    float floor = -INFINITY;
    __m512 sum = _mm512_setzero_ps(), m = _mm512_set1_ps(mx);
    for (int j = 0; j < V; j += 16) {
      const __mmask16 in = first(V - j);
      __m512 v = _mm512_maskz_loadu_ps(in, p + j);
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(in, exp_neg(_mm512_sub_ps(v, m))));
      __mmask16 hit = _mm512_mask_cmp_ps_mask(in, v, _mm512_set1_ps(floor), _CMP_GE_OQ);
      if (hit) {
        float tmp[16];
        _mm512_storeu_ps(tmp, v);
        for (int i = 0; i < 16; i++)
          if (hit >> i & 1) cand.push_back(tmp[i]);
        if ((int)cand.size() >= 8 * k) {
          std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end(), std::greater<>());
          cand.resize(k);
          floor = cand[k - 1];
        }
      }
    }
    const int kk = std::min<int>(k, cand.size());
    std::nth_element(cand.begin(), cand.begin() + (kk - 1), cand.end(), std::greater<>());
    double total = 0;
    for (int i = 0; i < kk; i++) total += cand[i];
    topmean[b] = (float)(total / kk);
    lse[b] = mx + std::log(_mm512_reduce_add_ps(sum));
  }
}
}
