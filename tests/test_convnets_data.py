"""CIFAR-10 loader (montecarlo.convnets.data) on tiny synthetic batch files."""
import pickle

import numpy as np
import pytest

from montecarlo.convnets.data import CIFAR10Error, load_cifar10, read_batch


def write_batch(path, n=20, seed=0, bytes_keys=True, data=None, labels=None):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8) if data is None else data
    labels = list(rng.integers(0, 10, size=n)) if labels is None else labels
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    with open(path, "wb") as fh:
        pickle.dump({key("data"): data, key("labels"): labels, key("batch_label"): "synthetic"}, fh, protocol=2)
    return data, np.asarray(labels)


def test_loads_subset_of_training_batches_in_order(tmp_path):
    d1, l1 = write_batch(tmp_path / "data_batch_1", n=20, seed=1)
    d3, l3 = write_batch(tmp_path / "data_batch_3", n=12, seed=3, bytes_keys=False)
    write_batch(tmp_path / "test_batch", n=7, seed=9)
    train = load_cifar10(tmp_path, "train")
    assert train.files == ("data_batch_1", "data_batch_3")
    assert train.images.shape == (32, 3, 32, 32) and train.images.dtype == np.float32
    np.testing.assert_array_equal(train.labels, np.concatenate([l1, l3]))
    # per-channel normalization: mean 0, std 1 over the loaded split
    np.testing.assert_allclose(train.images.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(train.images.std(axis=(0, 2, 3)), 1, atol=1e-4)
    test = load_cifar10(tmp_path, "test")
    assert test.images.shape == (7, 3, 32, 32) and test.files == ("test_batch",)


def test_pixel_layout_is_rgb_planes_row_major(tmp_path):
    data, _ = write_batch(tmp_path / "data_batch_2", n=3)
    raw = load_cifar10(tmp_path, stats=(np.zeros(3), np.ones(3)))
    assert raw.images[1, 0, 0, 1] == pytest.approx(data[1, 1] / 255)        # R, row 0, col 1
    assert raw.images[1, 1, 2, 0] == pytest.approx(data[1, 1024 + 64] / 255)  # G, row 2, col 0
    assert raw.images[2, 2, 31, 31] == pytest.approx(data[2, 3071] / 255)    # B, last pixel


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(CIFAR10Error, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")


def test_folder_without_batches_names_expected_files(tmp_path):
    with pytest.raises(CIFAR10Error, match="data_batch_1"):
        load_cifar10(tmp_path, "train")
    with pytest.raises(CIFAR10Error, match="test_batch"):
        load_cifar10(tmp_path, "test")


def test_bad_split(tmp_path):
    with pytest.raises(CIFAR10Error, match="split"):
        load_cifar10(tmp_path, "validation")


def test_malformed_pickle(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"this is not a pickle at all")
    with pytest.raises(CIFAR10Error, match="not a readable pickle") as info:
        load_cifar10(tmp_path)
    assert "data_batch_1" in str(info.value)


@pytest.mark.parametrize("data, labels, match", [
    (np.zeros((4, 3000), np.uint8), [0] * 4, "shape"),
    (np.zeros((4, 3072), np.float32), [0] * 4, "dtype"),
    (np.zeros((4, 3072), np.uint8), [0] * 3, "labels"),
    (np.zeros((4, 3072), np.uint8), [0, 1, 2, 10], "0..9"),
])
def test_wrong_shapes_and_values(tmp_path, data, labels, match):
    write_batch(tmp_path / "data_batch_1", data=data, labels=labels)
    with pytest.raises(CIFAR10Error, match=match):
        read_batch(tmp_path / "data_batch_1")


def test_not_a_dict_or_missing_key(tmp_path):
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump([1, 2, 3], fh)
    with pytest.raises(CIFAR10Error, match="expected a dict"):
        load_cifar10(tmp_path)
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, fh)
    with pytest.raises(CIFAR10Error, match="labels"):
        load_cifar10(tmp_path)
