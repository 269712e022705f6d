"""Word-vector evaluation on the standard sets shipped inside gensim (no downloads).

Google analogies by 3CosAdd among the `restrict_vocab` most frequent words (vectors are stored in
frequency order, so this is a prefix), with questions that touch an out-of-vocabulary word counted and
reported rather than hidden; WordSim-353 and SimLex-999 by Spearman's rho over the pairs both words of
which are known. gensim's own evaluators do the arithmetic, so figures compare with published ones.
"""

from __future__ import annotations

import logging
from typing import Any

from lexiflow.config import EvaluateConfig
from lexiflow.store import Artifact, ArtifactWriter
from lexiflow.vectors import WordVectors, load_vectors

NAME = "eval"
VERSION = 1
SECTION = "evaluate"
USES_DASK = False

ANALOGIES = "questions-words.txt"
WORDSIM = "wordsim353.tsv"
SIMLEX = "simlex999.txt"

log = logging.getLogger(__name__)


def keyed_vectors(wv: WordVectors) -> Any:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.terms, wv.vectors)
    return kv


def _count_questions(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip() and not line.startswith(":"))


def evaluate(wv: WordVectors, cfg: EvaluateConfig) -> dict[str, Any]:
    """Analogy accuracy (of answered) and OOV share, and the two similarity Spearman rhos."""
    from gensim.test.utils import datapath

    kv = keyed_vectors(wv)
    gensim_log = logging.getLogger("gensim")
    level = gensim_log.level
    gensim_log.setLevel(logging.WARNING)
    try:
        accuracy, sections = kv.evaluate_word_analogies(
            datapath(ANALOGIES), restrict_vocab=cfg.restrict_vocab, case_insensitive=cfg.case_insensitive
        )
        total = next(s for s in sections if s["section"] == "Total accuracy")
        answered = len(total["correct"]) + len(total["incorrect"])
        questions = _count_questions(datapath(ANALOGIES))
        figures: dict[str, Any] = {
            "analogy_accuracy": round(float(accuracy), 4),
            "analogy_correct": len(total["correct"]),
            "analogy_answered": answered,
            "analogy_questions": questions,
            "analogy_oov": questions - answered,
            "analogy_oov_ratio": round((questions - answered) / questions, 4),
        }
        for name, path in (("wordsim353", WORDSIM), ("simlex999", SIMLEX)):
            try:
                _, spearman, oov = kv.evaluate_word_pairs(
                    datapath(path), restrict_vocab=len(wv.terms), case_insensitive=cfg.case_insensitive
                )
            except ValueError:  # every pair out of vocabulary: no correlation to report
                figures[f"{name}_spearman"], figures[f"{name}_oov_ratio"] = None, 1.0
                continue
            figures[f"{name}_spearman"] = round(float(spearman.statistic), 4)
            figures[f"{name}_oov_ratio"] = round(float(oov) / 100, 4)
    finally:
        gensim_log.setLevel(level)
    return figures


def build(cfg: EvaluateConfig, out: ArtifactWriter, *, vectors: Artifact) -> dict[str, Any]:
    figures = evaluate(load_vectors(vectors), cfg)
    figures.update({"model": vectors.stage, "vectors_key": vectors.key, "rows": 0})
    out.write("metrics.parquet", _as_table(figures))
    log.info("eval %s: %s", vectors.stage, figures)
    return figures


def _as_table(figures: dict[str, Any]) -> Any:
    import pyarrow as pa

    return pa.table({k: [v] for k, v in figures.items()})


COLUMNS = [
    ("model", "model", "{}"),
    ("analogy_accuracy", "analogy", "{:.2%}"),
    ("analogy_oov_ratio", "analogy OOV", "{:.1%}"),
    ("wordsim353_spearman", "WS-353 ρ", "{:.3f}"),
    ("simlex999_spearman", "SimLex ρ", "{:.3f}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    """One Markdown table comparing the models of a build."""
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "| " + " | ".join("---" for _ in COLUMNS) + " |"
    body = ["| " + " | ".join("n/a" if r.get(key) is None else fmt.format(r[key]) for key, _, fmt in COLUMNS) + " |"
            for r in rows]
    return "\n".join([head, rule, *body])
