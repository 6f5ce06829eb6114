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

// KIND 0: vpdpbusd (64 int8 products), 1: vdpbf16ps (32 bf16 products), 2: vfmadd (16 fp32),
// 3: vpdpwssd (32 int16 products)
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

template <int CHAINS>
double rate(int kind, int threads, double seconds) {  // multiply-adds a second
  constexpr double PER[4] = {64, 32, 16, 32};
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
