"""Which real parts (programs, servers, mounts, libraries) a test needs, and whether
this run requires them.

A missing part skips its tests on a developer's machine; ``GITRUNS_TEST_REQUIRE``
(``.ci/run`` sets it) names the parts that must be here, which turns the skip into a
failure.  It is read once, at import: the isolation fixture in conftest clears every
``GITRUNS_*`` variable before each test runs.
"""
from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRED = frozenset(filter(None, os.environ.get("GITRUNS_TEST_REQUIRE", "").split(",")))


def missing(part: str, why: str) -> NoReturn:
    """``part`` is not usable here (``why``): fail when this run requires it, else skip."""
    if part in REQUIRED:
        pytest.fail(f"{part} is required (GITRUNS_TEST_REQUIRE) but {why}")
    pytest.skip(f"{part}: {why}")
