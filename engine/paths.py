import os
from pathlib import Path

import platformdirs


def models_dir() -> Path:
    """Converted model weights: SIKAO_MODELS_DIR, else <user cache dir>/models (SIKAO_CACHE_DIR
    moves the whole cache). Separate from the other caches so tests can isolate those and still
    reuse one conversion."""
    if os.environ.get("SIKAO_MODELS_DIR"):
        return Path(os.environ["SIKAO_MODELS_DIR"])
    return Path(os.environ.get("SIKAO_CACHE_DIR") or platformdirs.user_cache_dir("sikao")) / "models"
