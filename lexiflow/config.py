"""Validated configuration: YAML files overlaid in order, then `--set section.key=value` overrides.

Every section forbids unknown keys, so a typo is an error that names the file and key instead of a
silently ignored setting. A stage's cache key hashes its own section, so sections stay small and focused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration file or override that cannot be used, with where and why."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CorpusConfig(Section):
    path: str = "data/debian-sample.parquet"
    format: Literal["auto", "parquet", "jsonl", "csv", "txt", "lines"] = "auto"
    include: list[str] = Field(default_factory=list, description="glob patterns: only these files of a folder")
    id_column: str = "doc_id"
    text_column: str = "text"
    title_column: str = "title"
    label_column: str = "label"
    partition_rows: int = Field(20_000, gt=0)
    on_error: Literal["fail", "skip"] = "fail"
    duplicates: Literal["error", "keep_last"] = "error"


class RunConfig(Section):
    retries: int = Field(1, ge=0, description="Prefect retries of a failed stage task (transient errors)")
    retry_delay: float = Field(5.0, ge=0)


class StoreConfig(Section):
    root: str = "data/artifacts"
    ref: str = "default"


class DaskConfig(Section):
    address: str | None = None
    n_workers: int = Field(0, ge=0, description="0 means one worker per core")
    threads_per_worker: int = Field(1, gt=0)
    memory_limit: str = "4GiB"
    processes: bool = True


class TokenizeConfig(Section):
    language: Literal["auto", "en", "zh"] = "auto"
    pattern: str = r"[\pL\pN\pM_]+"
    lowercase: bool = True
    normalize: Literal["NFKC", "NFC", "none"] = "NFKC"
    stopwords: list[str] = Field(default_factory=list)
    stopwords_file: str | None = None
    jieba_dict: str | None = None


class VocabConfig(Section):
    min_count: int = Field(2, ge=1)
    min_df: int | float = Field(1, ge=0)
    max_df: int | float = Field(1.0, ge=0)
    max_size: int | None = Field(200_000, gt=0)

    @model_validator(mode="after")
    def _fractions(self) -> VocabConfig:
        for name in ("min_df", "max_df"):
            value = getattr(self, name)
            if isinstance(value, float) and value > 1.0:
                raise ValueError(f"{name}={value}: a float is a fraction of documents and must be <= 1.0")
        return self


class TfidfConfig(Section):
    smooth_idf: bool = True
    sublinear_tf: bool = False
    norm: Literal["l2", "l1", "none"] = "l2"


class Word2VecConfig(Section):
    model: Literal["skipgram", "cbow"] = "skipgram"
    vector_size: int = Field(100, gt=0)
    window: int = Field(5, gt=0)
    min_count: int = Field(5, ge=1)
    sample: float = Field(1e-3, ge=0)
    negative: int = Field(5, ge=0)
    hs: bool = False
    ns_exponent: float = 0.75
    cbow_mean: bool = True
    alpha: float = Field(0.025, gt=0)
    min_alpha: float = Field(0.0001, ge=0)
    epochs: int = Field(5, gt=0)
    workers: int = Field(0, ge=0, description="0 means one per core")
    seed: int = 1

    @model_validator(mode="after")
    def _objective(self) -> Word2VecConfig:
        if self.negative == 0 and not self.hs:
            raise ValueError("negative=0 with hs=false leaves no training objective; set negative>0 or hs=true")
        return self


def parse_bytes(text: str) -> int:
    """`512MiB`, `2GB`, `1.5GiB` or a plain number of bytes, as dask writes memory limits."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*", text, re.I)
    if not match:
        raise ValueError(f"{text!r}: expected a size such as 512MiB, 2GB or 1.5GiB")
    unit = (match[2] or "B").upper()
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}[unit]
    return int(float(match[1]) * scale)


class CoocConfig(Section):
    scope: Literal["window", "document"] = "window"
    window: int = Field(10, ge=1, le=20, description="<= 20 keeps harmonic sums exact in int64")
    symmetric: bool = True
    weighting: Literal["harmonic", "none"] = "harmonic"
    memory_limit: str = "1GiB"

    @model_validator(mode="after")
    def _memory(self) -> CoocConfig:
        if parse_bytes(self.memory_limit) < 2**24:
            raise ValueError(f"memory_limit={self.memory_limit!r}: at least 16MiB is needed")
        return self


