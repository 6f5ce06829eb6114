"""Configuration: a default for every flag, kept in config.toml in the user config dir.

Precedence: a flag given on the command line > config.toml > the defaults below. Only values
that differ from the defaults are written to the file, so a later default change reaches users
who never set that key.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import tomli_w

from app.errors import UserError
from app.paths import config_dir

CHOICES = {
    "search": ("off", "first", "agentic", "auto"),
    "search_backend": ("auto", "duckduckgo", "searxng", "local"),
    "quant": ("auto", "none", "int8", "int4"),
    "dtype": ("auto", "float32", "bfloat16", "float16"),
}
RANGES = {  # key -> (lowest, highest, lowest allowed itself)
    "branches": (1, 64, True),
    "temperature": (0.0, 10.0, True),
    "top_p": (0.0, 1.0, False),
    "max_thinking_tokens": (1, 10_000_000, True),
    "max_tokens": (1, 10_000_000, True),
}
TYPES = {"bool": bool, "str": str, "list[str]": list, "int": int, "int | None": int, "float": (int, float)}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class ConfigError(UserError):
    pass


@dataclass
class Config:
    model: str = "default"  # default | path to .gguf or HF dir | hub id | remote URL
    think: bool = False
    search: str = "off"
    search_backend: str = "auto"
    searxng_url: str = ""
    branches: int = 1
    quant: str = "auto"  # int4 for the bundled model on CPU (engine/quant.py choose)
    temperature: float = 0.6  # DeepSeek's recommendation for R1 models
    top_p: float = 0.95
    max_thinking_tokens: int = 1024
    max_tokens: int = 512  # answer budget
    seed: int | None = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"
    log: bool = True  # record exchanges in the history database
    allow_hosts: list[str] = field(default_factory=list)  # private hosts page fetching may reach

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        path = path or config_path()
        if not path.exists():
            return cls()
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from None
        return cls(**{key: check(key, value, where=f"{path}: ") for key, value in data.items()})

    def save(self, path: Path | None = None) -> Path:
        path = path or config_path()
        default = asdict(Config())
        data = {k: v for k, v in asdict(self).items() if v != default[k] and v is not None}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        os.replace(tmp, path)  # never leave a half-written config behind
        return path

    def set(self, key: str, text: str) -> None:
        """Set `key` from its command-line text form, e.g. set("seed", "none")."""
        setattr(self, key, check(key, parse(key, text)))

    def merged(self, params: dict) -> Config:
        """This config with the flags the user actually gave (click params that are not None)
        laid over it. Params that are not config keys (the question, --json…) are ignored."""
        given = {k: check(k, list(v) if isinstance(v, tuple) else v, where="--")
                 for k, v in params.items() if k in KEYS and v is not None and v != ()}
        return replace(self, **given)


KEYS = {f.name: f for f in fields(Config)}


def config_path() -> Path:
    return config_dir() / "config.toml"


def _kind(key: str) -> str:
    return str(KEYS[key].type)  # annotations are strings here: "int", "int | None", "list[str]"…


def check(key: str, value, where: str = "") -> object:
    """`value` if it is a valid `key`, else a ConfigError naming the key."""
    name = f"{where}{key.replace('_', '-') if where == '--' else key}"
    if key not in KEYS:
        raise _unknown(key, where)
    kind = _kind(key)
    if value is None and kind == "int | None":
        return None
    if not isinstance(value, TYPES[kind]) or (isinstance(value, bool) and kind != "bool"):
        raise ConfigError(f"{name} must be {_describe(kind)}, got {value!r}")
    if kind == "list[str]" and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of strings, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{name} must be one of {', '.join(CHOICES[key])}, got {value!r}")
    if key in RANGES:
        low, high, inclusive = RANGES[key]
        if not (low <= value <= high and (inclusive or value > low)):
            bound = f"{'≥' if inclusive else '>'} {low} and ≤ {high}"
            raise ConfigError(f"{name} must be {bound}, got {value!r}")
    return float(value) if kind == "float" else value


def parse(key: str, text: str) -> object:
    """The value of `key` from its text form (`sikao config set KEY VALUE`)."""
    if key not in KEYS:
        raise _unknown(key)
    kind, low = _kind(key), text.strip().lower()
    try:
        if kind == "bool":
            if low not in TRUE + FALSE:
                raise ValueError
            return low in TRUE
        if kind == "int | None":
            return None if low in ("", "none") else int(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ConfigError(f"{key} must be {_describe(kind)}, got {text!r}") from None
    if kind == "list[str]":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _unknown(key: str, where: str = "") -> ConfigError:
    return ConfigError(f"{where}unknown config key '{key}' (known: {', '.join(KEYS)})")


def _describe(kind: str) -> str:
    return {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
            "list[str]": "a list of strings", "int | None": "an integer or none"}[kind]
