"""The prediction files a run stores and `sweeplab ensemble` reads: their exact format."""

import numpy as np

from sweeplab.runs.predictions import read_test_probs, read_val_probs, write_test_probs, write_val_probs


def test_prediction_files_hold_float32_probs_and_what_aligns_them(tmp_path):
    probs = np.array([[0.25, 0.75], [0.6, 0.4]])  # float64, as a combination gives them
    test = write_test_probs(tmp_path / "test_probs_best.npz", probs, ["b.png", "a.png"])
    with np.load(test) as stored:
        assert set(stored) == {"probs", "ids"} and stored["probs"].dtype == np.float32
    read_probs, ids = read_test_probs(test)
    assert ids.tolist() == ["b.png", "a.png"] and np.allclose(read_probs, probs)
    val = write_val_probs(tmp_path / "val_probs.npz", probs, np.array([4, 1]), np.array([1, 0]))
    with np.load(val) as stored:
        assert set(stored) == {"probs", "rows", "labels"} and stored["probs"].dtype == np.float32
    found = read_val_probs(val)
    assert found.rows.tolist() == [4, 1] and found.labels.tolist() == [1, 0]