class GloveConfig(Section):
    vector_size: int = Field(100, gt=0)
    x_max: float = Field(10.0, gt=0)
    alpha: float = Field(0.75, gt=0, le=1)
    learning_rate: float = Field(0.05, gt=0)
    epochs: int = Field(25, gt=0)
    grad_clip: float = Field(100.0, gt=0)
    output: Literal["sum", "word", "concat"] = "sum"
    workers: int = Field(0, ge=0, description="0 means one per core")
    seed: int = 1


class NnlmConfig(Section):
    context: int = Field(4, ge=1, description="n previous words predict the next")
    vector_size: int = Field(100, gt=0)
    combine: Literal["sum", "concat"] = "concat"
    hidden: int = Field(0, ge=0, description="0: no hidden layer (log-bilinear); else a tanh layer of this size")
    softmax: Literal["sampled", "full"] = "sampled"
    samples: int = Field(256, gt=0, description="negatives per batch for the sampled softmax")
    epochs: int = Field(1, gt=0)
    batch_size: int = Field(2048, gt=0)
    learning_rate: float = Field(2e-3, gt=0)
    workers: int = Field(0, ge=0, description="torch threads; 0 means one per core")
    seed: int = 1


class EvaluateConfig(Section):
    restrict_vocab: int = Field(30_000, gt=0, description="analogy answers among the most frequent words")
    case_insensitive: bool = True


class EmbeddingsConfig(Section):
    """Which word-vector models a build trains (each followed by its `eval_*` stage)."""

    models: list[Literal["word2vec", "word2vec_cbow", "glove", "nnlm"]] = Field(default_factory=lambda: ["word2vec"])
    evaluate: bool = False


class LsaConfig(Section):
    dim: int = Field(128, gt=0)
    oversample: int = Field(16, ge=0)
    power_iters: int = Field(4, ge=0)
    batch_rows: int = Field(20_000, gt=0)
    seed: int = 0


ENCODERS = ("lsa", "autoencoder", "denoising", "vae")
EncoderName = Literal["lsa", "autoencoder", "denoising", "vae"]


class EncoderConfig(Section):
    """Document encoders over TF-IDF restricted to the most frequent terms (issue 4).

    `build` only chooses which encoder stages a full `lexiflow run` builds; it is left out of their cache keys.
    """

    build: list[EncoderName] = Field(default_factory=list)
    input_vocab: int = Field(2000, gt=1, description="the most frequent terms (by count) the encoders see")
    code_size: int = Field(32, gt=0)
    hidden: list[int] = Field(default_factory=lambda: [500, 250, 125], description="encoder layer sizes")
    activation: Literal["relu", "gelu", "tanh"] = "gelu"
    center: bool = Field(False, description="lsa only: centre the input (PCA) instead of plain truncated SVD")
    noise_rate: float = Field(0.3, ge=0.0, lt=1.0, description="denoising: fraction of input terms masked")
    kl_weight: float = Field(1.0, ge=0.0, description="vae: weight of the KL term after warm-up")
    kl_warmup_epochs: int = Field(2, ge=0, description="vae: epochs over which the KL weight ramps up from 0")
    batch_size: int = Field(256, gt=0)
    read_rows: int = Field(8192, gt=0, description="rows read from the artifact per Parquet batch")
    shuffle_rows: int = Field(32768, gt=0, description="shuffle buffer: rows mixed before cutting batches")
    max_epochs: int = Field(20, gt=0)
    patience: int = Field(2, ge=0, description="epochs without held-out improvement before stopping")
    min_delta: float = Field(1e-3, ge=0.0, description="relative held-out loss improvement that counts")
    holdout: float = Field(0.05, gt=0.0, lt=0.5, description="fraction of documents held out for early stopping")
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_train_rows: int | None = Field(None, gt=0, description="stop an epoch after this many training rows")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, description="torch threads; 0 means one per core")
    dead_unit_ratio: float = Field(0.01, gt=0.0, lt=1.0, description="a code unit whose std is below this "
                                   "fraction of the largest unit's std is dead")
    max_dead_fraction: float = Field(0.5, gt=0.0, le=1.0, description="more dead units than this: collapse")
    max_mean_cosine: float = Field(0.99, gt=0.0, le=1.0, description="mean cosine between distinct documents' "
                                   "codes above this: collapse")


