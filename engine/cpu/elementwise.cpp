// The decode step's small elementwise layers in one call each: torch runs RMSNorm as six ops and
// the rotary embedding as five, ~8 us a layer each at one row, most of it dispatch.
#include <omp.h>

#include <cmath>

#include "common.h"
#include "team.h"

using namespace sikao;

namespace {

void norm_row(const float* x, const float* w, float* y, int n, float eps) {
  __m512 ss = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    ss = _mm512_fmadd_ps(v, v, ss);
  }
  const __m512 inv = _mm512_set1_ps(1.f / std::sqrt(_mm512_reduce_add_ps(ss) / n + eps));
  for (int i = 0; i < n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(w + i),
                                          _mm512_mul_ps(_mm512_loadu_ps(x + i), inv)));
}

void rope_row(float* x, int heads, int d, const float* c, const float* s) {
  const int half = d / 2;
  for (int h = 0; h < heads; h++) {
    float* v = x + h * d;
    for (int i = 0; i < half; i += 16) {
      __m512 a = _mm512_loadu_ps(v + i), b = _mm512_loadu_ps(v + half + i);
      _mm512_storeu_ps(v + i, _mm512_fnmadd_ps(b, _mm512_loadu_ps(s + i),
                                               _mm512_mul_ps(a, _mm512_loadu_ps(c + i))));
      _mm512_storeu_ps(v + half + i,
                       _mm512_fmadd_ps(a, _mm512_loadu_ps(s + half + i),
                                       _mm512_mul_ps(b, _mm512_loadu_ps(c + half + i))));
    }
  }
}

}  // namespace

void sikao::rms_norm(const float* x, const float* w, float* y, int rows, int n, float eps) {
  for (int r = 0; r < rows; r++) norm_row(x + (size_t)r * n, w, y + (size_t)r * n, n, eps);
}

void sikao::rope(float* x, long stride, int rows, int heads, int d, const float* cos,
                 const float* sin) {
  for (int r = 0; r < rows; r++)
    rope_row(x + r * stride, heads, d, cos + (size_t)r * d, sin + (size_t)r * d);
}

extern "C" {

// y [rows, n] = w * x / sqrt(mean(x^2) + eps), fp32 (n % 16 == 0; y may be x).
void sikao_rms_norm(const float* x, const float* w, float* y, int rows, int n, float eps,
                    int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (rows >= 64)
  for (int r = 0; r < rows; r++) norm_row(x + (size_t)r * n, w, y + (size_t)r * n, n, eps);
}

// In place, the rotary embedding of `heads` vectors of d (d % 32 == 0) per row, row r's at
// x + r * stride, with cos and sin [rows, d]: x * cos + rotate_half(x) * sin, rotate_half(x) =
// (-x[d/2:], x[:d/2]).
void sikao_rope(float* x, long stride, int rows, int heads, int d, const float* cos,
                const float* sin, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (rows >= 64)
  for (int r = 0; r < rows; r++)
    rope_row(x + r * stride, heads, d, cos + (size_t)r * d, sin + (size_t)r * d);
}
}
