import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """Converted weights and other re-creatable data; SIKAO_CACHE_DIR overrides."""
    return Path(os.environ.get("SIKAO_CACHE_DIR") or platformdirs.user_cache_dir("sikao"))
