"""Where sikao keeps its files: platformdirs' user dirs, each overridable by an environment variable
(tests point them at tmp dirs)."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def _dir(env: str, default) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser() if value else Path(default("sikao"))


def data_dir() -> Path:
    return _dir("SIKAO_DATA_DIR", platformdirs.user_data_dir)


def config_dir() -> Path:
    return _dir("SIKAO_CONFIG_DIR", platformdirs.user_config_dir)


def cache_dir() -> Path:
    return _dir("SIKAO_CACHE_DIR", platformdirs.user_cache_dir)
