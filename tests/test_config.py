"""config.toml: defaults, validation naming the key, flags over config, `sikao config`."""
import tomllib

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.config import Config, ConfigError, config_path


def sikao(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_path_follows_config_dir(tmp_path):
    assert config_path() == tmp_path / "config" / "config.toml"
    assert sikao("config", "path").output.strip() == str(config_path())


def test_missing_file_gives_defaults():
    cfg = Config.load()
    assert cfg == Config()
    assert (cfg.model, cfg.temperature, cfg.top_p, cfg.search, cfg.log, cfg.seed) == (
        "default", 0.6, 0.95, "off", True, None)


def test_save_writes_only_changed_values_and_round_trips():
    cfg = Config(temperature=0.2, allow_hosts=["localhost"], seed=3, think=True)
    path = cfg.save()
    assert tomllib.loads(path.read_text()) == {
        "think": True, "temperature": 0.2, "seed": 3, "allow_hosts": ["localhost"]}
    assert Config.load() == cfg


@pytest.mark.parametrize("text, message", [
    ("colour = 'blue'\n", "unknown config key 'colour'"),
    ("temperature = 'hot'\n", "temperature must be a number, got 'hot'"),
    ("search = 'sometimes'\n", "search must be one of off, first, agentic, auto, got 'sometimes'"),
    ("branches = 0\n", "branches must be ≥ 1"),
    ("top_p = 0\n", "top_p must be > 0.0"),
    ("think = 1\n", "think must be true or false, got 1"),
    ("max_tokens = true\n", "max_tokens must be an integer, got True"),
    ("allow_hosts = ['a', 2]\n", "allow_hosts must be a list of strings"),
    ("temperature = \n", "Invalid value"),
])
def test_bad_file_names_the_key(text, message):
    config_path().parent.mkdir(parents=True)
    config_path().write_text(text)
    with pytest.raises(ConfigError) as err:
        Config.load()
    assert message in str(err.value.message) and str(config_path()) in err.value.message


def test_integers_are_accepted_for_floats():
    config_path().parent.mkdir(parents=True)
    config_path().write_text("temperature = 1\n")
    assert Config.load().temperature == 1.0


def test_flags_override_config_only_when_given():
    cfg = Config(temperature=0.2, think=True, allow_hosts=["intranet"])
    params = {"question": "hi", "as_json": False, "temperature": None, "think": False, "top_p": 0.5,
              "allow_hosts": (), "seed": 7}
    merged = cfg.merged(params)
    assert (merged.temperature, merged.think, merged.top_p, merged.seed, merged.allow_hosts) == (
        0.2, False, 0.5, 7, ["intranet"])
    assert cfg.merged({"allow_hosts": ("a", "b")}).allow_hosts == ["a", "b"]
    with pytest.raises(ConfigError, match="--top-p must be > 0.0"):
        cfg.merged({"top_p": 2.0})


def test_config_set_show_and_errors():
    assert sikao("config", "set", "temperature", "0.3").exit_code == 0
    assert sikao("config", "set", "search-backend", "searxng").exit_code == 0
    assert sikao("config", "set", "allow_hosts", "localhost, 10.0.0.2").exit_code == 0
    assert sikao("config", "set", "seed", "11").exit_code == 0
    assert sikao("config", "set", "log", "off").exit_code == 0
    shown = tomllib.loads(sikao("config", "show").output)
    assert (shown["temperature"], shown["search_backend"], shown["allow_hosts"], shown["seed"],
            shown["log"]) == (0.3, "searxng", ["localhost", "10.0.0.2"], 11, False)
    assert shown["model"] == "default"  # defaults are shown too

    assert sikao("config", "set", "seed", "none").exit_code == 0
    assert "# seed is not set" in sikao("config", "show").output
    assert "seed" not in tomllib.loads(config_path().read_text())

    for args, message in [(("nope", "1"), "unknown config key 'nope'"),
                          (("branches", "many"), "branches must be an integer, got 'many'"),
                          (("quant", "int3"), "quant must be one of auto, none, int8, int4"),
                          (("think", "perhaps"), "think must be true or false")]:
        result = sikao("config", "set", *args)
        assert result.exit_code == 2 and result.output.startswith(f"sikao: error: {message}")
        assert result.output.count("\n") == 1
    assert Config.load().temperature == 0.3  # a failed set changes nothing


def test_a_broken_file_makes_commands_fail_in_one_line():
    config_path().parent.mkdir(parents=True)
    config_path().write_text("quant = 'int2'\n")
    result = sikao("config", "show")
    assert result.exit_code == 2 and "quant must be one of auto, none, int8, int4, got 'int2'" in result.output
