import numpy as np
import pytest

import nadaraya as nw
from nadaraya.data import chapter_function


def test_chapter_dataset():
    data = nw.make_dataset(n_train=50, seed=0)
    assert data.x_train.shape == data.y_train.shape == (50,)
    assert np.all(np.diff(data.x_train) >= 0) and data.x_train.min() >= 0 and data.x_train.max() < 5
    np.testing.assert_allclose(data.x_test, np.arange(0, 5, 0.1))
    np.testing.assert_allclose(data.y_truth, 2 * np.sin(data.x_test) + data.x_test**0.8)
    noise = data.y_train - chapter_function(data.x_train)
    assert 0.3 < noise.std() < 0.7  # N(0, 0.5^2)


def test_seed_reproduces_and_changes_the_data():
    a, b, c = nw.make_dataset(seed=1), nw.make_dataset(seed=1), nw.make_dataset(seed=2)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_n_train_and_errors():
    assert nw.make_dataset(n_train=200).n_train == 200
    with pytest.raises(ValueError, match="n_train must be >= 1, got 0"):
        nw.make_dataset(n_train=0)
    with pytest.raises(TypeError, match="n_train must be an integer"):
        nw.make_dataset(n_train=2.5)
