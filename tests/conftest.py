"""Shared test setup: every test gets its own user data, config and cache dirs, so no test reads
or writes the real ~/.local/share/sikao, ~/.config/sikao or ~/.cache/sikao."""
import os

import pytest

from engine.paths import kernels_dir, models_dir, prepared_dir

# The converted bundled model, the compiled CPU kernels and the models as built are the caches
# tests share (converting takes ~20 s): pinned to the user's real dirs before any test points
# SIKAO_CACHE_DIR elsewhere.
os.environ["SIKAO_MODELS_DIR"] = str(models_dir())
os.environ["SIKAO_KERNELS_DIR"] = str(kernels_dir())
os.environ["SIKAO_PREPARED_DIR"] = str(prepared_dir())


@pytest.fixture(autouse=True)
def sikao_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SIKAO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SIKAO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def llm():
    """The real bundled model as users get it (int4 on CPU), loaded once per test session
    (converted on the first run ever)."""
    from engine import LLM

    return LLM()


@pytest.fixture(scope="session")
def exact_llm():
    """The bundled model in fp32: logits that match HF's and a row's result that does not depend
    on what else is in the batch (the quantized kernels compute in bf16, where it does slightly)."""
    from engine import LLM, EngineConfig

    return LLM(EngineConfig(quant="none"))


@pytest.fixture(scope="session")
def tokenizer(llm):
    return llm.tokenizer


@pytest.fixture
def isa(request, monkeypatch):
    """The native kernels as built for `request.param`: this CPU's own build, or "avx2" (tests/
    kernels.py's `native`)."""
    from engine.cpu import build

    if request.param == "avx2":
        monkeypatch.setenv("SIKAO_ISA", "avx2")
    build.library.cache_clear()
    yield request.param
    build.library.cache_clear()
