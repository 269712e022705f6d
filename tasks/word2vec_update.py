"""word2vec continued on a retrain's added documents, from the base build's model (gensim online update).

The output is an ordinary word2vec artifact keyed to the retrain's vocab, so the word index and the query
path take it unchanged. When the added documents bring no word that reaches min_count, the base model
stands and only its vectors are re-keyed to the new vocab.
"""

from __future__ import annotations

from typing import Any

from lexiflow.config import Word2VecConfig
from lexiflow.store import Artifact, ArtifactWriter
from tasks import word2vec

NAME = "word2vec"
VERSION = 1
SECTION = "word2vec"
USES_DASK = False


def build(cfg: Word2VecConfig, out: ArtifactWriter, *, previous: Artifact, tokens: Artifact,
          vocab: Artifact) -> dict[str, Any]:
    from gensim.models import Word2Vec

    result = word2vec.update(previous, tokens, out, min_count=cfg.min_count, epochs=cfg.epochs, vocab=vocab)
    figures = {**result.figures, "updated": result.changed, "message": result.message}
    if not result.changed:
        model = Word2Vec.load(previous.file(word2vec.MODEL_FILE))
        figures["rows"] = word2vec.write_model_vectors(model, out, vocab.read_table(columns=["term_id", "term"]))
        model.save(out.local_path(word2vec.MODEL_FILE))
    return figures
