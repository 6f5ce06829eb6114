// The greedy sampler's per-row statistics over the vocabulary.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "common.h"

using namespace sikao;

extern "C" {

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
