"""Tokens: exact token lists for normalisation, one-character tokens, empty docs, Chinese, stopwords, patterns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from stage_util import FULL_CORPUS, SAMPLE, config, ingest_texts, run

from lexiflow.config import ConfigError, TokenizeConfig
from lexiflow.store import ArtifactStore
from tasks import tokens
from tasks.tokens import check_pattern, load_stopwords, tokenize

DEFAULT = TokenizeConfig()


def toks(texts: list[str | None], **cfg: object) -> list[list[str]]:
    settings = TokenizeConfig(**cfg)
    return tokenize(pa.array(texts, pa.string()), settings, load_stopwords(settings)).to_pylist()


def test_ascii_basics_and_one_character_tokens() -> None:
    assert toks(["Hello, World! A b_c x-1 I/O C++ 3.14"]) == [
        ["hello", "world", "a", "b_c", "x", "1", "i", "o", "c", "3", "14"]
    ]


def test_nfkc_full_width_digits_nbsp_and_ligature() -> None:
    assert toks(["１２３ apples"]) == [["123", "apples"]]
    assert toks(["new\u00a0york"]) == [["new", "york"]]
    assert toks(["ﬁle ﬂow"]) == [["file", "flow"]]
    assert toks(["ＡＢＣ　ｄｅｆ"]) == [["abc", "def"]]  # full-width letters and ideographic space


def test_normalize_none_keeps_compatibility_characters() -> None:
    assert toks(["１２３ ﬁle"], normalize="none") == [["１２３", "ﬁle"]]


def test_accents_and_marks_stay_in_tokens() -> None:
    assert toks(["Café naïve Ångström"]) == [["café", "naïve", "ångström"]]
    assert toks(["cafe\u0301"], normalize="none") == [["cafe\u0301"]]


def test_lowercase_off() -> None:
    assert toks(["Hello World"], lowercase=False) == [["Hello", "World"]]


def test_empty_and_null_docs_are_empty_lists() -> None:
    assert toks(["", None, "   ", "!!! ---", "ok"]) == [[], [], [], [], ["ok"]]


def test_chinese_sentence_is_segmented() -> None:
    assert toks(["我来到北京清华大学"]) == [["我", "来到", "北京", "清华大学"]]


def test_mixed_chinese_english_keeps_ascii_runs_whole() -> None:
    out = toks(["我爱Python编程 和 machine learning 2024年"])[0]
    assert "python" in out and "machine" in out and "learning" in out
    assert "2024" in out
    assert all(t.strip() == t and t for t in out)  # no whitespace-only or padded tokens
    assert "".join(out) == "我爱python编程和machinelearning2024年"


def test_language_en_does_not_segment_han() -> None:
    assert toks(["我来到北京"], language="en") == [["我来到北京"]]


def test_language_zh_segments() -> None:
    assert toks(["我来到北京 ok"], language="zh") == [["我", "来到", "北京", "ok"]]


def test_mixed_batch_keeps_order() -> None:
    assert toks(["plain ascii", "我来到北京", "café au lait", None, "B"]) == [
        ["plain", "ascii"], ["我", "来到", "北京"], ["café", "au", "lait"], [], ["b"]
    ]


def test_stopwords_are_normalised_like_text(tmp_path: Path) -> None:
    assert toks(["The cat and the fish"], stopwords=["the", "and"]) == [["cat", "fish"]]
    assert toks(["a fish"], stopwords=["ﬁsh"]) == [["a"]]  # the stopword ﬁsh is NFKC-normalised to fish
    listing = tmp_path / "stop.txt"
    listing.write_text("# comment\nthe\n\ncat\n")
    assert toks(["the cat sat"], stopwords_file=str(listing)) == [["sat"]]


def test_custom_pattern() -> None:
    assert toks(["foo-bar baz_1"], pattern=r"[a-z]+") == [["foo", "bar", "baz"]]
    assert toks(["ab abc abcd"], pattern=r"\b\w{3,}\b") == [["abc", "abcd"]]


def test_invalid_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid RE2"):
        check_pattern("[unclosed")
    with pytest.raises(ConfigError, match="not a valid RE2"):
        check_pattern(r"(?<=look)behind")  # RE2 has no lookbehind


def test_empty_matching_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="matches the empty string"):
        check_pattern(r"\w*")


def test_stage_checks_pattern_before_work(store: ArtifactStore, tmp_path: Path) -> None:
    cfg, corpus = ingest_texts(store, tmp_path, ["a b"], config(tokenize={"pattern": r"x*"}))
    with pytest.raises(ConfigError):
        run(tokens, cfg, store, corpus=corpus)
    assert [a.stage for a in store.artifacts()] == ["ingest"]


def test_stage_writes_schema_and_figures(store: ArtifactStore, tmp_path: Path) -> None:
    cfg, corpus = ingest_texts(store, tmp_path, ["Hello world", "", "１２３"])
    art = run(tokens, cfg, store, corpus=corpus)
    table = art.read_table()
    assert table.schema == tokens.SCHEMA
    assert table.to_pylist() == [
        {"doc_id": "d0", "tokens": ["hello", "world"]},
        {"doc_id": "d1", "tokens": []},
        {"doc_id": "d2", "tokens": ["123"]},
    ]
    assert art.figures == {"rows": 3, "tokens": 3, "empty_docs": 1, "parts_reused": 0}


def _sample_texts(path: Path, rows: int) -> pa.Array:
    table = pq.read_table(path, columns=["text"]).slice(0, rows)
    return table["text"].combine_chunks()


@pytest.mark.parametrize("path", [FULL_CORPUS if FULL_CORPUS.exists() else SAMPLE])
def test_ascii_fast_path_equals_re2_path_on_real_corpus(path: Path) -> None:
    texts = _sample_texts(path, 64_000)
    normal = tokens._normalize(texts, DEFAULT)
    ascii_only = normal.filter(pc.string_is_ascii(normal))
    assert len(ascii_only) > 0.9 * len(texts)
    fast = tokens._ascii_findall(ascii_only)
    slow = tokens._findall(ascii_only, DEFAULT.pattern)
    assert fast.to_pylist() == slow.to_pylist()


def test_ascii_fast_path_edges_equal_re2_path() -> None:
    batch = ["ab", "cd", "", "e f", "!", "  x__y  ", "A1-b2", "tail_", "", "z"]
    texts = pa.array(batch * 3, pa.string()).slice(1, 25)  # a slice: non-zero array offset
    fast = tokens._ascii_findall(texts).to_pylist()
    assert fast == tokens._findall(texts, DEFAULT.pattern).to_pylist()
    assert fast[:6] == [["cd"], [], ["e", "f"], [], ["x__y"], ["A1", "b2"]]
    assert tokens._ascii_findall(pa.array(["", ""], pa.string())).to_pylist() == [[], []]
    assert tokens._ascii_findall(pa.array([], pa.string())).to_pylist() == []


def test_han_text_keeps_other_scripts_whole() -> None:
    # jieba alone cut accented Latin words at each non-ASCII letter (cédula -> c é dula)
    assert toks(["统一社会信用代码 cédula de identificación, Ångström"]) == [
        ["统一", "社会", "信用", "代码", "cédula", "de", "identificación", "ångström"]
    ]
    assert toks(["naïve我来到北京"]) == [["naïve", "我", "来到", "北京"]]
