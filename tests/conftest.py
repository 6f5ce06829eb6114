"""Shared test setup: every test gets its own user data and config dirs, so no test reads or
writes the real ~/.local/share/sikao or ~/.config/sikao."""
import pytest


@pytest.fixture(autouse=True)
def sikao_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SIKAO_CONFIG_DIR", str(tmp_path / "config"))
