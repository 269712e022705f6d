"""Shared fixtures: a temp store, a temporary Prefect API, a small real build, and a live service on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_util import LiveServer, build_store, corpus_slice

from lexiflow.store import ArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


@pytest.fixture(scope="session")
def prefect_harness() -> Any:
    """A temporary Prefect API for flow runs (started once per session; only flow tests pay for it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose ref `default` names a build of the first 800 sample documents."""
    root = tmp_path_factory.mktemp("store")
    corpus = corpus_slice(root.parent / "small.parquet", 0, 800)
    build_store(root / "artifacts", corpus)
    return root / "artifacts"


@pytest.fixture
def live_server(small_store: Path) -> Iterator[LiveServer]:
    from lexiflow.service import create_app

    with LiveServer(create_app(str(small_store))) as server:
        yield server
