import os
from pathlib import Path

import platformdirs


def _cache(kind: str, env: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    return Path(os.environ.get("SIKAO_CACHE_DIR") or platformdirs.user_cache_dir("sikao")) / kind


def models_dir() -> Path:
    """Converted model weights: SIKAO_MODELS_DIR, else <user cache dir>/models (SIKAO_CACHE_DIR
    moves the whole cache). Separate from the other caches so tests can isolate those and still
    reuse one conversion."""
    return _cache("models", "SIKAO_MODELS_DIR")


def kernels_dir() -> Path:
    """CPU kernels compiled for this machine: SIKAO_KERNELS_DIR, else <user cache dir>/kernels."""
    return _cache("kernels", "SIKAO_KERNELS_DIR")


def prepared_dir() -> Path:
    """Models as built for this CPU (engine/prepared.py): SIKAO_PREPARED_DIR, else <user cache
    dir>/prepared."""
    return _cache("prepared", "SIKAO_PREPARED_DIR")
