"""gitruns: every run a commit on refs/runs/<id> in your own repository.

From code::

    import gitruns
    gitruns.log_metric("loss", 0.3, step=10)
    gitruns.log_params(lr=0.1)
    gitruns.log_artifact("model.pt")

and to read runs back (see docs/python.md)::

    gitruns.runs(status="succeeded").to_pandas()
    run = gitruns.load("01jd3k")
    gitruns.compare(a, b), gitruns.logs(run.id)
"""
from __future__ import annotations

from ._version import __version__
from .api import config_path, log_artifact, log_metric, log_metrics, log_params, run_id, start_run

TYPE_CHECKING = False  # not `from typing import ...`: typing alone costs a training script ~10 ms

# The read side needs pygit2 and more: imported on first use, so that
# `import gitruns` in a training script stays cheap (module __getattr__, PEP 562).
_LAZY = {
    "runs": "reading", "load": "reading", "compare": "reading", "logs": "reading",
    "Run": "reading", "RunList": "reading", "Artifact": "reading", "Artifacts": "reading",
    "Code": "reading", "Input": "reading",
    "GitrunsError": "errors", "UsageError": "errors", "UnknownRun": "errors", "AmbiguousRun": "errors",
    "RecordError": "errors", "GitrunsWarning": "warn",
    "push": "sharing", "fetch": "sharing", "pull": "sharing", "PushResult": "sharing", "FetchResult": "sharing",
    "pipeline": "pipelines.engine",
    "rerun": "rerunning", "RerunOptions": "rerunning", "RerunOutcome": "rerunning",
    "export": "exporting", "ExportResult": "exporting",
    "lineage": "lineagegraph", "Lineage": "lineagegraph", "which": "provenance", "Which": "provenance",
    "promote": "promoting", "PromoteResult": "promoting", "verify": "verifying", "VerifyResult": "verifying",
    "retire": "retiring", "RetireResult": "retiring",
    "resume": "pipelines.resume", "ResumeOptions": "pipelines.resume",
    # Pipelines from Python (@gitruns.step, gitruns.Pipeline): nothing of them until used.
    "step": "pipelines.pyapi", "Pipeline": "pipelines.pyapi", "serializer": "pipelines.pyapi",
    "PipelineResult": "pipelines.pyapi", "StepResult": "pipelines.pyapi",
}

__all__ = [
    "config_path", "log_artifact", "log_metric", "log_metrics", "log_params", "run_id", "start_run",
    "runs", "load", "compare", "logs", "Run", "RunList", "Artifact", "Artifacts", "Code", "Input",
    "GitrunsError", "UsageError", "UnknownRun", "AmbiguousRun", "RecordError", "GitrunsWarning",
    "push", "fetch", "pull", "PushResult", "FetchResult", "pipeline", "rerun", "RerunOptions", "RerunOutcome",
    "resume", "ResumeOptions", "export", "ExportResult", "lineage", "Lineage", "which", "Which",
    "promote", "PromoteResult", "verify", "VerifyResult", "retire", "RetireResult",
    "step", "Pipeline", "serializer", "PipelineResult", "StepResult",
    "__version__",
]

if TYPE_CHECKING:
    from typing import Any

    from .errors import AmbiguousRun, GitrunsError, RecordError, UnknownRun, UsageError
    from .exporting import ExportResult, export
    from .lineagegraph import Lineage, lineage
    from .pipelines.engine import pipeline
    from .pipelines.pyapi import Pipeline, PipelineResult, StepResult, serializer, step
    from .pipelines.resume import ResumeOptions, resume
    from .promoting import PromoteResult, promote
    from .provenance import Which, which
    from .reading import Artifact, Artifacts, Code, Input, Run, RunList, compare, load, logs, runs
    from .rerunning import RerunOptions, RerunOutcome, rerun
    from .retiring import RetireResult, retire
    from .sharing import FetchResult, PushResult, fetch, pull, push
    from .verifying import VerifyResult, verify
    from .warn import GitrunsWarning


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gitruns' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
