"""The process without deepkit that the SavedModel checks share: it runs each script in
fresh globals with its own arguments and folder, refuses deepkit, reports a failing
script without dying, and is started again after it died."""

import os

import pytest

from deepkit.testing import without_deepkit
from deepkit.testing.without_deepkit import run_without_deepkit


def test_a_script_gets_its_arguments_and_folder_and_what_it_prints_comes_back(tmp_path):
    printed = run_without_deepkit("import os, sys; print(sys.argv[1:], os.getcwd())", ["a", "b c"], cwd=str(tmp_path))
    assert printed == f"['a', 'b c'] {tmp_path}\n"


def test_one_process_answers_every_request_and_no_global_outlives_its_script():
    first = run_without_deepkit("import os; secret = 1; print(os.getpid())")
    second = run_without_deepkit("import os; print(os.getpid(), 'secret' in globals())")
    assert second == f"{first.strip()} False\n" and int(first) != os.getpid()


def test_importing_deepkit_fails_and_the_next_script_still_runs():
    with pytest.raises(AssertionError, match="(?s)ModuleNotFoundError|ImportError.*deepkit"):
        run_without_deepkit("import deepkit.layers")
    with pytest.raises(AssertionError, match="the script exited with 3"):
        run_without_deepkit("import sys; sys.exit(3)")
    with pytest.raises(AssertionError, match="(?s)ValueError: bad request.*to stderr"):
        run_without_deepkit("import sys; print('to stderr', file=sys.stderr); raise ValueError('bad request')")
    assert run_without_deepkit("print('still here')") == "still here\n"


def test_a_process_that_died_is_reported_and_started_again():
    pid = run_without_deepkit("import os; print(os.getpid())")
    with pytest.raises(AssertionError, match="(?s)the process without deepkit died.*last words"):
        run_without_deepkit("import os, sys; print('last words', file=sys.__stderr__, flush=True); os._exit(9)")
    assert without_deepkit._worker is None
    assert run_without_deepkit("import os; print(os.getpid())") != pid
