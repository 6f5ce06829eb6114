// Kernels as one thread's share of a team already running: step.cpp runs a whole decode step in
// one parallel region, where a region of its own for each of a step's ~150 kernel calls cost
// 0.15 ms of a 1.41 ms one-row step (0.35 ms of 3.31 at 8 rows). Every thread of the team calls
// each function, in the same order, on the same arguments; the work is shared out by orphaned
// `omp for`s, whose closing barrier the threads pass together. Outputs are shared; inputs may be
// each thread's own copy of the same values.
#pragma once
#include <stdint.h>

namespace sikao {

// The extern "C" matmuls' arguments, with a bias [N] added (none with glu)
void int4_mm_team(const float* x, int M, int K, const uint8_t* w, const uint16_t* sz, int N,
                  float* y, const float* bias, int glu);
void int8_mm_team(const float* x, int M, int K, const uint8_t* w, const float* scales, int N,
                  float* y, const float* bias, int glu);

// How many ranges sikao_decode_attention splits each row's keys into, at `threads` threads
int decode_splits(int B, int KV, const int* lens, int threads);

// sikao_decode_attention's arguments but `threads`, each row's keys in S = decode_splits(...)
// ranges, with room for their outputs when S > 1: parts [S * B * H * (D + 2)]
void decode_attention_team(const float* q, long qs, const float* kn, const float* vn, long ns,
                           void* k, void* v, float* y, int B, int H, int KV, int D, long sb,
                           long sh, long sn, const int* lens, const int* share, int bytes, int S,
                           float* parts);

// sikao_rms_norm and sikao_rope on the calling thread alone
void rms_norm(const float* x, const float* w, float* y, int rows, int n, float eps);
void rope(float* x, long stride, int rows, int heads, int d, const float* cos, const float* sin);

}  // namespace sikao
