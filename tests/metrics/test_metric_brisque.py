"""BRISQUE's LIBSVM parts: model and range parsing, svm-scale, ε-SVR prediction, text round trip."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench.metrics.brisque import (
    BRISQUE_SHIFTS,
    SVRModel,
    brisque_score,
    live_model,
    parse_libsvm_model,
    parse_libsvm_ranges,
)

MODEL = """svm_type epsilon_svr
kernel_type rbf
gamma 0.5
nr_class 2
total_sv 2
rho -1.5
SV
2 1:1 2:0.5
-1 2:-1
"""


def test_parse_and_predict_a_tiny_model():
    model = parse_libsvm_model(MODEL)
    assert model.gamma == 0.5 and model.rho == -1.5
    assert model.support_vectors.tolist() == [[1.0, 0.5], [0.0, -1.0]]  # missing index → 0
    x = np.array([0.0, 0.0])
    # 2·exp(−0.5·(1 + 0.25)) − 1·exp(−0.5·1) + 1.5
    expected = 2 * np.exp(-0.625) - np.exp(-0.5) + 1.5
    assert float(model.predict(x)) == pytest.approx(expected, rel=1e-15)
    assert model.predict(np.stack([x, x])).tolist() == pytest.approx([expected, expected])


def test_parse_rejects_other_models():
    with pytest.raises(ValueError, match="epsilon_svr"):
        parse_libsvm_model(MODEL.replace("epsilon_svr", "c_svc"))
    with pytest.raises(ValueError, match="SV"):
        parse_libsvm_model("svm_type epsilon_svr\n")


def test_svm_scale_semantics():
    ranges = parse_libsvm_ranges("x\n-1 1\n1 0 10\n2 -2 2\n3 5 5\n")
    assert (ranges.lower, ranges.upper) == (-1.0, 1.0)
    # min → lower, max → upper exactly; linear in between; beyond the range it extrapolates;
    # a constant feature (min == max) is dropped by svm-scale, i.e. 0.
    assert ranges.scale(np.array([0.0, 2.0, 5.0])).tolist() == [-1.0, 1.0, 0.0]
    assert ranges.scale(np.array([2.5, 0.0, 1.0])).tolist() == [-0.5, 0.0, 0.0]
    assert ranges.scale(np.array([20.0, -4.0, 9.0])).tolist() == [3.0, -2.0, 0.0]


def test_live_model_and_ranges_are_the_release_files():
    model, ranges = live_model()
    assert model.support_vectors.shape == (774, 36)
    # The header of the release's allmodel ("gamma 0.05", "rho -153.591", 774 SV lines) and the
    # first feature line of its allrange ("1 0.338 10").
    assert (model.gamma, model.rho) == (0.05, -153.591)
    assert len(ranges.minimum) == 36 and (ranges.minimum[0], ranges.maximum[0]) == (0.338, 10.0)
    assert live_model() is live_model()  # read once


def test_text_round_trip_only_changes_digits_beyond_the_file_format():
    features = np.array([2.0, 0.0001234567] + [0.5] * 34)
    with_io = brisque_score(features)
    without = brisque_score(features, libsvm_text_io=False)
    assert with_io != without
    assert with_io == pytest.approx(without, abs=0.05)


def test_shift_offsets_are_the_release_ones():
    # brisque_feature.m: shifts = [0 1; 1 0; 1 1; -1 1] (NIQE uses 1 -1 for the last one).
    assert BRISQUE_SHIFTS == ((0, 1), (1, 0), (1, 1), (-1, 1))


def test_svr_model_is_a_frozen_value():
    model = SVRModel(0.1, 0.0, np.ones(1), np.zeros((1, 2)))
    with pytest.raises(AttributeError):
        model.rho = 1.0  # type: ignore[misc]
