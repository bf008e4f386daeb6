"""Tests of `keras_latentquant.datasets.real.manual_files`, the helpers of the real-file builders."""

import pathlib
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_latentquant.datasets.real import manual_files
from keras_latentquant.datasets.real.manual_files import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    NpzArchive,
)
from tests.datasets import real_files


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_rows_stream_in_chunks_equal_to_np_load(tmp_path, save):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    labels = rng.normal(size=(10, 2)).astype(">f8")  # big-endian, as some writers store it
    save(tmp_path / "a.npz", images=images, labels=labels)
    with NpzArchive(tmp_path / "a.npz") as archive:
        assert archive.keys == ("images", "labels")
        assert archive.header("images") == ((10, 4, 4, 3), np.dtype(np.uint8))
        chunks = list(archive.iter_rows("images", chunk_rows=4))
        assert [len(chunk) for chunk in chunks] == [4, 4, 2]
        np.testing.assert_array_equal(np.concatenate(chunks), images)
        np.testing.assert_array_equal(archive.read("labels"), labels)


def test_npz_refuses_pickles_fortran_order_and_scalars(tmp_path):
    np.savez(
        tmp_path / "a.npz",
        objects=np.array([{"a": 1}], dtype=object),
        fortran=np.asfortranarray(np.ones((3, 2))),
        scalar=np.float64(1.0),
    )
    with NpzArchive(tmp_path / "a.npz") as archive:
        with pytest.raises(ManualFileFormatError, match="'objects' holds Python objects"):
            archive.header("objects")
        with pytest.raises(ManualFileFormatError, match="'fortran' is stored in Fortran order"):
            archive.header("fortran")
        with pytest.raises(ManualFileFormatError, match="'scalar' is a scalar"):
            archive.header("scalar")
        with pytest.raises(ManualFileFormatError, match=r"no array 'images'; it holds \['fortran'"):
            archive.header("images")
        with pytest.raises(ManualFileFormatError, match=r"\['images', 'labels'\] are missing"):
            archive.require_keys(("images", "labels", "objects"))


def test_npz_finds_damaged_or_short_data(tmp_path):
    images = np.arange(10 * 48, dtype=np.uint8).reshape(10, 4, 4, 3)
    real_files.write_npz_member_cut_short(tmp_path / "short.npz", "images", images, missing_rows=3)
    with NpzArchive(tmp_path / "short.npz") as archive:
        with pytest.raises(ManualFileFormatError, match="data end at row 7; the file is truncated"):
            list(archive.iter_rows("images", chunk_rows=4))
    # A flipped byte inside the stored (uncompressed) data fails the zip's CRC check.
    np.savez(tmp_path / "crc.npz", images=images)
    data = bytearray((tmp_path / "crc.npz").read_bytes())
    data[data.index(bytes(images[5, 0, 0]))] ^= 0xFF
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    with NpzArchive(tmp_path / "crc.npz") as archive:
        with pytest.raises(ManualFileFormatError, match="'images' failed .*Bad CRC-32.*damaged"):
            list(archive.iter_rows("images"))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ManualFileFormatError, match="text.npz is not in the expected format"):
        NpzArchive(tmp_path / "text.npz")


def test_distinct_values_rank_into_indices():
    values = np.array([0.5, 0.0, 1.0, 0.5, 0.0])
    indices = manual_files.distinct_values_to_indices(
        values, 3, path=pathlib.Path("f"), factor="x", column=0
    )
    np.testing.assert_array_equal(indices, [1, 0, 2, 1, 0])
    with pytest.raises(ManualFileFormatError, match="holds 3 distinct values .*expected exactly 4"):
        manual_files.distinct_values_to_indices(
            values, 4, path=pathlib.Path("f"), factor="x", column=0
        )
    with pytest.raises(ManualFileFormatError, match="NaN or infinite"):
        manual_files.distinct_values_to_indices(
            np.array([0.0, np.inf]), 2, path=pathlib.Path("f"), factor="x", column=0
        )


def test_downsample_by_area_is_the_block_mean_rounded_half_up():
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    image[0, 0], image[0, 1], image[1, 0], image[1, 1] = 1, 2, 3, 4  # mean 2.5 -> 3
    image[2:4, 2:4] = 255
    small = manual_files.downsample_by_area(image)
    assert small.shape == (64, 64, 3) and small.dtype == np.uint8
    assert small[0, 0, 0] == 3 and small[1, 1, 0] == 255 and small[0, 1, 0] == 0
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    area = tf.image.resize(image.astype(np.float32), (64, 64), method="area").numpy()
    assert np.max(np.abs(manual_files.downsample_by_area(image) - area)) <= 0.5 + 1e-4
    with pytest.raises(ValueError, match="multiple of 64, got 100x100"):
        manual_files.downsample_by_area(np.zeros((100, 100, 3), dtype=np.uint8))


def test_require_path_names_file_folder_and_manual_dir(tmp_path):
    with pytest.raises(ManualFileNotFoundError, match="the manual directory .* does not exist"):
        manual_files.require_path(tmp_path / "none", "a.npz", dataset="d", source="s")
    (tmp_path / "a.npz").mkdir()
    with pytest.raises(ManualFileNotFoundError, match="something is there, but it is not a file"):
        manual_files.require_path(tmp_path, "a.npz", dataset="d", source="s")
    assert manual_files.require_path(tmp_path, "a.npz", dataset="d", source="s", directory=True) == (
        tmp_path / "a.npz"
    )


def test_resolve_manual_dir_gives_the_path_even_when_missing(tmp_path):
    def manager(manual_dir):
        return tfds.download.DownloadManager(
            download_dir=tmp_path / "downloads",
            manual_dir=manual_dir,
            manual_dir_instructions="put files here",
        )

    assert manual_files.resolve_manual_dir(manager(tmp_path / "absent")) == tmp_path / "absent"
    (tmp_path / "present").mkdir()
    (tmp_path / "present" / "file").write_text("x")
    assert manual_files.resolve_manual_dir(manager(tmp_path / "present")) == tmp_path / "present"


def test_zip_members_other_than_npy_are_not_keys(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        archive.writestr("README.txt", "hello")
    with NpzArchive(tmp_path / "a.npz") as archive:
        assert archive.keys == ()
