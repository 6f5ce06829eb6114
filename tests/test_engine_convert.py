"""The one-time GGUF → safetensors conversion, run for real on a copy of the bundled file."""
import shutil

import pytest

from engine.convert import convert_gguf
from engine.errors import ModelError
from engine.resolve import bundled_gguf


@pytest.mark.slow
def test_conversion_writes_a_loadable_cache_once_with_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_MODELS_DIR", str(tmp_path / "models"))
    gguf = tmp_path / "copy.gguf"
    shutil.copy(bundled_gguf(), gguf)
    seen = []
    target = convert_gguf(gguf, lambda msg, frac: seen.append(frac))
    assert seen[0] < seen[-1] == 1.0 and seen == sorted(seen)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in target.iterdir()}
    assert not list((tmp_path / "models").glob("*.tmp*"))  # written aside, renamed into place
    again = []
    assert convert_gguf(gguf, lambda msg, frac: again.append(frac)) == target and again == []


def test_a_broken_gguf_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_MODELS_DIR", str(tmp_path / "models"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="can't convert bad.gguf"):
        convert_gguf(bad)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
