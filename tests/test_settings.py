"""settings.json is checked value by value: a bad value is named with its key and the file, its
default is used, and the other values stay."""

import json

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from app.settings import Settings

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children,
                                                                                     max_size=3), max_leaves=8)


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("JARVIS_CONFIG_DIR", str(tmp_path))
    return tmp_path / "settings.json"


@pytest.mark.parametrize("raw, key", [
    ('{"memory_budget_gb": "2", "n_threads": 3}', "memory_budget_gb"),
    ('{"memory_budget_gb": 1e400, "n_threads": 3}', "memory_budget_gb"),
    ('{"n_ctx": "big", "n_threads": 3}', "n_ctx"),
    ('{"n_ctx": 99999999, "n_threads": 3}', "n_ctx"),
    ('{"device": "gpu please", "n_threads": 3}', "device"),
    ('{"allow_pickle_models": "all", "n_threads": 3}', "allow_pickle_models"),
])
def test_a_bad_value_is_named_and_replaced_by_its_default_the_rest_kept(config, raw, key):
    config.write_text(raw)
    settings, problems = Settings.load_checked()
    assert settings.n_threads == 3
    assert getattr(settings, key) == getattr(Settings(), key)
    [problem] = problems
    assert problem.startswith(f"{config}: {key} = ") and problem.endswith("using the default")


@pytest.mark.parametrize("raw", ["[1, 2]", "not json", '"a string"'])
def test_a_file_that_is_not_an_object_gives_the_defaults_and_says_so(config, raw):
    config.write_text(raw)
    settings, [problem] = Settings.load_checked()
    assert settings == Settings() and str(config) in problem


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["n_ctx", "n_threads", "device", "memory_budget_gb", "plan_steps",
                                        "allow_pickle_models", "controller_url", "other"]), JSON, max_size=5))
def test_any_json_object_loads_to_valid_settings_with_one_line_problems(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("config")
    (folder / "settings.json").write_text(json.dumps(raw))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JARVIS_CONFIG_DIR", str(folder))
        settings, problems = Settings.load_checked()
    assert isinstance(settings, Settings) and 256 <= settings.n_ctx and settings.memory_budget_gb >= 0
    assert all("\n" not in problem for problem in problems)
