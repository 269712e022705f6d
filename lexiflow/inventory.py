"""What the store holds: listings with sizes, one manifest, and garbage collection of what no ref reaches."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lexiflow.store import Artifact, ArtifactStore


@dataclass(frozen=True)
class Entry:
    artifact: Artifact
    bytes: int
    refs: tuple[str, ...]


def reachable(store: ArtifactStore, refs: list[str] | None = None) -> dict[tuple[str, str], list[str]]:
    """(stage, key) -> names of the refs (all, or the ones given) that point at it."""
    out: dict[tuple[str, str], list[str]] = {}
    for name in refs if refs is not None else store.refs():
        ref = store.read_ref(name)
        for role, key in ref["artifacts"].items():
            out.setdefault((ref.get("stages", {}).get(role, role), key), []).append(name)
    return out


def entries(store: ArtifactStore) -> list[Entry]:
    roots = reachable(store)
    return [
        Entry(a, store.size(a), tuple(roots.get((a.stage, a.key), [])))
        for a in store.artifacts()
    ]


def find(store: ArtifactStore, key: str) -> Artifact:
    """The artifact whose key starts with `key` (or `stage/key`); ambiguity or absence is an error."""
    stage, _, prefix = key.rpartition("/")
    found = [a for a in store.artifacts() if a.key.startswith(prefix) and (not stage or a.stage == stage)]
    if not found:
        raise FileNotFoundError(f"no artifact with key {key!r} under {store.root}")
    if len(found) > 1:
        names = ", ".join(f"{a.stage}/{a.key}" for a in found[:5])
        raise ValueError(f"key {key!r} is ambiguous ({names}); give more characters or stage/key")
    return found[0]


@dataclass(frozen=True)
class GcResult:
    removed: list[Entry]
    kept: int
    temp_removed: list[str]


def gc(store: ArtifactStore, keep_refs: list[str] | None = None, min_age: float = 3600.0,
       dry_run: bool = False) -> GcResult:
    """Remove artifacts no kept ref reaches, and stale temp folders.

    Anything younger than `min_age` seconds is spared: a build still running has published artifacts that
    no ref names yet, and its temp folders are in use.
    """
    roots = reachable(store, keep_refs)
    now = time.time()
    removed, kept = [], 0
    for a in list(store.artifacts()):
        finished = float(a.manifest.get("timings", {}).get("finished", 0.0))
        if (a.stage, a.key) in roots or now - finished < min_age:
            kept += 1
            continue
        entry = Entry(a, store.size(a), ())
        if not dry_run:
            store.remove(a)
        removed.append(entry)
    temps = [path for path, mtime in store.temp_folders() if now - mtime >= min_age]
    if not dry_run:
        for path in temps:
            store.remove_temp(path)
    return GcResult(removed, kept, temps)
