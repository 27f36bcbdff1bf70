"""The sentiment recipe's comparison with its bag of words: McNemar's exact test and the verdict it prints."""

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from deepkit.recipes import sentiment


def correctness(both, only_model, only_baseline, neither):
    model = [True] * both + [True] * only_model + [False] * only_baseline + [False] * neither
    baseline = [True] * both + [False] * only_model + [True] * only_baseline + [False] * neither
    return np.array(model), np.array(baseline)


@pytest.mark.parametrize("only_model, only_baseline", [(30, 12), (12, 30), (20, 21), (5, 0), (1, 1)])
def test_mcnemar_p_value_matches_statsmodels_exact_test(only_model, only_baseline):
    model_right, baseline_right = correctness(100, only_model, only_baseline, 40)
    table = [[100, only_model], [only_baseline, 40]]
    expected = mcnemar(table, exact=True).pvalue
    assert sentiment.mcnemar_p_value(model_right, baseline_right) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_p_value_is_one_when_the_models_agree_everywhere():
    assert sentiment.mcnemar_p_value(*correctness(50, 0, 0, 10)) == 1.0


def test_mcnemar_p_value_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"one shape, received \(3,\) and \(2,\)"):
        sentiment.mcnemar_p_value([True, False, True], [True, False])


def metrics(accuracy, baseline, p_value):
    return {"test_accuracy": accuracy, "bag_of_words_accuracy": baseline,
            "gain_over_bag_of_words": accuracy - baseline, "mcnemar_p_value": p_value}


def test_verdict_claims_no_difference_when_the_test_cannot_show_one():
    line = sentiment.verdict(metrics(0.753, 0.758, 0.62), 2550)
    assert "recurrent model 75.3%, bag of words 75.8% (-0.5 points; McNemar p = 0.62 over 2550 test texts)" in line
    assert "no difference" in line and "beats" not in line and "behind" not in line


@pytest.mark.parametrize("accuracy, word", [(0.81, "beats"), (0.70, "falls behind")])
def test_verdict_names_the_winner_only_when_the_difference_is_significant(accuracy, word):
    line = sentiment.verdict(metrics(accuracy, 0.758, 0.001), 2550)
    assert f"the recurrent model {word} the bag of words (p < 0.05)" in line
    assert "no difference" not in line
