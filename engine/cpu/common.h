// Helpers shared by the kernels (engine/cpu/*.cpp), written in AVX-512 (avx2.h has it on AVX2).
#pragma once
#include <immintrin.h>
#include <stdint.h>

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#include "avx2.h"
#elif !defined(__AVX512F__)
#error "the kernels need AVX-512 (VNNI, BF16) or AVX2 with FMA"
#endif

// Makes x here and keeps it in a register, where GCC would load it again for every use or move
// its making elsewhere: a zmm, or on AVX2 a ymm (a 256-bit value: avx2.h's 512-bit stand-ins are
// register pairs, which no asm constraint names)
#ifdef __AVX512F__
#define SIKAO_IN_REGISTER(x) __asm__("" : "+v"(x))
#else
#define SIKAO_IN_REGISTER(x) __asm__("" : "+x"(x))
#endif

namespace sikao {

// 512-bit values the vector registers hold: 32 zmm, or 16 ymm as pairs. Register tiles are sized
// by it (on AVX2, tiles sized for 32 spilled to the stack on every step of their loops).
#ifdef __AVX512F__
constexpr int VREGS = 32;
#else
constexpr int VREGS = 8;
#endif

inline __m512 bf16x16(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}

inline __mmask16 first(int n) {  // the first n lanes (none for n <= 0)
  return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

// 2^t for t <= 0 to ~3e-6 relative: 2^n * p(f), p the degree-5 Taylor polynomial of 2^f on
// [-0.5, 0.5]
inline __m512 exp2_neg(__m512 t) {
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

inline __m512 exp_neg(__m512 x) {  // e^x for x <= 0
  return exp2_neg(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)));
}

}  // namespace sikao
