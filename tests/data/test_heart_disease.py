from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fedshield.data import load_dataset
from fedshield.data.heart_disease import FEATURE_NAMES, read_site
from fedshield.errors import ConfigError, DataError

FLAMBY_SIZES = {"cleveland": (199, 104), "hungarian": (172, 89), "switzerland": (30, 16), "va": (85, 45)}
GOOD_ROW = "63,1,1,145,233,1,2,150,0,2.3,3,0,6,0\n"


@pytest.fixture(scope="module")
def heart(shared_data_dir: Path):
    return load_dataset("heart-disease", data_dir=shared_data_dir)


def test_flamby_counts_exactly(heart) -> None:
    assert heart.site_ids == ("cleveland", "hungarian", "switzerland", "va")
    assert {s.site_id: (s.num_train, s.num_test) for s in heart.sites} == FLAMBY_SIZES
    assert sum(s.num_train + s.num_test for s in heart.sites) == 740
    assert heart.input_shape == (13,) and heart.num_classes == 2 and heart.pooled_test is None


def test_flamby_feature_order() -> None:
    assert FEATURE_NAMES == (
        "age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak",
        "cp_2", "cp_3", "cp_4", "restecg_1", "restecg_2",
    )  # fmt: skip


def test_dtypes_and_labels(heart) -> None:
    for s in heart.sites:
        assert s.x_train.dtype == np.float32 and s.x_test.dtype == np.float32
        assert s.y_train.dtype == np.int64 and set(np.unique(s.y_train)) <= {0, 1}
        assert s.x_train.shape[1] == 13 and np.isfinite(s.x_train).all() and np.isfinite(s.x_test).all()


def test_cleveland_raw_values(shared_data_dir: Path) -> None:
    x, y = read_site(shared_data_dir / "uci-heart-disease" / "processed.cleveland.data")
    assert x.shape == (303, 13)
    # first row: 63,1,cp=1,145,233,1,restecg=2,150,0,2.3 -> cp dummies 0,0,0; restecg_2 = 1
    assert x[0].tolist() == [63, 1, 145, 233, 1, 150, 0, 2.3, 0, 0, 0, 0, 1]
    assert y[:3].tolist() == [0, 1, 1]


def test_standardized_with_own_train_statistics(heart, shared_data_dir: Path) -> None:
    for s in heart.sites:
        x, _ = read_site(shared_data_dir / "uci-heart-disease" / f"processed.{s.site_id}.data")
        varying = x.std(axis=0) > 0
        mean = s.x_train.mean(axis=0)
        std = s.x_train.std(axis=0, ddof=1)
        nonconst = std > 0
        np.testing.assert_allclose(mean, 0, atol=1e-5)
        np.testing.assert_allclose(std[nonconst], 1, atol=1e-4)
        assert varying.any()
    # Test splits reuse train statistics, so they are not exactly centred.
    assert abs(heart.site("cleveland").x_test.mean(axis=0)).max() > 1e-3


def test_split_is_fixed_regardless_of_seed(shared_data_dir: Path, heart) -> None:
    other = load_dataset("heart-disease", data_dir=shared_data_dir, seed=5, alpha=3.0)
    for a, b in zip(heart.sites, other.sites, strict=True):
        assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)


def test_num_sites_must_be_four(shared_data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="cleveland"):
        load_dataset("heart-disease", data_dir=shared_data_dir, num_sites=3)


def test_missing_data_dir_says_how_to_fix() -> None:
    with pytest.raises(DataError) as err:
        load_dataset("heart-disease")
    msg = str(err.value)
    assert "--data-dir" in msg and "FEDSHIELD_DATA_DIR" in msg and "download=True" in msg


def test_missing_file_names_source_and_options(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("heart-disease", data_dir=tmp_path)
    msg = str(err.value)
    assert "processed.cleveland.data" in msg and "archive.ics.uci.edu" in msg
    assert "--data-dir" in msg and "FEDSHIELD_DATA_DIR" in msg and "download=True" in msg


def test_env_var_is_used(shared_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDSHIELD_DATA_DIR", str(shared_data_dir))
    assert load_dataset("heart-disease").sites[0].num_train == 199


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "processed.cleveland.data"
    p.write_text(text)
    return p


def test_wrong_column_count_names_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD_ROW * 2 + "63,1,1,145,233,1,2,150,0,2.3,3,0\n")
    with pytest.raises(DataError, match=r"line 3: expected 14 comma-separated values .* found 12"):
        read_site(p)


def test_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD_ROW + "63,1,1,abc,233,1,2,150,0,2.3,3,0,6,0\n")
    with pytest.raises(DataError, match=r"line 2, column 'trestbps': 'abc' is not a number"):
        read_site(p)


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(DataError, match="no data rows"):
        read_site(_write(tmp_path, text))


def test_nan_literal_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="column 'chol'"):
        read_site(_write(tmp_path, "63,1,1,145,nan,1,2,150,0,2.3,3,0,6,0\n"))


def test_rows_with_question_marks_are_dropped(tmp_path: Path) -> None:
    text = GOOD_ROW + "63,1,1,?,233,1,2,150,0,2.3,3,0,6,0\n" + "50,0,4,120,200,0,0,140,1,1,?,?,?,2\n"
    x, y = read_site(_write(tmp_path, text))
    assert x.shape == (2, 13) and y.tolist() == [0, 1]


def test_all_rows_incomplete(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="none is left"):
        read_site(_write(tmp_path, "63,1,1,?,233,1,2,150,0,2.3,3,0,6,0\n"))


def test_unknown_category_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 1: column 'cp' holds 7, expected one of \[1, 2, 3, 4\]"):
        read_site(_write(tmp_path, "63,1,7,145,233,1,2,150,0,2.3,3,0,6,0\n"))


def test_malformed_file_through_load_dataset(tmp_path: Path, shared_data_dir: Path) -> None:
    root = tmp_path / "uci-heart-disease"
    root.mkdir()
    for name in ("hungarian", "switzerland", "va"):
        shutil.copy(shared_data_dir / "uci-heart-disease" / f"processed.{name}.data", root)
    (root / "processed.cleveland.data").write_text(GOOD_ROW + "1,2,3\n")
    with pytest.raises(DataError, match=r"processed\.cleveland\.data, line 2"):
        load_dataset("heart-disease", data_dir=tmp_path)