class IndexConfig(Section):
    kind: str = Field("auto", min_length=1, description="auto | flat | hnsw | ivf | ivfpq | a faiss factory string")
    batch_rows: int = Field(50_000, gt=0)
    memory_mb: int = Field(4096, gt=0, description="auto: memory the index may take")
    flat_max: int = Field(20_000, ge=0, description="auto: exact search up to this many vectors")
    hnsw_m: int = Field(32, ge=4)
    nlist: int | None = Field(None, gt=0, description="IVF lists; None: ~4*sqrt(n)")
    pq_m: int | None = Field(None, gt=0, description="PQ sub-quantizers; None: 4 dimensions each")
    nprobe: int | None = Field(None, gt=0, description="starting nprobe; raised until min_recall holds")
    ef_search: int | None = Field(None, gt=0, description="starting efSearch; raised until min_recall holds")
    min_recall: float = Field(0.95, gt=0, le=1)
    recall_queries: int = Field(500, gt=0, description="sample queries for measuring recall@10 and latency")
    seed: int = 0


class ClusterConfig(Section):
    """Clustering of document codes (`cluster`) or word vectors (`word_cluster`), rows at unit length."""

    methods: list[Literal["kmeans", "hac", "spectral"]] = Field(default_factory=lambda: ["kmeans", "hac", "spectral"])
    k: int | None = Field(None, gt=1, description="clusters; None: the k_choices entry of highest silhouette")
    k_choices: list[int] = Field(default_factory=lambda: [5, 10, 20, 40])
    restarts: int = Field(5, gt=0, description="k-means runs; the one of lowest error is kept (faiss nredo)")
    iterations: int = Field(25, gt=0)
    linkage: Literal["ward", "average", "complete"] = "ward"
    hac_max_rows: int = Field(5000, gt=1, description="hierarchical clustering on the rows up to this many")
    hac_leaves: int = Field(1000, gt=1, description="beyond hac_max_rows: on this many k-means centroids")
    spectral_neighbors: int = Field(15, gt=0)
    spectral_regularization: float = Field(1.0, ge=0, description="all-pairs weight, a multiple of the mean degree")
    spectral_max_rows: int = Field(100_000, gt=1, description="beyond: spectral on a random sample this size")
    max_rows: int | None = Field(None, gt=1, description="cluster only the first rows (words: the most frequent)")
    min_label_docs: int = Field(50, ge=1, description="NMI/ARI: labels with fewer documents are left out")
    top_terms: int = Field(10, gt=0)
    seed: int = 0


class MapConfig(Section):
    """2-D maps of document codes (`map`) or word vectors (`word_map`)."""

    methods: list[Literal["tsne", "lle", "laplacian"]] = Field(default_factory=lambda: ["tsne", "lle", "laplacian"])
    tsne_max_rows: int = Field(100_000, gt=2, description="larger inputs: a sample of this many rows")
    lle_max_rows: int = Field(5000, gt=2)
    laplacian_max_rows: int = Field(20_000, gt=2)
    pca_dim: int = Field(50, gt=1, description="t-SNE and LLE run on this many principal components")
    perplexity: float = Field(30.0, gt=0)
    neighbors: int = Field(10, gt=1, description="LLE and Laplacian eigenmap neighbours")
    threads: int = Field(0, ge=0, description="0 means one per core")
    seed: int = 0


class ExploreConfig(Section):
    """Which exploration stages a full build runs, and whether it writes the report at the end."""

    stages: list[Literal["cluster", "word_cluster", "map", "word_map"]] = Field(
        default_factory=lambda: ["cluster", "word_cluster", "map", "word_map"])
    report: bool = True
    map_words: int = Field(150, ge=0, description="report: the most frequent words labelled on the word map")
    retrieval: str | None = Field(None, description="report: a retrieval.json from `lexiflow eval retrieval`")


