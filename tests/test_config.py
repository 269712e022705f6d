"""Config validation: unknown keys, typed overrides, df conflicts, and default.yaml == Config() defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from stage_util import ROOT

from lexiflow.config import Config, ConfigError, load_config, parse_override
from tasks.vocab import VocabError, doc_limits


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vocab:\n  min_cout: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config([path])
    assert str(path) in str(err.value)
    assert "vocab.min_cout" in str(err.value)
    assert "unknown key" in str(err.value)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vocabulary:\n  min_count: 3\n")
    with pytest.raises(ConfigError, match="vocabulary"):
        load_config([path])


def test_wrong_type_names_override_and_value() -> None:
    with pytest.raises(ConfigError) as err:
        load_config([], ["vocab.min_count=many"])
    assert "--set vocab.min_count=many" in str(err.value)
    assert "'many'" in str(err.value)


def test_set_values_keep_yaml_types() -> None:
    assert parse_override("vocab.min_count=10") == (["vocab", "min_count"], 10)
    assert parse_override("vocab.max_df=0.5") == (["vocab", "max_df"], 0.5)
    assert parse_override("tfidf.smooth_idf=false") == (["tfidf", "smooth_idf"], False)
    assert parse_override("tokenize.stopwords=[a, the]") == (["tokenize", "stopwords"], ["a", "the"])
    assert parse_override("dask.address=null") == (["dask", "address"], None)
    cfg = load_config([], ["vocab.min_df=3", "vocab.max_df=0.9", "tfidf.norm=l1"])
    assert cfg.vocab.min_df == 3 and isinstance(cfg.vocab.min_df, int)
    assert cfg.vocab.max_df == 0.9 and isinstance(cfg.vocab.max_df, float)
    assert cfg.tfidf.norm == "l1"


def test_later_files_and_overrides_win(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("vocab:\n  min_count: 3\n  max_size: 100\n")
    b.write_text("vocab:\n  min_count: 4\n")
    cfg = load_config([a, b], ["vocab.max_size=50"])
    assert (cfg.vocab.min_count, cfg.vocab.max_size) == (4, 50)


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override("min_count=3")


def test_float_df_above_one_is_rejected() -> None:
    with pytest.raises(ConfigError, match="max_df"):
        load_config([], ["vocab.max_df=1.5"])


def test_min_df_max_df_conflict_is_clear() -> None:
    cfg = load_config([], ["vocab.min_df=5", "vocab.max_df=0.1"])
    with pytest.raises(VocabError) as err:
        doc_limits(cfg.vocab, 20)
    message = str(err.value)
    assert "max_df=0.1" in message and "2 documents" in message
    assert "min_df=5" in message and "5 documents" in message


def test_default_yaml_validates_and_equals_code_defaults() -> None:
    cfg = load_config([ROOT / "conf" / "default.yaml"])
    assert cfg.model_dump() == Config().model_dump()


def test_default_yaml_lists_every_key() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "conf" / "default.yaml").read_text())
    defaults = Config().model_dump()
    assert set(data) == set(defaults)
    for section, body in defaults.items():
        assert set(data[section]) == set(body), section


def test_unknown_section_from_set_names_the_set() -> None:
    with pytest.raises(ConfigError, match=r"--set foo\.bar=1: foo = \{'bar': 1\}: unknown key"):
        load_config([], ["foo.bar=1"])
