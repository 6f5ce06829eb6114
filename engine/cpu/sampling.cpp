// The sampler's passes over the vocabulary: a greedy step's per-row statistics, and the draw of a
// temperature / top-p row.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
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

// For rows[b] of logits x [., V] fp32 (b < B): a token drawn from softmax(x / t) restricted to
// the row's nucleus, the smallest set of the likeliest tokens holding top_p of the probability
// (the top token always; none at top_p 1), by inverse CDF at u[b] in [0, 1): over the nucleus in
// descending order, or the whole row in index order (engine/sampling.py's order, whose torch
// version took ~0.3 ms a row: a softmax, top-k probes, cumsums and a search, each over the row).
void sikao_nucleus(const float* x, const int64_t* rows, int B, int V, float t, float top_p,
                   const float* u, int64_t* out, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int b = 0; b < B; b++) {
    const float* p = x + (size_t)rows[b] * V;
    __m512 best = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < V; j += 16)
      best = _mm512_max_ps(best, _mm512_mask_loadu_ps(best, first(V - j), p + j));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(best)), inv = _mm512_set1_ps(1.f / t);
    const auto scaled = [&](int j, __mmask16 in) {  // (x - max) / t for the 16 logits at j
      return _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(in, p + j), m), inv);
    };
    const bool nucleus = top_p < 1.f;
    // tokens whose probability is under e^-c of the top's hold at most V e^-c <= 1 - top_p of it
    // all: the nucleus is among the rest, the candidates
    const float floor = nucleus ? -std::log(V / (1.f - top_p)) - 1.f : INFINITY;
    std::vector<std::pair<float, int>> cand;
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < V; j += 16) {
      const __mmask16 in = first(V - j);
      const __m512 z = scaled(j, in);
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(in, exp_neg(z)));
      if (__mmask16 hit = _mm512_mask_cmp_ps_mask(in, z, _mm512_set1_ps(floor), _CMP_GE_OQ)) {
        float zs[16];
        _mm512_storeu_ps(zs, z);
        for (int i = 0; i < 16; i++)
          if (hit >> i & 1) cand.emplace_back(zs[i], j + i);
      }
    }
    const double total = _mm512_reduce_add_ps(sum);
    if (!nucleus) {  // the whole row, in index order: the block of 16 where the sum passes u
      const double at = u[b] * total;
      double cum = 0;
      int j = 0;
      float e[16];
      for (; j < V; j += 16) {
        const __mmask16 in = first(V - j);
        _mm512_storeu_ps(e, _mm512_maskz_mov_ps(in, exp_neg(scaled(j, in))));
        const double block = _mm512_reduce_add_ps(_mm512_loadu_ps(e));
        if (cum + block > at || j + 16 >= V) break;
        cum += block;
      }
      int i = 0;
      while (j + i < V - 1 && (cum += e[i]) <= at) i++;
      out[b] = j + i;
      continue;
    }
    // likeliest first (ties: the lower id): the top 64, then 1,024, then all, until they hold it
    const auto before = [](const std::pair<float, int>& a, const std::pair<float, int>& c) {
      return a.first > c.first || (a.first == c.first && a.second < c.second);
    };
    const double want = top_p * total;
    size_t n = cand.size();
    double mass = 0;  // the nucleus's
    for (size_t k : {(size_t)64, (size_t)1024, n}) {
      k = std::min(k, n);
      if (k < n) std::nth_element(cand.begin(), cand.begin() + k, cand.end(), before);
      std::sort(cand.begin(), cand.begin() + k, before);
      size_t i = 0;
      for (mass = 0; i < k && mass < want; i++) mass += std::exp((double)cand[i].first);
      if (mass >= want || k == n) {
        n = i;  // the nucleus: a token is in while the mass before it is under top_p
        break;
      }
    }
    const double at = u[b] * mass;
    double cum = 0;
    size_t i = 0;
    for (; i + 1 < n; i++)
      if ((cum += std::exp((double)cand[i].first)) > at) break;
    out[b] = cand[i].second;
  }
}
}
