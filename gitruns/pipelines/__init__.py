"""Pipeline runs: a multi-step workflow recorded as one run with a record per step.

:mod:`.plan` is what a pipeline is (steps, their files, values and params), read
from ``gitruns.yaml`` (:mod:`.definition`), ``dvc.yaml`` (:mod:`.dvcfile`) or
Python (:mod:`.pyapi`); :mod:`.graph` orders it; :mod:`.engine` runs it as one run,
a commit per step start and end; :mod:`.stepcache` reuses identical earlier steps.
"""
