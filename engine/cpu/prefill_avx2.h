// prefill.cpp's tile parts on AVX2 (included there, inside its namespace, where __AVX512F__ is not
// defined): fp32 rows and fp32 products. AVX2 has no bf16 arithmetic: through avx2.h's stand-ins
// 8 bf16 multiply-adds took three instructions where fp32 FMAs take one, and the AVX-512 tiles'
// accumulators (32 registers' worth) spilled to the stack (a 200-token chunk's layer at 2,000
// tokens of context: 13.8 ms that way, ~7 ms here). The rows' fp32 copies are twice the bytes of
// bf16 ones; a block of keys is still read once per 32 query rows.

using Elem = float;

struct Scratch {  // q [D][ROWS], s [KEYS][ROWS] (scores, then probabilities), o [ROWS][D]
  std::vector<float> q, s, o;
  explicit Scratch(int D) : q(D * ROWS), s(KEYS * ROWS), o(ROWS * D) {}
};

inline void expand(const uint8_t* r, int D, float* out) {  // an int8 row's values, as row_bf16's
  const __m512 s = _mm512_set1_ps(row_scale(r, D)), off = _mm512_set1_ps(128.f);
  for (int d = 0; d < D; d += 16)
    _mm512_storeu_ps(out + d, _mm512_mul_ps(_mm512_sub_ps(bytes16(r + d), off), s));
}

inline void expand(const uint16_t* r, int D, float* out) {  // a bf16 row's values
  for (int d = 0; d < D; d += 16) _mm512_storeu_ps(out + d, bf16x16(r + d));
}

template <int D>  // row m's query, times `scale`, into the tile's q
void query(const float* q, float scale, int m, Scratch& w) {
  for (int d = 0; d < D; d++) w.q[d * ROWS + m] = q[d] * scale;
}

// s[j][m] = q_m . k_j for the block's keys j0.., -inf where key j is past row m's `limit`; `top` is
// raised to each row's max. Keys past `end` repeat key end - 1 (and are past every row's limit).
// Half the rows a pass, 4 keys at a time: 8 accumulators, and the 2 vectors of the rows' dim d
// held in registers for all 4 keys' broadcasts. As memory operands of the FMAs, the
// rows were loaded again for each key and the loads bound it: the layer above took 9.0 ms.
template <int D>
void scores(Scratch& w, const float* k, long sn, int j0, int end, const int32_t* limit, int first,
            __m512* top) {
  constexpr int K = 4, X = 2;
  __m256 t[4] = {top[0].lo, top[0].hi, top[1].lo, top[1].hi};
  __m256i lim[4];
  for (int x = 0; x < 4; x++) lim[x] = _mm256_loadu_si256((const __m256i*)(limit + 8 * x));
  for (int h = 0; h < 4; h += X)
    for (int j = 0; j < KEYS; j += K) {
      const float* kr[K];
      for (int i = 0; i < K; i++) kr[i] = k + std::min(j0 + j + i, end - 1) * sn;
      __m256 acc[K][X];
      for (int i = 0; i < K; i++)
        for (int x = 0; x < X; x++) acc[i][x] = _mm256_setzero_ps();
      for (int d = 0; d < D; d++) {
        __m256 q[X];
        for (int x = 0; x < X; x++) {
          q[x] = _mm256_loadu_ps(w.q.data() + d * ROWS + 8 * (h + x));
          SIKAO_IN_REGISTER(q[x]);
        }
        for (int i = 0; i < K; i++) {
          const __m256 kb = _mm256_broadcast_ss(kr[i] + d);
          for (int x = 0; x < X; x++) acc[i][x] = _mm256_fmadd_ps(q[x], kb, acc[i][x]);
        }
      }
      for (int i = 0; i < K; i++) {
        const int key = j0 + j + i;
        for (int x = 0; x < X; x++) {
          if (key > first)  // a key some row may not see (key 0 every row sees: top is finite)
            acc[i][x] = _mm256_blendv_ps(
                acc[i][x], _mm256_set1_ps(-INFINITY),
                _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(key), lim[h + x])));
          t[h + x] = _mm256_max_ps(t[h + x], acc[i][x]);
          _mm256_storeu_ps(w.s.data() + (j + i) * ROWS + 8 * (h + x), acc[i][x]);
        }
      }
    }
  top[0] = __m512{t[0], t[1]};
  top[1] = __m512{t[2], t[3]};
}

// s[j][m] = 2^(s[j][m] - max_m) in place; their sums into `sum`
inline void probabilities(Scratch& w, const __m512* mx, __m512* sum) {
  for (int j = 0; j < KEYS; j++)
    for (int x = 0; x < 2; x++) {
      float* s = w.s.data() + j * ROWS + 16 * x;
      const __m512 e = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(s), mx[x]));
      sum[x] = _mm512_add_ps(sum[x], e);
      _mm512_storeu_ps(s, e);
    }
}

// o[m] += sum_j p[j][m] v_j over the block: 2 rows x 32 dims of accumulators a pass, read from
// the rows themselves (keys past `end` repeat row end - 1, with probability 0)
template <int D>
void mix(Scratch& w, const float* v, long sn, int j0, int end) {
  const float* row[KEYS];
  for (int j = 0; j < KEYS; j++) row[j] = v + std::min(j0 + j, end - 1) * sn;
  const float* p = w.s.data();
  for (int m = 0; m < ROWS; m += 2)
    for (int c = 0; c < D; c += 32) {
      float* o = w.o.data() + m * D + c;
      __m256 acc[2][4];
      for (int r = 0; r < 2; r++)
        for (int x = 0; x < 4; x++) acc[r][x] = _mm256_loadu_ps(o + r * D + 8 * x);
      for (int j = 0; j < KEYS; j++) {
        __m256 vj[4];
        for (int x = 0; x < 4; x++) vj[x] = _mm256_loadu_ps(row[j] + c + 8 * x);
        for (int r = 0; r < 2; r++) {
          const __m256 pj = _mm256_broadcast_ss(p + j * ROWS + m + r);
          for (int x = 0; x < 4; x++) acc[r][x] = _mm256_fmadd_ps(pj, vj[x], acc[r][x]);
        }
      }
      for (int r = 0; r < 2; r++)
        for (int x = 0; x < 4; x++) _mm256_storeu_ps(o + r * D + 8 * x, acc[r][x]);
    }
}
