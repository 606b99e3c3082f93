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


@pytest.fixture
def registered():
    """Removes the ops a test declares, so later registry walks do not see them."""
    from minigrad.ops.registry import REGISTRY

    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        del REGISTRY[name]


# `make test` runs with --no-skips: its set-up installs everything the suite uses, so a skipped
# test there means a dependency went missing, which must fail the run rather than pass quietly.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--no-skips", action="store_true",
                     help="fail the run if any test is skipped (the set-up installs everything)")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    # the differential fuzzer at length (tests/test_fuzz.py) names its seed, to replay a run
    fuzz = sys.modules.get("fuzz_programs")
    if fuzz is not None and fuzz.LONG:
        terminalreporter.write_line(
            f"fuzz seed {fuzz.SEED} (MINIGRAD_FUZZ=long MINIGRAD_FUZZ_SEED={fuzz.SEED} replays "
            f"this run)")
    if not config.getoption("--no-skips"):
        return
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"--no-skips: {len(skipped)} test(s) skipped; `make test` installs everything the "
            f"suite needs, so each skip above names something the set-up did not provide",
            red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--no-skips"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
