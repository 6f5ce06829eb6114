// matmul.cpp's weight kinds and tile on AVX2 (included there, inside its namespace, where
// __AVX512F__ is not defined). They read the same packed layouts (Int4Block, Int8Block); each
// 16-column block is taken as two halves of 8 columns, one 256-bit register each. AVX2 has no
// vpdpbusd: vpmaddubsw (pairs of unsigned x signed bytes into int16) and vpmaddwd (pairs of int16
// into int32) stand in.
// Written out rather than through avx2.h's emulation, which GCC compiles into stack traffic
// (a 1-row int4 matmul ran at ~5 G multiply-adds/s through it).

inline __m256i bcast4(const int8_t* p) { return _mm256_set1_epi32(*(const int32_t*)p); }

inline __m256 bf16x8(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}

struct Int4 : Int4Block {
  using Int4Block::Int4Block;

  // group g's products with columns 8h..8h+7, scaled, into the rows' sums. Summed in int16 over
  // the group first: 16 products q x with q <= 15 and |x| <= 127 stay below 32767.
  template <int R>
  void group(const Acts& a, size_t i, int g, int h, __m256* acc) const {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    const int8_t* x = a.row(i);
    const uint8_t* wg = w + (size_t)g * BYTES;
    if (h == 0) prefetch(wg, BYTES);  // the second half reads the same lines
    __m256i s[R];
    for (int r = 0; r < R; r++) s[r] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i v = _mm256_loadu_si256((const __m256i*)(wg + c * 64 + h * 32));
      const __m256i lo = _mm256_and_si256(v, nib);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
      for (int r = 0; r < R; r++) {
        s[r] = _mm256_add_epi16(s[r], _mm256_maddubs_epi16(lo, bcast4(x + r * GROUP + c * 8)));
        s[r] = _mm256_add_epi16(s[r], _mm256_maddubs_epi16(hi, bcast4(x + r * GROUP + c * 8 + 4)));
        // each row's running sum made here: else GCC reassociates a group's sums, makes all of
        // its products first and spills them (8 rows' matmuls of a step: 9.3 ms, 7.9 with it)
        SIKAO_IN_REGISTER(s[r]);
      }
    }
    const uint16_t* p = sz + (size_t)g * 32 + 8 * h;
    const __m256 sc = bf16x8(p), z = bf16x8(p + 16);
    for (int r = 0; r < R; r++) {
      const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(s[r], _mm256_set1_epi16(1)),
                                           _mm256_set1_epi32(a.qzero[i + r]));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                               _mm256_mul_ps(sc, _mm256_set1_ps(a.scale[i + r])), acc[r]);
      acc[r] = _mm256_fmadd_ps(z, _mm256_set1_ps(a.sum[i + r]), acc[r]);
    }
  }

  __m256 out(__m256 acc, int) const { return acc; }
};

struct Int8 : Int8Block {
  using Int8Block::Int8Block;
  // The weights are made signed again (byte ^ 0x80) and multiplied as |w| times x with w's sign
  // (vpsignb; |w| made once for all the rows): the pair sums stay within int16 (2 * 127 * 127),
  // where the stored q + 128 would saturate them. Nothing to centre.
  static constexpr int ZERO = 0;

  template <int R>
  void group(const Acts& a, size_t i, int g, int h, __m256* acc) const {
    const int8_t* x = a.row(i);
    const uint8_t* wg = w + (size_t)g * BYTES;
    if (h == 0) prefetch(wg, BYTES);
    __m256i dot[R];
    for (int r = 0; r < R; r++) dot[r] = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
      const __m256i v = _mm256_xor_si256(
          _mm256_loadu_si256((const __m256i*)(wg + c * 64 + h * 32)), _mm256_set1_epi8(-128));
      const __m256i magnitude = _mm256_abs_epi8(v);
      for (int r = 0; r < R; r++) {
        const __m256i xr = bcast4(x + r * GROUP + c * 4);
        const __m256i p = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(xr, v));
        dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        SIKAO_IN_REGISTER(dot[r]);  // as the int4 sums
      }
    }
    for (int r = 0; r < R; r++)
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r]), _mm256_set1_ps(a.scale[i + r]), acc[r]);
  }

  __m256 out(__m256 acc, int h) const {
    return _mm256_mul_ps(acc, _mm256_loadu_ps(scales + 8 * h));
  }
};

// matmul.cpp's tile, one half of the column block at a time
template <int R, int B, class W>
void tile(const Acts& a, int m0, int K, const W* w, float* y, int N) {
  __m256 out[B][2][R];
  for (int b = 0; b < B; b++)
    for (int h = 0; h < 2; h++) {
      __m256 acc[R];
      for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
      for (int g = 0; g < K / GROUP; g++)
        w[b].template group<R>(a, (size_t)g * a.M + m0, g, h, acc);
      for (int r = 0; r < R; r++) out[b][h][r] = w[b].out(acc[r], h);
    }
  for (int r = 0; r < R; r++) {
    const __m512 o = {out[0][0][r], out[0][1][r]};
    _mm512_storeu_ps(y + (size_t)(m0 + r) * N,
                     B == 2 ? _mm512_mul_ps(silu(o), __m512{out[1][0][r], out[1][1][r]}) : o);
  }
}
