// Causal attention of a prompt chunk over the KV cache (quantized models' prefill: a prompt,
// a search result appended to a long thought, a follow-up turn), flash-style in one pass: a task
// takes 32 query rows of one KV head (its query heads' rows share each key read) and walks the
// keys they may see in blocks of 64, scores in registers, an online softmax, and the values; keys
// past the tile's last row are never read. AVX-512: bf16 products (vdpbf16ps), fp32 sums; AVX2:
// fp32 products (prefill_avx2.h). A cache of int8 rows (kv8.h) gets the chunk's keys and values
// written first and is read through a bf16 (AVX2: fp32) copy of the rows the chunk sees, made
// once a call: the tiles read each key many times over.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "kv8.h"

using namespace sikao;

namespace {

constexpr int ROWS = 32;  // query rows a task: two vectors of lanes
constexpr int KEYS = 64;  // keys a block (32 and 128 measured slower)

#ifdef __AVX512F__
using Elem = uint16_t;  // what the tiles read rows as: bf16
typedef int32_t pair_t __attribute__((may_alias));  // two bf16 read as one lane

struct Scratch {
  std::vector<int32_t> q, p, v;  // bf16 pairs: q [D/2][ROWS], p [KEYS/2][ROWS], v [KEYS/2][D]
  std::vector<float> s, o;       // s [KEYS][ROWS], o [ROWS][D]
  explicit Scratch(int D)
      : q(D / 2 * ROWS), p(KEYS / 2 * ROWS), v(KEYS / 2 * D), s(KEYS * ROWS), o(ROWS * D) {}
};

inline void expand(const uint8_t* r, int D, uint16_t* out) { row_bf16(r, D, out); }

// row m's query, times `scale`, into the tile's pairs of dims
template <int D>
void query(const float* q, float scale, int m, Scratch& w) {
  alignas(64) uint16_t row[D];
  for (int d = 0; d < D; d += 16)
    _mm256_storeu_si256((__m256i*)(row + d), (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(
                                                 _mm512_loadu_ps(q + d), _mm512_set1_ps(scale))));
  for (int d = 0; d < D / 2; d++) std::memcpy(&w.q[d * ROWS + m], row + 2 * d, 4);
}

// s[j][m] = q_m . k_j for the block's keys j0.. (8 at a time: 16 accumulators; each key's pair of
// dims is broadcast against 32 rows' pairs), -inf where key j is past row m's `limit`; `top` is
// raised to each row's max. Keys past `end` repeat key end - 1 (and are past every row's limit):
// no read past the cache.
template <int D>
void scores(Scratch& w, const uint16_t* k, long sn, int j0, int end, const int32_t* limit,
            int first, __m512* top) {
  const __m512i lim[2] = {_mm512_loadu_si512(limit), _mm512_loadu_si512(limit + 16)};
  const int32_t* q = w.q.data();
  float* s = w.s.data();
  for (int j = 0; j < KEYS; j += 8) {
    const pair_t* kr[8];
    for (int i = 0; i < 8; i++) kr[i] = (const pair_t*)(k + std::min(j0 + j + i, end - 1) * sn);
    __m512 acc[8][2];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int d = 0; d < D / 2; d++) {
      const __m512bh q0 = (__m512bh)_mm512_loadu_si512(q + d * ROWS);
      const __m512bh q1 = (__m512bh)_mm512_loadu_si512(q + d * ROWS + 16);
      for (int i = 0; i < 8; i++) {
        const __m512bh kb = (__m512bh)_mm512_set1_epi32(kr[i][d]);
        acc[i][0] = _mm512_dpbf16_ps(acc[i][0], kb, q0);
        acc[i][1] = _mm512_dpbf16_ps(acc[i][1], kb, q1);
      }
    }
    for (int i = 0; i < 8; i++)
      for (int x = 0; x < 2; x++) {
        if (j0 + j + i > first)  // a key some row may not see (key 0 every row sees: top is finite)
          acc[i][x] = _mm512_mask_mov_ps(
              acc[i][x], _mm512_cmplt_epi32_mask(lim[x], _mm512_set1_epi32(j0 + j + i)),
              _mm512_set1_ps(-INFINITY));
        top[x] = _mm512_max_ps(top[x], acc[i][x]);
        _mm512_storeu_ps(s + (j + i) * ROWS + 16 * x, acc[i][x]);
      }
  }
}

