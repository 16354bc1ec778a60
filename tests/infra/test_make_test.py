"""`make test`'s closing lines (.ci/test_engines) say truthfully what each engine did."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_SERVER = "postgresql+psycopg://postgres@127.0.0.1:9/kapfinder_nowhere"  # the discard port: nothing answers


def run_engines(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "KAPFINDER_TEST_ENGINE", "KAPFINDER_TEST_SUMMARY")}
    env.update(PY=sys.executable, KAPFINDER_TEST_POSTGRES_URL=NO_SERVER,
               PYTEST_ARGS=f"tests/test_smoke.py -q -p no:cacheprovider --basetemp={tmp_path / 'inner'}")
    if ci:
        env["CI"] = "true"
    return subprocess.run(["bash", ".ci/test_engines"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_without_postgis_make_test_says_postgres_was_skipped_and_how_to_install_it(tmp_path):
    result = run_engines(tmp_path, ci=False)
    closing = result.stdout.split("=== make test ===")[-1]
    assert "sqlite: passed (2 passed)" in closing
    assert "postgres: skipped (no postgis: no PostgreSQL server answers" in closing
    assert "passed on sqlite and postgres" not in result.stdout
    assert "bash .ci/postgis" in closing
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.slow
def test_under_ci_a_skipped_postgres_suite_fails_make_test(tmp_path):
    result = run_engines(tmp_path, ci=True)
    assert "postgres: skipped (no postgis" in result.stdout
    assert "make test FAILED on: postgres(exit 1)" in result.stdout
    assert result.returncode == 1
