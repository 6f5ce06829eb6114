from dataclasses import dataclass


@dataclass
class EngineConfig:
    model: str = "default"  # "default" | path/to/file.gguf | HF model dir | hub id
    device: str | None = None  # None = auto: cuda > mps > cpu
    dtype: str | None = None  # None = auto: bf16 on cuda, fp16 on mps, fp32 on cpu
    quant: str = "auto"  # none | int8 | int4 | auto (weight-only; auto: engine/quant.py choose)
    max_model_len: int | None = None  # None = the model's own context length
    fast: bool = True  # our own forward for llama/qwen2/qwen3; False forces HF modeling
    threads: int | None = None  # torch intra-op threads; None = loader.default_threads()
    compile: bool = False  # torch.compile the decode step (~40 s at start; pays without engine/cpu)
    cuda_graphs: bool = True  # replay decode steps as CUDA graphs (CUDA only)
    prefix_cache_mb: int = 256  # KV kept from finished sequences for reuse by later prompts