// v[j][d] = (value 2j, value 2j+1) of dim d, the block's values in pairs for vdpbf16ps
template <int D>
void pack_values(const uint16_t* v, long sn, int j0, int end, int32_t* out) {
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                      39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int j = 0; j < KEYS / 2; j++) {
    const uint16_t* a = v + std::min(j0 + 2 * j, end - 1) * sn;
    const uint16_t* b = v + std::min(j0 + 2 * j + 1, end - 1) * sn;
    for (int c = 0; c < D; c += 32) {
      const __m512i x = _mm512_loadu_si512(a + c), y = _mm512_loadu_si512(b + c);
      _mm512_storeu_si512(out + j * D + c, _mm512_permutex2var_epi16(x, lo, y));
      _mm512_storeu_si512(out + j * D + c + 16, _mm512_permutex2var_epi16(x, hi, y));
    }
  }
}

// o[m] += sum_j p[j][m] v_j over the block: 4 rows x 64 dims of accumulators a pass
template <int D>
void mix_pairs(const int32_t* p, const int32_t* v, float* o) {
  for (int m = 0; m < ROWS; m += 4)
    for (int c = 0; c < D; c += 64) {
      __m512 acc[4][4];
      for (int r = 0; r < 4; r++)
        for (int x = 0; x < 4; x++) acc[r][x] = _mm512_loadu_ps(o + (m + r) * D + c + 16 * x);
      for (int j = 0; j < KEYS / 2; j++) {
        __m512bh vj[4];
        for (int x = 0; x < 4; x++) {
          vj[x] = (__m512bh)_mm512_loadu_si512(v + j * D + c + 16 * x);
          SIKAO_IN_REGISTER(vj[x]);
        }
        for (int r = 0; r < 4; r++) {
          const __m512bh pj = (__m512bh)_mm512_set1_epi32(p[j * ROWS + m + r]);
          for (int x = 0; x < 4; x++) acc[r][x] = _mm512_dpbf16_ps(acc[r][x], pj, vj[x]);
        }
      }
      for (int r = 0; r < 4; r++)
        for (int x = 0; x < 4; x++) _mm512_storeu_ps(o + (m + r) * D + c + 16 * x, acc[r][x]);
    }
}

// the block's values, mixed into o by the probabilities
template <int D>
void mix(Scratch& w, const uint16_t* v, long sn, int j0, int end) {
  pack_values<D>(v, sn, j0, end, w.v.data());
  mix_pairs<D>(w.p.data(), w.v.data(), w.o.data());
}

// p[j][m] = 2^(s[j][m] - max_m), in pairs of keys; their sums into `sum`
inline void probabilities(Scratch& w, const __m512* mx, __m512* sum) {
  const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
  for (int j = 0; j < KEYS; j += 2)
    for (int x = 0; x < 2; x++) {
      const float* s = w.s.data() + j * ROWS + 16 * x;
      const __m512 e0 = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(s), mx[x]));
      const __m512 e1 = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(s + ROWS), mx[x]));
      sum[x] = _mm512_add_ps(sum[x], _mm512_add_ps(e0, e1));
      const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(e1, e0);  // e0's 16, then e1's
      _mm512_storeu_si512(w.p.data() + j / 2 * ROWS + 16 * x,
                          _mm512_permutexvar_epi16(pairs, both));
    }
}

#else
#include "prefill_avx2.h"
#endif

struct Chunk {  // the call's shapes and strides
  const float* q;
  const Elem *k, *v;
  float* y;
  int T, H, KV, start;
  long qb, qh, qt, sb, sh, sn;
};

