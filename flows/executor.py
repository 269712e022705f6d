"""The one cached executor every stage runs through.

It keys the stage's output by (stage, version, config section, input keys), returns the published
artifact when the key exists, and otherwise runs `build` into a temp folder and publishes it with its
manifest. A failing build leaves nothing at the published location.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq

import lexiflow
from lexiflow.config import Config, section_dump
from lexiflow.store import Artifact, ArtifactStore, artifact_key

log = logging.getLogger("lexiflow.executor")


@dataclass(frozen=True)
class StageSpec:
    """A stage in the build graph: its store name, its module, and which upstream stage feeds each input."""

    name: str
    module: ModuleType
    inputs: dict[str, str] = field(default_factory=dict)
    section_name: str | None = None  # a config section other than the module's (two word2vec models)

    def section(self, cfg: Config) -> Any:
        name = self.section_name or self.module.SECTION
        return getattr(cfg, name) if name else None

    def config_json(self, cfg: Config) -> dict[str, Any]:
        """The section as the cache key sees it; a stage may keep only the keys it uses (`cache_config`)."""
        section = self.section(cfg)
        data = section_dump(section) if section is not None else {}
        select = getattr(self.module, "cache_config", None)
        return select(data) if select is not None else data

    def key_config(self, cfg: Config) -> dict[str, Any]:
        """The config that keys the output: settings that only say where input is (it is keyed by content) drop out."""
        ignored = getattr(self.module, "KEY_IGNORES", ())
        return {k: v for k, v in self.config_json(cfg).items() if k not in ignored}


def _schema_of(artifact_parts: list[str]) -> tuple[str, list[str]]:
    if not artifact_parts:
        return "", []
    import fsspec

    fs, path = fsspec.core.url_to_fs(artifact_parts[0])
    schema = pq.read_schema(path, filesystem=fs)
    return schema.to_string(show_schema_metadata=False), schema.names


def run_stage(
    spec: StageSpec,
    cfg: Config,
    store: ArtifactStore,
    inputs: dict[str, Artifact],
    *,
    source: Any = None,
    cluster: Any = None,
) -> Artifact:
    """Return the artifact for this stage and these inputs, building and publishing it if missing."""
    input_keys = {name: a.key for name, a in inputs.items()}
    if source is not None:
        input_keys["source"] = source.fingerprint
    config_json = spec.config_json(cfg)
    key = artifact_key(spec.name, spec.module.VERSION, spec.key_config(cfg), input_keys)
    existing = store.get(spec.name, key)
    if existing is not None:
        log.info("%s: cached %s (%s rows)", spec.name, key, existing.num_rows)
        return existing
    if cluster is not None and spec.module.USES_DASK:
        cluster.ensure()
    writer = store.writer(spec.name, key)
    started = time.time()
    kwargs: dict[str, Any] = dict(inputs)
    if source is not None:
        kwargs["source"] = source
    try:
        figures = spec.module.build(spec.section(cfg), writer, **kwargs)
        elapsed = time.time() - started
        parts = Artifact(spec.name, key, writer.url, {}).parts()
        schema, names = _schema_of(parts)
        manifest = {
            "stage": spec.name,
            "module": spec.module.NAME,
            "version": spec.module.VERSION,
            "key": key,
            "config": config_json,
            "inputs": input_keys,
            "rows": int(figures.get("rows", 0)),
            "parts": len(parts),
            "schema": schema,
            "schema_names": names,
            "figures": figures,
            "timings": {"seconds": round(elapsed, 3), "started": started, "finished": time.time()},
            "lexiflow": lexiflow.__version__,
            "python": platform.python_version(),
        }
        artifact = store.publish(writer, manifest)
    except BaseException:
        store.abort(writer)
        raise
    shown = {k: v for k, v in figures.items() if not isinstance(v, list | dict)}
    log.info("%s: built %s in %.2fs %s", spec.name, key, elapsed, shown)
    return artifact
