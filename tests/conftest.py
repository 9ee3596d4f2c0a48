"""Shared test set-up: the repo root is importable (``import search``, ``import verifiers``), and
torch runs on one thread so results are bit-identical whatever the batch size."""
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

torch.set_num_threads(1)
