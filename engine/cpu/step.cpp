// A whole decode step of a llama-family model (llama, qwen2's qkv biases, qwen3's q/k norms) in
// one call and one parallel region: each layer's kernels in order with nothing between them but
// the team's barriers (team.h). Driven from Python, the same kernels left ~2.3 ms of a 4.1 ms
// one-row step to torch ops, module calls and ctypes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "team.h"

using namespace sikao;

namespace {

// A packed weight as engine/cpu/ops.py lays it out, [n, k] before packing.
struct Linear {
  const uint8_t* w;
  const void* aux;     // int4: bf16 scales and zeros; int8: fp32 scales
  const float* bias;   // [n] or null
  int n, k, int8;
};

struct Layer {
  const float *attn_norm, *q_norm, *k_norm, *mlp_norm;  // q_norm, k_norm: null but for qwen3
  Linear qkv, o, gate_up, down;
};

struct Embed {  // int8 rows, a scale each: the tied head's (packed, `packed`) or a plain table
  const uint8_t* w;
  const float* scales;
  int packed;
};

struct Model {
  int layers, heads, kv_heads, head_dim, dim, hidden;
  float eps;
  const Layer* layer;
  const float* norm;
  Linear head;
  Embed embed;
};

// x [B, dim] = the tokens' rows (torch's gather, conversion and scaling took ~0.1 ms a step)
void embed(const Embed& e, const int* tokens, int B, int dim, float* x) {
  for (int b = 0; b < B; b++) {
    const int n = tokens[b];
    const float s = e.scales[n];
    float* row = x + (size_t)b * dim;
    if (!e.packed) {
      const int8_t* q = (const int8_t*)e.w + (size_t)n * dim;
      for (int i = 0; i < dim; i++) row[i] = (float)q[i] * s;
      continue;
    }
    // engine/cpu/ops.py's pack_int8: byte 4i+j of chunk c of group g holds column i's k =
    // 32g + 4c + j, as q + 128, for the 16 rows of block n / 16
    const uint8_t* block = e.w + (size_t)(n / 16) * (dim / 32) * 512 + 4 * (n % 16);
    for (int k = 0; k < dim; k++)
      row[k] = (float)(int8_t)(block[(k / 32) * 512 + (k % 32 / 4) * 64 + k % 4] ^ 0x80) * s;
  }
}

// y [M, n] = x [M, k] @ W^T (+ bias); with glu, silu(gate) * up [M, n / 2]. The team's share.
void mm(const Linear& l, const float* x, int M, float* y, int glu) {
  if (l.int8)
    int8_mm_team(x, M, l.k, l.w, (const float*)l.aux, l.n, y, l.bias, glu);
  else
    int4_mm_team(x, M, l.k, l.w, (const uint16_t*)l.aux, l.n, y, l.bias, glu);
}

void add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] += y[i];
}

}  // namespace

extern "C" {

// logits [B, vocab] for token tokens[b] at position pos[b] of each row b. cos, sin [> pos,
// head_dim]: the rotary tables; k, v: the caches, [layers, rows, kv_heads, n, width] at strides
// sl, sb, sh, sn (`bytes` an element, as sikao_decode_attention's), row b's key and value written
// at pos[b] and attended over its first pos[b] + 1; share: as for sikao_decode_attention.
void sikao_decode_step(const Model* m, const int* tokens, const int* pos, int B, const float* cos,
                       const float* sin, void* k, void* v, long sl, long sb, long sh, long sn,
                       const int* share, int bytes, float* logits, int threads) {
  const int H = m->heads, KV = m->kv_heads, D = m->head_dim, width = (H + 2 * KV) * D;
  // shared: what the team's `omp for`s write (kernel outputs) and what every thread reads
  std::vector<float> qkv((size_t)B * width), y((size_t)B * H * D), g((size_t)B * m->hidden),
      t((size_t)B * m->dim), c((size_t)B * D), s(c.size());
  std::vector<int> lens(B);
  for (int b = 0; b < B; b++) {
    lens[b] = pos[b] + 1;
    std::memcpy(&c[(size_t)b * D], cos + (size_t)pos[b] * D, D * sizeof(float));
    std::memcpy(&s[(size_t)b * D], sin + (size_t)pos[b] * D, D * sizeof(float));
  }
  const int S = decode_splits(B, KV, lens.data(), threads);
  std::vector<float> parts(S > 1 ? (size_t)S * B * H * (D + 2) : 0);
#pragma omp parallel num_threads(threads)
  {
    // each thread's own copy of the residual stream and what is derived from it row by row: a
    // barrier to share them would cost more than computing them twice
    std::vector<float> x((size_t)B * m->dim), h(x.size()), q(qkv.size());
    embed(m->embed, tokens, B, m->dim, x.data());
    for (int i = 0; i < m->layers; i++) {
      const Layer& l = m->layer[i];
      rms_norm(x.data(), l.attn_norm, h.data(), B, m->dim, m->eps);
      mm(l.qkv, h.data(), B, qkv.data(), 0);
      std::memcpy(q.data(), qkv.data(), q.size() * sizeof(float));  // normed and roped in place
      if (l.q_norm)
        for (int b = 0; b < B; b++) {
          float* qb = q.data() + (size_t)b * width;
          rms_norm(qb, l.q_norm, qb, H, D, m->eps);
          rms_norm(qb + H * D, l.k_norm, qb + H * D, KV, D, m->eps);
        }
      rope(q.data(), width, B, H + KV, D, c.data(), s.data());
      decode_attention_team(q.data(), width, q.data() + H * D, q.data() + (H + KV) * D, width,
                            (char*)k + i * sl * bytes, (char*)v + i * sl * bytes, y.data(), B,
                            H, KV, D, sb, sh, sn, lens.data(), share, bytes, S, parts.data());
      mm(l.o, y.data(), B, t.data(), 0);
      add(x.data(), t.data(), x.size());
      rms_norm(x.data(), l.mlp_norm, h.data(), B, m->dim, m->eps);
      mm(l.gate_up, h.data(), B, g.data(), 1);
      mm(l.down, g.data(), B, t.data(), 0);  // t's readers above are past gate_up's barrier
      add(x.data(), t.data(), x.size());
    }
    rms_norm(x.data(), m->norm, h.data(), B, m->dim, m->eps);
    mm(m->head, h.data(), B, logits, 0);
  }
}
}
