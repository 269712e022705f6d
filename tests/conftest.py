"""Shared fixtures: a temp artifact store, and a temporary Prefect API for the flow tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
