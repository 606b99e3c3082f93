import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def pytest_terminal_summary(terminalreporter):
    """The differential fuzzer at length (tests/test_fuzz.py) names its seed, to replay a run."""
    fuzz = sys.modules.get("fuzz_programs")
    if fuzz is not None and fuzz.LONG:
        terminalreporter.write_line(
            f"fuzz seed {fuzz.SEED} (MINIGRAD_FUZZ=long MINIGRAD_FUZZ_SEED={fuzz.SEED} replays "
            f"this run)")
