// A whole decode step of a llama-family model (llama, qwen2's qkv biases, qwen3's q/k norms) in
// one call: each layer's kernels in order with nothing between them. Driven from Python, the same
// kernels left ~2.3 ms of a 4.1 ms one-row step to torch ops, module calls and ctypes.
#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" {
void sikao_rms_norm(const float* x, const float* w, float* y, int rows, int n, float eps,
                    int threads);
void sikao_rope(float* x, long stride, int rows, int heads, int d, const float* cos,
                const float* sin, int threads);
void sikao_int4_mm(const float* x, int M, int K, const uint8_t* w, const uint16_t* sz, int N,
                   float* y, int glu, int threads);
void sikao_int8_mm(const float* x, int M, int K, const uint8_t* w, const float* scales, int N,
                   float* y, int glu, int threads);
void sikao_decode_attention(const float* q, long qs, const float* kn, const float* vn, long ns,
                            void* k, void* v, float* y, int B, int H, int KV, int D, long sb,
                            long sh, long sn, const int* lens, const int* share, int bf16,
                            int threads);
}

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

struct Model {
  int layers, heads, kv_heads, head_dim, dim, hidden;
  float eps;
  const Layer* layer;
  const float* norm;
  Linear head;
};

// y [M, n] = x [M, k] @ W^T (+ bias); with glu, silu(gate) * up [M, n / 2]
void mm(const Linear& l, const float* x, int M, float* y, int glu, int threads) {
  if (l.int8)
    sikao_int8_mm(x, M, l.k, l.w, (const float*)l.aux, l.n, y, glu, threads);
  else
    sikao_int4_mm(x, M, l.k, l.w, (const uint16_t*)l.aux, l.n, y, glu, threads);
  if (l.bias)
    for (int m = 0; m < M; m++)
      for (int i = 0; i < l.n; i++) y[(size_t)m * l.n + i] += l.bias[i];
}

void add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] += y[i];
}

}  // namespace

extern "C" {

// logits [B, vocab] for one token a row. x [B, dim]: the tokens' embeddings (overwritten); cos,
// sin [B, head_dim]: the rows' rotary tables at their positions; k, v: the caches, [layers, rows,
// kv_heads, n, head_dim] at strides sl, sb, sh, sn (fp32, or bf16 when `bf16`), row b's key and
// value written at lens[b] - 1 and attended over its first lens[b]; share: as for
// sikao_decode_attention.
void sikao_decode_step(const Model* m, float* x, int B, const float* cos, const float* sin,
                       void* k, void* v, long sl, long sb, long sh, long sn, const int* lens,
                       const int* share, int bf16, float* logits, int threads) {
  const int H = m->heads, KV = m->kv_heads, D = m->head_dim, width = (H + 2 * KV) * D;
  std::vector<float> h((size_t)B * m->dim), qkv((size_t)B * width), y((size_t)B * H * D),
      g((size_t)B * m->hidden), t((size_t)B * m->dim);
  const size_t bytes = bf16 ? 2 : 4;
  for (int i = 0; i < m->layers; i++) {
    const Layer& l = m->layer[i];
    sikao_rms_norm(x, l.attn_norm, h.data(), B, m->dim, m->eps, threads);
    mm(l.qkv, h.data(), B, qkv.data(), 0, threads);
    if (l.q_norm)
      for (int b = 0; b < B; b++) {
        float* q = qkv.data() + (size_t)b * width;
        sikao_rms_norm(q, l.q_norm, q, H, D, m->eps, threads);
        sikao_rms_norm(q + H * D, l.k_norm, q + H * D, KV, D, m->eps, threads);
      }
    sikao_rope(qkv.data(), width, B, H + KV, D, cos, sin, threads);
    char* kl = (char*)k + i * sl * bytes;
    char* vl = (char*)v + i * sl * bytes;
    sikao_decode_attention(qkv.data(), width, qkv.data() + H * D, qkv.data() + (H + KV) * D,
                           width, kl, vl, y.data(), B, H, KV, D, sb, sh, sn, lens, share, bf16,
                           threads);
    mm(l.o, y.data(), B, t.data(), 0, threads);
    add(x, t.data(), t.size());
    sikao_rms_norm(x, l.mlp_norm, h.data(), B, m->dim, m->eps, threads);
    mm(l.gate_up, h.data(), B, g.data(), 1, threads);
    mm(l.down, g.data(), B, t.data(), 0, threads);
    add(x, t.data(), t.size());
  }
  sikao_rms_norm(x, m->norm, h.data(), B, m->dim, m->eps, threads);
  mm(m->head, h.data(), B, logits, 0, threads);
}
}
