"""Every public deepkit object goes through every check of the shared harness."""

import pytest

import deepkit  # noqa: F401  (registers every public object)
from deepkit.registry import registered_names
from deepkit.testing import CHECKS, run_check
from deepkit.testing.cases import all_cases

CASES = all_cases()
# Every check on every case, but those a case leaves to another one of the same model
# class (HarnessCase.checks_run_by: the same code path, run once).
RUNS = [pytest.param(case, check, id=f"{case.id}-{check}")
        for case in CASES for check in CHECKS if check not in case.checks_run_by]


@pytest.mark.parametrize("case, check", RUNS)
def test_harness(case, check, tmp_path):
    run_check(case, check, tmp_path)


def test_a_check_left_to_another_case_runs_there_on_the_same_model_class():
    by_id = {case.id: case for case in CASES}
    for case in CASES:
        for check, other_id in case.checks_run_by.items():
            assert check in CHECKS, f"{case.id}: unknown check {check!r}"
            other = by_id.get(other_id)
            assert other is not None, f"{case.id} leaves {check} to {other_id!r}, which is no case"
            assert check not in other.checks_run_by, f"{case.id} and {other_id} both leave {check} off"
            assert type(case.make_model()) is type(other.make_model()), (case.id, other_id)


def test_every_registered_name_is_in_a_harness_case():
    covered = {name for case in CASES for name in case.covers}
    missing = sorted(registered_names() - covered)
    assert not missing, f"registered but in no harness case: {missing}"


def test_harness_cases_cover_only_registered_names():
    covered = {name for case in CASES for name in case.covers}
    unknown = sorted(covered - registered_names())
    assert not unknown, f"harness cases name objects that are not registered: {unknown}"
