"""Test utilities shared by deepkit's test-suite: the harness and its registry of cases."""

from deepkit.testing.harness import CHECKS, HarnessCase, run_all_checks, run_check, serve_without_deepkit
from deepkit.testing.without_deepkit import run_without_deepkit

__all__ = ["CHECKS", "HarnessCase", "run_all_checks", "run_check", "run_without_deepkit", "serve_without_deepkit"]