// Rows 32i.. of KV head h of batch row b; row r is query head h*G + r % G at chunk position
// r / G, so the heads reading one KV head go through each key together.
template <int D>
void tile(const Chunk& c, int b, int h, int i, Scratch& w) {
  const int G = c.H / c.KV, M = c.T * G;
  alignas(64) int32_t limit[ROWS];  // the last key row m may see
  const float scale = 1.44269504f / std::sqrt((float)D);  // exp2 of scores in log2 units
  for (int m = 0; m < ROWS; m++) {
    const int r = std::min(i * ROWS + m, M - 1);  // lanes past the chunk repeat its last row
    limit[m] = c.start + r / G;
    query<D>(c.q + b * c.qb + (h * G + r % G) * c.qh + (r / G) * c.qt, scale, m, w);
  }
  const int first = limit[0], end = limit[ROWS - 1] + 1;  // rows are in position order
  const Elem *k = c.k + b * c.sb + h * c.sh, *v = c.v + b * c.sb + h * c.sh;
  std::fill(w.o.begin(), w.o.end(), 0.f);
  __m512 mx[2] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
  __m512 sum[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int j0 = 0; j0 < end; j0 += KEYS) {
    __m512 top[2] = {mx[0], mx[1]};
    scores<D>(w, k, c.sn, j0, end, limit, first, top);
    for (int x = 0; x < 2; x++) {  // a higher max scales down what came before
      const __mmask16 up = _mm512_cmp_ps_mask(top[x], mx[x], _CMP_GT_OQ);
      if (up) {
        alignas(64) float alpha[16];
        _mm512_store_ps(alpha, exp2_neg(_mm512_sub_ps(mx[x], top[x])));
        sum[x] = _mm512_mul_ps(sum[x], _mm512_load_ps(alpha));
        for (int m = 0; m < 16; m++)
          if (up >> m & 1)
            for (int d = 0; d < D; d += 16) {
              float* o = w.o.data() + (16 * x + m) * D + d;
              _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_loadu_ps(o), _mm512_set1_ps(alpha[m])));
            }
        mx[x] = top[x];
      }
    }
    probabilities(w, mx, sum);
    mix<D>(w, v, c.sn, j0, end);
  }
  alignas(64) float inv[ROWS];
  for (int x = 0; x < 2; x++)
    _mm512_store_ps(inv + 16 * x, _mm512_div_ps(_mm512_set1_ps(1.f), sum[x]));
  for (int m = 0; m < ROWS && i * ROWS + m < M; m++) {
    const int r = i * ROWS + m;
    float* y = c.y + (((size_t)b * c.T + r / G) * c.H + h * G + r % G) * D;
    for (int d = 0; d < D; d += 16)
      _mm512_storeu_ps(y + d, _mm512_mul_ps(_mm512_loadu_ps(w.o.data() + m * D + d),
                                            _mm512_set1_ps(inv[m])));
  }
}

template <int D>
void run(const Chunk& c, int B, int threads) {
  const int tiles = (c.T * (c.H / c.KV) + ROWS - 1) / ROWS, heads = B * c.KV;
#pragma omp parallel num_threads(threads)
  {
    Scratch w(D);
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < heads * tiles; t++)  // the last tiles, which see the most keys, first
      tile<D>(c, t % heads / c.KV, t % c.KV, tiles - 1 - t / heads, w);
  }
}

void attend(const Chunk& c, int B, int D, int threads) {
  switch (D) {
    case 64: run<64>(c, B, threads); break;
    case 128: run<128>(c, B, threads); break;
    default: run<256>(c, B, threads); break;
  }
}

}  // namespace

extern "C" {

// y [B, T, H, D] fp32 = causal attention of q (fp32, [B, H, T, D] with strides qb, qh, qt; the
// chunk's positions start..start+T-1) over the caches k, v ([B, KV, >= start+T, D], shared
// strides sb, sh, sn): query t sees keys 0..start+t. Query heads h*G..h*G+G-1 read KV head h. D
// is 64, 128 or 256. bf16 caches (`bytes` 2) hold the chunk's keys already; int8 rows (`bytes`
// 1, rows of D + 4 bytes) get them here from kn, vn (fp32 [B, T, KV, D] with strides nb, nt).
void sikao_prefill_attention(const float* q, long qb, long qh, long qt, void* k, void* v,
                             float* y, int B, int T, int H, int KV, int D, int start, long sb,
                             long sh, long sn, const float* kn, const float* vn, long nb, long nt,
                             int bytes, int threads) {
  if (bytes == sizeof(Elem)) {  // bf16 caches, read as they are
    attend({q, (const Elem*)k, (const Elem*)v, y, T, H, KV, start, qb, qh, qt, sb, sh, sn}, B, D,
           threads);
    return;
  }
  const long n = start + T, rows = (long)B * KV * n;
  std::vector<Elem> kb(rows * D), vb(rows * D);
  // generic, so that the bf16 branch is compiled only where the copies are fp32 (AVX2)
  auto copy = [&](auto* ko, auto* vo) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long r = 0; r < rows; r++) {
      const long b = r / (KV * n), h = r / n % KV, j = r % n, at = b * sb + h * sh + j * sn;
      if constexpr (sizeof(*ko) == 4)
        if (bytes == 2) {
          expand((const uint16_t*)k + at, D, ko + r * D);
          expand((const uint16_t*)v + at, D, vo + r * D);
          continue;
        }
      uint8_t *kr = (uint8_t*)k + at, *vr = (uint8_t*)v + at;
      if (j >= start) {
        quantize_row(kn + b * nb + (j - start) * nt + h * D, D, kr);
        quantize_row(vn + b * nb + (j - start) * nt + h * D, D, vr);
      }
      expand(kr, D, ko + r * D);
      expand(vr, D, vo + r * D);
    }
  };
  copy(kb.data(), vb.data());
  attend({q, kb.data(), vb.data(), y, T, H, KV, start, qb, qh, qt, KV * n * D, n * D, D}, B, D,
         threads);
}
}
