"""gitruns: every run a commit on refs/runs/<id> in your own repository.

From code::

    import gitruns
    gitruns.log_metric("loss", 0.3, step=10)
    gitruns.log_params(lr=0.1)
    gitruns.log_artifact("model.pt")
"""
from __future__ import annotations

from ._version import __version__
from .api import config_path, log_artifact, log_metric, log_metrics, log_params, run_id, start_run

__all__ = [
    "config_path", "log_artifact", "log_metric", "log_metrics", "log_params", "run_id", "start_run",
    "__version__",
]
