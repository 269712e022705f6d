"""64-bit hashes of string columns: compact fingerprints for id and content comparisons at corpus scale."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def hash_strings(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_array(np.asarray(values.to_numpy(zero_copy_only=False), dtype=object))
