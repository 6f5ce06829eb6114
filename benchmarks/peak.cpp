// The CPU's multiply-add throughput for the instructions the kernels are built on, so a
// benchmark can say how far a compute-bound step is from its ceiling: independent chains of one
// instruction on every thread for about `seconds`.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

namespace {

// Enough independent chains to cover latency x throughput, few enough that each keeps its own
// register: GCC copied every one of 16 int8 chains through a second register each pass (vpdpbusd
// then measured half its rate), while 12 fall short for vdpbf16ps (~7 % low). Each kind runs at
// both counts and keeps the faster.
constexpr long BATCH = 1 << 16;  // instructions between clock reads, per chain

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

#ifdef __AVX512F__
// KIND 0: vpdpbusd (64 int8 products), 1: vdpbf16ps (32 bf16 products), 2: vfmadd (16 fp32),
// 3: vpdpwssd (32 int16 products)
constexpr double PER[4] = {64, 32, 16, 32};

template <int KIND, int CHAINS>
long chains(double seconds, float seed) {
  __m512 f[CHAINS];
  __m512i n[CHAINS];
  for (int i = 0; i < CHAINS; i++) f[i] = _mm512_set1_ps(seed * i), n[i] = _mm512_set1_epi32(i);
  const __m512 a = _mm512_set1_ps(seed);
  const __m512i b = _mm512_set1_epi8(1);
  const __m512bh h = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // bf16 pairs of 1.0
  const auto start = Clock::now();
  long done = 0;
  while (since(start) < seconds) {
    for (long r = 0; r < BATCH; r++)
#pragma GCC unroll 16
      for (int i = 0; i < CHAINS; i++) {
        if constexpr (KIND == 0) n[i] = _mm512_dpbusd_epi32(n[i], b, b);
        if constexpr (KIND == 1) f[i] = _mm512_dpbf16_ps(f[i], h, h);
        if constexpr (KIND == 2) f[i] = _mm512_fmadd_ps(f[i], a, a);
        if constexpr (KIND == 3) n[i] = _mm512_dpwssd_epi32(n[i], b, b);
      }
    done += BATCH * CHAINS;
  }
  float keep = 0;  // the chains' results are used: none of them is optimized away
  for (int i = 0; i < CHAINS; i++) keep += f[i][0] + (float)n[i][0];
  return keep == 12345.f ? done + 1 : done;
}
#else
// AVX2, 256-bit: KIND 0: vpmaddubsw (32 int8 products, into pairs: the multiplier of the int4 and
// int8 matmuls), 2: vfmadd (8 fp32: prefill attention's), 3: vpmaddwd (16 int16 products). No
// bf16 arithmetic (KIND 1): 0 products.
constexpr double PER[4] = {32, 0, 8, 16};

// One round of 12 chains, ymm0-11, each register its own input, the operands in ymm12-13: written
// out, because GCC kept 12 or 16 chains of intrinsics on the stack here (16 registers) and the
// loop measured its stores
#define SIKAO_INT(op, n) op " %%ymm12, %%ymm" #n ", %%ymm" #n "\n\t"
#define SIKAO_FMA(op, n) op " %%ymm13, %%ymm12, %%ymm" #n "\n\t"
#define SIKAO_ZERO(op, n) op " %%ymm" #n ", %%ymm" #n ", %%ymm" #n "\n\t"
#define SIKAO_12(one, op)                                                                  \
  one(op, 0) one(op, 1) one(op, 2) one(op, 3) one(op, 4) one(op, 5) one(op, 6) one(op, 7) \
      one(op, 8) one(op, 9) one(op, 10) one(op, 11)
#define SIKAO_CLOBBERS                                                                     \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
      "xmm11", "xmm12", "xmm13"

template <int KIND, int CHAINS>  // 12 chains, whatever CHAINS
long chains(double seconds, float) {
  if constexpr (KIND == 1) return 0;
  const auto start = Clock::now();
  long done = 0;
  while (since(start) < seconds) {
    // zeros: no denormal or NaN operand slows the FMAs
    __asm__ volatile(SIKAO_12(SIKAO_ZERO, "vpxor") SIKAO_ZERO("vpxor", 12)
                         SIKAO_ZERO("vpxor", 13) ::: SIKAO_CLOBBERS);
    for (long r = 0; r < BATCH; r++) {
      if constexpr (KIND == 0)
        __asm__ volatile(SIKAO_12(SIKAO_INT, "vpmaddubsw") ::: SIKAO_CLOBBERS);
      if constexpr (KIND == 2)
        __asm__ volatile(SIKAO_12(SIKAO_FMA, "vfmadd231ps") ::: SIKAO_CLOBBERS);
      if constexpr (KIND == 3)
        __asm__ volatile(SIKAO_12(SIKAO_INT, "vpmaddwd") ::: SIKAO_CLOBBERS);
    }
    done += BATCH * 12;
  }
  return done;
}
#endif

template <int CHAINS>
double rate(int kind, int threads, double seconds) {  // multiply-adds a second
  long total = 0;
  const auto start = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
  total += kind == 0   ? chains<0, CHAINS>(seconds, 1e-9f)
           : kind == 1 ? chains<1, CHAINS>(seconds, 1e-9f)
           : kind == 2 ? chains<2, CHAINS>(seconds, 1e-9f)
                       : chains<3, CHAINS>(seconds, 1e-9f);
  return total * PER[kind] / since(start);
}

}  // namespace

extern "C" {

// Multiply-adds a second over `threads` threads, instruction `kind` (see chains)
double sikao_peak(int kind, int threads, double seconds) {
  return std::max(rate<12>(kind, threads, seconds), rate<16>(kind, threads, seconds));
}
}
