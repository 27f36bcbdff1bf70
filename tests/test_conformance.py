"""Every public deepkit object goes through every check of the shared harness."""

import pytest

import deepkit  # noqa: F401  (registers every public object)
from deepkit.registry import registered_names
from deepkit.testing import CHECKS, run_check
from deepkit.testing.cases import all_cases

CASES = all_cases()


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_harness(case, check, tmp_path):
    run_check(case, check, tmp_path)


def test_every_registered_name_is_in_a_harness_case():
    covered = {name for case in CASES for name in case.covers}
    missing = sorted(registered_names() - covered)
    assert not missing, f"registered but in no harness case: {missing}"


def test_harness_cases_cover_only_registered_names():
    covered = {name for case in CASES for name in case.covers}
    unknown = sorted(covered - registered_names())
    assert not unknown, f"harness cases name objects that are not registered: {unknown}"
