"""Run a stage's per-partition function over its partitions: on the Dask cluster when one is active.

Tasks receive plain values (paths, keys, small dicts), never live objects, so they run the same on a
LocalCluster, on a remote scheduler, or in-process when a stage is called directly in a test.
Dask is imported lazily: the query path imports stage transforms but must never import Dask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

log = logging.getLogger("lexiflow.progress")

T = TypeVar("T")


def active_client() -> Any | None:
    """The distributed client the flow set up, if any."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a hard dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


class Progress:
    """Rate and ETA lines for long stages, at most one every `every` seconds (and always the last)."""

    DEFAULT_EVERY = 2.0  # a bench or test may lower it to see every update

    def __init__(self, label: str, total: int, unit: str = "partitions", every: float | None = None) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.every = self.DEFAULT_EVERY if every is None else every
        self.start = self.last = time.monotonic()
        self.done = 0
        self.rows = 0

    def update(self, parts: int = 1, rows: int = 0) -> None:
        self.done += parts
        self.rows += rows
        now = time.monotonic()
        if now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        log.info(
            "%s: %d/%d %s, %d rows, %.0f rows/s, eta %.0fs",
            self.label, self.done, self.total, self.unit, self.rows, self.rows / elapsed, eta,
        )


def track(
    items: Iterable[T], label: str, total: int, unit: str = "rows", size: Callable[[T], int] = len
) -> Iterator[T]:
    """Yield `items` unchanged, logging progress by `size(item)` against `total` (batches of rows, vectors)."""
    progress = Progress(label, total, unit=unit)
    for item in items:
        yield item
        n = size(item)
        progress.update(parts=n, rows=n)


def _rows_of(result: Any) -> int:
    if isinstance(result, dict):
        return int(result.get("rows", 0))
    return 0


def _completed(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], label: str) -> Iterator[tuple[int, T]]:
    """(position in `calls`, fn(*args)) as each finishes, on the cluster when there is one; logs progress."""
    progress = Progress(label, len(calls))
    client = active_client()
    if client is None or not calls:
        for i, args in enumerate(calls):
            result = fn(*args)
            progress.update(rows=_rows_of(result))
            yield i, result
        return
    from distributed import KilledWorker, as_completed

    limit = _memory_limit(client)  # asked now: after a kill the worker may still be restarting
    futures = [client.submit(fn, *args, pure=False) for args in calls]
    order = {f.key: i for i, f in enumerate(futures)}
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except KilledWorker as exc:
                raise WorkerKilled(_killed_message(limit, label, calls[order[future.key]])) from exc
            future.release()  # the worker may drop it: the driver holds what it needs
            progress.update(rows=_rows_of(result))
            yield order[future.key], result
    finally:
        for future in futures:
            future.release()


def map_parts(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], label: str) -> list[T]:
    """`[fn(*args) for args in calls]`, in order, on the cluster when there is one; logs progress."""
    out: list[Any] = [None] * len(calls)
    for i, result in _completed(fn, calls, label):
        out[i] = result
    return out


def fold_parts(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], label: str,
               fold: Callable[[list[T]], T], width: int = 8) -> T:
    """fn over every call, folded `width` results at a time as they arrive (in any order, so `fold` must be
    commutative): the driver holds at most width + 1 partial results, however many partitions there are."""
    pending: list[T] = []
    for _, result in _completed(fn, calls, label):
        pending.append(result)
        if len(pending) > width:
            pending = [fold(pending)]
    if not pending:
        raise ValueError(f"{label}: nothing to fold")
    return fold(pending) if len(pending) > 1 else pending[0]


class WorkerKilled(RuntimeError):
    """A partition task outlived every worker it ran on: the stage stops instead of waiting for ever."""


def _memory_limit(client: Any) -> str:
    from dask.utils import format_bytes

    limits = {w.get("memory_limit") for w in client.scheduler_info().get("workers", {}).values()}
    return ", ".join(format_bytes(x) for x in sorted(x for x in limits if x)) or "none"


def _killed_message(limit: str, label: str, args: tuple[Any, ...]) -> str:
    what = next((a for a in args if isinstance(a, str)), None)  # a partition's path, when the task has one
    return (f"{label}: a task{f' ({what})' if what else ''} killed every worker that ran it — most likely it "
            f"needed more than the per-worker memory limit (dask.memory_limit, now {limit}); raise "
            f"dask.memory_limit, or lower corpus.partition_rows so each partition needs less")
