import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from fedshield.evaluation import binary_metrics, roc_auc, summarize_sites


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=2, max_size=40))
def test_auc_equals_sklearn_including_ties(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float) / 5
    if y.min() == y.max():
        assert np.isnan(roc_auc(y, s))
    else:
        assert abs(roc_auc(y, s) - roc_auc_score(y, s)) < 1e-12


def test_sensitivity_specificity_from_confusion_counts():
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.7])
    m = binary_metrics(y, p)
    assert m["accuracy"] == 3 / 5
    assert m["sensitivity"] == 2 / 3
    assert m["specificity"] == 1 / 2


def test_mean_site_accuracy_is_unweighted():
    assert summarize_sites([{"accuracy": 1.0}, {"accuracy": 0.5}])["mean_site_accuracy"] == 0.75