class QueryConfig(Section):
    k: int = Field(10, gt=0)
    max_k: int = Field(1000, gt=0)
    rerank: int = Field(200, ge=0, description="LSA and exact TF-IDF top candidates blended; 0: LSA alone")
    rerank_weight: float = Field(0.3, ge=0.0, le=1.0, description="weight of the LSA score in the blend")
    max_query_chars: int = Field(1000, gt=0, description="longest query text the service accepts")
    snippet_chars: int = Field(200, ge=0)
    search_threads: int = Field(1, gt=0, description="faiss OpenMP threads per search in the service")


class RetrainConfig(Section):
    refit: bool = Field(False, description="refit TF-IDF, LSA and the encoders over the union, else encode the delta")


class Config(Section):
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    dask: DaskConfig = Field(default_factory=DaskConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    vocab: VocabConfig = Field(default_factory=VocabConfig)
    tfidf: TfidfConfig = Field(default_factory=TfidfConfig)
    word2vec: Word2VecConfig = Field(default_factory=Word2VecConfig)
    word2vec_cbow: Word2VecConfig = Field(default_factory=lambda: Word2VecConfig(model="cbow"))
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    nnlm: NnlmConfig = Field(default_factory=NnlmConfig)
    cooc: CoocConfig = Field(default_factory=CoocConfig)
    glove: GloveConfig = Field(default_factory=GloveConfig)
    lsa: LsaConfig = Field(default_factory=LsaConfig)
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    # word classes: a fixed 50 (silhouette over word vectors prefers the smallest k on offer: 5 broad classes)
    word_cluster: ClusterConfig = Field(default_factory=lambda: ClusterConfig(max_rows=10_000, k=50))
    map: MapConfig = Field(default_factory=MapConfig)
    word_map: MapConfig = Field(default_factory=lambda: MapConfig(tsne_max_rows=5000, laplacian_max_rows=5000))
    explore: ExploreConfig = Field(default_factory=ExploreConfig)
    query: QueryConfig = Field(default_factory=QueryConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)


DEFAULT_CONFIG = Path("conf/default.yaml")


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top, got {type(data).__name__}")
    return data


_OVERRIDE = re.compile(r"^(?P<key>[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+)=(?P<value>.*)$", re.S)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`section.key=value` with the value read as YAML, so numbers, booleans and lists keep their type."""
    match = _OVERRIDE.match(text)
    if not match:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. vocab.min_count=10")
    raw = match["value"]
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return match["key"].split("."), value


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return out


def _describe(errors: ValidationError, origin: dict[tuple[str, ...], str], data: dict[str, Any]) -> str:
    lines = []
    for err in errors.errors():
        loc = tuple(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        where = next((origin[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origin), None)
        if where is None:  # an unknown section set only through a deeper key (`--set foo.bar=1`)
            where = next((src for keys, src in origin.items() if keys[: len(loc)] == loc), "defaults")
        value: Any = data
        for part in loc:
            value = value.get(part) if isinstance(value, dict) else None
        key = ".".join(loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see conf/default.yaml for every key)"
        lines.append(f"{where}: {key} = {value!r}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_config(
    paths: list[str | os.PathLike[str]] | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> Config:
    """Overlay config files in order, then overrides, on `base` (a recorded config) or the defaults.

    Validation errors name the file (or `--set`), key, value and why.
    """
    data: dict[str, Any] = dict(base or {})
    origin: dict[tuple[str, ...], str] = {}
    for raw_path in paths or []:
        path = Path(raw_path)
        layer = _read_yaml(path)
        for section, body in layer.items():
            origin[(str(section),)] = str(path)
            if isinstance(body, dict):
                for key in body:
                    origin[(str(section), str(key))] = str(path)
        data = _merge(data, layer)
    for text in overrides or []:
        keys, value = parse_override(text)
        origin[tuple(keys)] = f"--set {text}"
        data = _merge(data, _nest(keys, value))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin, data)) from None


def section_dump(section: BaseModel) -> dict[str, Any]:
    """The plain, JSON-able form of a section: what a stage's cache key and manifest record."""
    return section.model_dump(mode="json")
