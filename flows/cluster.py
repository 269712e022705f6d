"""The Dask client a build's data-parallel stages run on, started only when a stage needs computing.

A fully cached build never pays for starting a cluster. With `dask.address` set the same stages run on
that scheduler unchanged; otherwise a LocalCluster of one single-threaded worker process per core.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lexiflow.config import DaskConfig

log = logging.getLogger("lexiflow.cluster")


class LazyCluster:
    def __init__(self, cfg: DaskConfig) -> None:
        self.cfg = cfg
        self.client: Any = None
        self.cluster: Any = None

    def ensure(self) -> Any:
        if self.client is not None:
            return self.client
        from distributed import Client, LocalCluster

        logging.getLogger("distributed").setLevel(logging.WARNING)

        if self.cfg.address:
            self.client = Client(self.cfg.address, set_as_default=True)
            log.info("dask: joined scheduler %s", self.cfg.address)
        else:
            workers = self.cfg.n_workers or os.cpu_count() or 1
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=self.cfg.threads_per_worker,
                memory_limit=self.cfg.memory_limit,
                processes=self.cfg.processes,
                # Loopback for worker processes; in-process workers take no host (inproc transport).
                **({"host": "127.0.0.1"} if self.cfg.processes else {}),
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self.client = Client(self.cluster, set_as_default=True)
            log.info("dask: local cluster of %d worker(s), %s each", workers, self.cfg.memory_limit)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None
