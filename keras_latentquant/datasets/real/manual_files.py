"""Shared pieces of the builders that read the real benchmark files from TFDS's manual directory.

The real MPI3D, Falcor3D and Isaac3D releases cannot be downloaded on our machines
(nor by these builders, ever): a user who has them puts them in the manual directory, by default
`<data_dir>/downloads/manual/`, or passes another one with
`tfds.download.DownloadConfig(manual_dir=...)`. This module finds the files there, checks that they
are what they claim to be, and reads them in bounded memory:

- `resolve_manual_dir` and `require_path` turn "file missing" into a `ManualFileNotFoundError` that
  says which file, its exact name, where it must go and where it comes from.
- `NpzArchive` reads the members of a NumPy `.npz` archive a chunk of rows at a time, compressed
  (`np.savez_compressed`) or not, so a 3 GB image array never sits in memory at once.
- `distinct_values_to_indices` turns stored factor values into factor indices, checking their number.
- `downsample_by_area` and `read_png` read and shrink the 128x128 PNG images of Falcor3D and Isaac3D.

Anything that is found but is not in the expected format raises `ManualFileFormatError`, whose
message says what was found and what was expected.
"""

from __future__ import annotations

import pathlib
import zipfile
import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

# Side of every image the builders write.
IMAGE_SIZE = 64

# Rows read from a source file at once: 2,048 64x64x3 uint8 images are 24 MiB.
READ_CHUNK_ROWS = 2048

_DOWNLOAD_CONFIG_HINT = (
    "or pass another directory with "
    "download_config=tfds.download.DownloadConfig(manual_dir=...)"
)


class ManualFileNotFoundError(FileNotFoundError):
    """A file a real-data builder needs is not in the manual directory."""


class ManualFileFormatError(ValueError):
    """A file in the manual directory is not in the format its builder expects."""


def resolve_manual_dir(dl_manager: tfds.download.DownloadManager) -> pathlib.Path:
    """The manual directory TFDS resolved for this preparation, whether or not it exists.

    TFDS's `dl_manager.manual_dir` raises a bare `AssertionError` when the directory is missing or
    empty, without giving the path, which the builders need for a useful error. Its path is then
    read from the download manager itself (the default is `<data_dir>/downloads/manual`).

    Args:
        dl_manager: the download manager TFDS passes to `_split_generators`.

    Returns:
        The manual directory as a `pathlib.Path`.
    """
    try:
        return pathlib.Path(dl_manager.manual_dir)
    except AssertionError:
        # `_manual_dir` holds DownloadConfig.manual_dir or the default; `download_dir / "manual"`
        # is that default, for a future TFDS that renames the attribute.
        manual_dir = getattr(dl_manager, "_manual_dir", None)
        if manual_dir is None:
            manual_dir = pathlib.Path(dl_manager.download_dir) / "manual"
        return pathlib.Path(manual_dir)


def require_path(
    manual_dir: pathlib.Path,
    relative_path: str,
    *,
    dataset: str,
    source: str,
    directory: bool = False,
) -> pathlib.Path:
    """Returns `manual_dir / relative_path`, or says clearly that it is missing.

    Args:
        manual_dir: the resolved manual directory.
        relative_path: the file's (or folder's) exact path inside the manual directory.
        dataset: the builder's name, for the message.
        source: where the file comes from (project and release), for the message.
        directory: the path must be a folder rather than a file.

    Returns:
        The full path.

    Raises:
        ManualFileNotFoundError: nothing of the expected kind is at that path.
    """
    path = manual_dir / relative_path
    if (path.is_dir() if directory else path.is_file()):
        return path
    kind = "folder" if directory else "file"
    found = ""
    if path.exists():
        found = f" (something is there, but it is not a {kind})"
    elif not manual_dir.is_dir():
        found = f" (the manual directory {manual_dir} does not exist)"
    raise ManualFileNotFoundError(
        f"{dataset} needs the {kind} {relative_path!r} from {source}, expected at {path}, "
        f"but it was not found{found}. Nothing is downloaded: put the {kind} there (the manual "
        f"directory is {manual_dir}), {_DOWNLOAD_CONFIG_HINT}."
    )


def format_error(path: pathlib.Path, problem: str) -> ManualFileFormatError:
    """Builds the error for a file that is there but not in the expected format.

    Args:
        path: the offending file.
        problem: what was found and what was expected.

    Returns:
        A `ManualFileFormatError` naming the file; the caller raises it.
    """
    problem = problem.rstrip().rstrip(".")
    return ManualFileFormatError(
        f"{path} is not in the expected format: {problem}. Replace it with the original release file "
        "(download it again), then rerun."
    )


class NpzArchive:
    """Reads the arrays of a NumPy `.npz` archive, whole or a chunk of rows at a time.

    `np.load` can memory-map a plain `.npy` file but not a member of an `.npz` archive, and it reads
    a member whole (3 GB for the dSprites images, 12.7 GB for MPI3D). This reader parses each
    member's `.npy` header itself and then reads its data as a stream through `zipfile`, which
    decompresses on the fly, so only one chunk of rows is ever in memory. Object (pickled) arrays are
    refused: nothing here needs them, and unpickling a file runs code.

    Use it as a context manager.

    Args:
        path: path of the `.npz` file.

    Raises:
        ManualFileFormatError: the file is not a zip archive (not an `.npz`, or truncated).
    """

    def __init__(self, path: pathlib.Path):
        self.path = pathlib.Path(path)
        try:
            self._archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise format_error(
                self.path,
                f"it is not a readable NumPy .npz (zip) archive ({error}); the file may be "
                "truncated (an interrupted download) or of another format.",
            ) from None

    def __enter__(self) -> "NpzArchive":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Closes the archive."""
        self._archive.close()

    @property
    def keys(self) -> tuple[str, ...]:
        """Names of the arrays in the archive (member names without `.npy`), sorted."""
        return tuple(
            sorted(name[: -len(".npy")] for name in self._archive.namelist() if name.endswith(".npy"))
        )

    def require_keys(self, expected: Sequence[str]) -> None:
        """Checks that the archive holds every expected array.

        Args:
            expected: array names that must be present (others may be too).

        Raises:
            ManualFileFormatError: some are missing; the message lists what was found.
        """
        missing = [key for key in expected if key not in self.keys]
        if missing:
            raise format_error(
                self.path,
                f"the archive holds the arrays {list(self.keys)}, but {list(missing)} are missing "
                f"(expected at least {list(expected)}).",
            )

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of one array, read from its `.npy` header only.

        Args:
            key: array name.

        Returns:
            `(shape, dtype)`.

        Raises:
            ManualFileFormatError: the member's header is unreadable, Fortran-ordered or of an object
                dtype.
        """
        with self._open_member(key) as stream:
            shape, dtype = self._read_header(key, stream)
        return shape, dtype

    def read(self, key: str) -> np.ndarray:
        """Reads one whole array (for the small label arrays).

        Args:
            key: array name.

        Returns:
            The array.

        Raises:
            ManualFileFormatError: unreadable header, or the data end early or fail their checksum.
        """
        shape, dtype = self.header(key)
        chunks = list(self.iter_rows(key, max(shape[0], 1)))
        return np.concatenate(chunks) if chunks else np.zeros(shape, dtype)

    def iter_rows(self, key: str, chunk_rows: int = READ_CHUNK_ROWS) -> Iterator[np.ndarray]:
        """Yields one array's rows (along its first axis), `chunk_rows` at a time.

        Args:
            key: array name.
            chunk_rows: rows per yielded chunk (the last chunk may be shorter).

        Yields:
            Arrays of shape `[rows, *shape[1:]]` in file order.

        Raises:
            ManualFileFormatError: unreadable header, or the data end early (a truncated file) or
                fail the archive's checksum.
        """
        with self._open_member(key) as stream:
            shape, dtype = self._read_header(key, stream)
            row_shape = shape[1:]
            row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
            for start in range(0, shape[0], chunk_rows):
                rows = min(chunk_rows, shape[0] - start)
                try:
                    data = stream.read(rows * row_bytes)
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
                    raise format_error(
                        self.path,
                        f"reading array {key!r} failed at row {start} ({error}); the file is "
                        "probably truncated or damaged.",
                    ) from None
                if len(data) != rows * row_bytes:
                    raise format_error(
                        self.path,
                        f"array {key!r} declares shape {shape} but its data end at row "
                        f"{start + len(data) // max(row_bytes, 1)}; the file is truncated.",
                    )
                yield np.frombuffer(data, dtype=dtype).reshape((rows,) + row_shape)

    def _open_member(self, key: str):
        try:
            return self._archive.open(f"{key}.npy")
        except KeyError:
            raise format_error(
                self.path, f"the archive has no array {key!r}; it holds {list(self.keys)}."
            ) from None

    def _read_header(self, key: str, stream) -> tuple[tuple[int, ...], np.dtype]:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise format_error(
                self.path,
                f"reading array {key!r} failed ({error}); the file is probably truncated or "
                "damaged.",
            ) from None
        except ValueError as error:
            raise format_error(
                self.path, f"the header of array {key!r} is not a valid .npy header ({error})."
            ) from None
        if dtype.hasobject:
            raise format_error(
                self.path, f"array {key!r} holds Python objects (dtype {dtype}); expected numbers."
            )
        if not shape:
            raise format_error(self.path, f"array {key!r} is a scalar; expected an array of rows.")
        if fortran_order and len(shape) > 1:
            # Rows of a Fortran-ordered array are not contiguous in the stream.
            raise format_error(
                self.path, f"array {key!r} is stored in Fortran order; expected C order."
            )
        return tuple(int(size) for size in shape), dtype


def check_array(
    path: pathlib.Path,
    key: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    *,
    row_shape: tuple[int, ...],
    kind: str,
) -> int:
    """Checks an array's per-row shape and dtype kind; returns its number of rows.

    Args:
        path: the file, for the message.
        key: the array's name in the file, for the message.
        shape: the array's shape.
        dtype: the array's dtype.
        row_shape: the expected shape of one row (everything after the first axis).
        kind: expected dtype: `"uint8"`, `"integer"` or `"number"` (integer or floating point).

    Returns:
        The number of rows, `shape[0]`.

    Raises:
        ManualFileFormatError: wrong per-row shape or dtype.
    """
    expected_shape = ("N",) + tuple(row_shape)
    if len(shape) != len(row_shape) + 1 or tuple(shape[1:]) != tuple(row_shape):
        raise format_error(
            path, f"array {key!r} has shape {tuple(shape)}; expected {expected_shape}."
        )
    dtype = np.dtype(dtype)
    valid = {
        "uint8": dtype == np.uint8,
        "integer": np.issubdtype(dtype, np.integer),
        "number": np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer),
    }[kind]
    if not valid:
        raise format_error(path, f"array {key!r} has dtype {dtype}; expected {kind} values.")
    return int(shape[0])


def check_num_rows(path: pathlib.Path, found: dict[str, int]) -> int:
    """Checks that arrays describing the same images have the same number of rows.

    Args:
        path: the file (or folder), for the message.
        found: number of rows of each array, by name.

    Returns:
        The common number of rows.

    Raises:
        ManualFileFormatError: the counts differ, or there are no rows at all.
    """
    counts = set(found.values())
    if len(counts) != 1:
        raise format_error(path, f"the arrays disagree on the number of images: {found}.")
    count = counts.pop()
    if count == 0:
        raise format_error(path, f"the arrays hold no images: {found}.")
    return count


def distinct_values_to_indices(
    values: np.ndarray,
    num_values: int,
    *,
    path: pathlib.Path,
    factor: str,
    column: int,
) -> np.ndarray:
    """Indexes one factor's stored values by rank among its distinct values.

    Used where the release documents how many values a factor takes but not the values themselves:
    the k-th smallest distinct value is index k. The file must hold every value of the factor at
    least once, otherwise ranks would not be grid indices.

    Args:
        values: 1-D array of one factor's stored values.
        num_values: how many distinct values the factor has.
        path: the file, for the message.
        factor: the factor's name, for the message.
        column: the factor's column in the file, for the message.

    Returns:
        int64 array of indices in `[0, num_values)`.

    Raises:
        ManualFileFormatError: non-finite values, or a number of distinct values other than
            `num_values`.
    """
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise format_error(path, f"column {column} ({factor}) holds NaN or infinite values.")
    distinct, indices = np.unique(values, return_inverse=True)
    if len(distinct) != num_values:
        shown = np.round(distinct[:12], 6).tolist()
        more = " ..." if len(distinct) > 12 else ""
        raise format_error(
            path,
            f"column {column} ({factor}) holds {len(distinct)} distinct values {shown}{more}; "
            f"expected exactly {num_values} (every value of the factor at least once).",
        )
    return indices.reshape(-1).astype(np.int64)


def downsample_by_area(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Shrinks a square image by an integer factor, averaging each block of pixels.

    For an integer factor f this is `tf.image.resize(..., method="area")`: output pixel (i, j) is the
    mean of the f x f input block it covers, so nothing aliases. Means are rounded half up to uint8.

    Args:
        image: uint8 array `[H, W, C]` with `H == W` a multiple of `size`.
        size: side of the output.

    Returns:
        uint8 array `[size, size, C]`.

    Raises:
        ValueError: the image is not square or its side is not a multiple of `size`.
    """
    height, width, channels = image.shape
    if height != width or height % size:
        raise ValueError(
            f"image must be square with a side that is a multiple of {size}, got {height}x{width}."
        )
    factor = height // size
    if factor == 1:
        return np.asarray(image, dtype=np.uint8)
    blocks = image.reshape(size, factor, size, factor, channels).astype(np.float32)
    return np.floor(blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)


def read_png(path: pathlib.Path, *, dataset: str, source: str) -> np.ndarray:
    """Reads one RGB(A) image file as a uint8 `[H, W, 3]` array.

    Args:
        path: the image file.
        dataset: the builder's name, for the message.
        source: where the file comes from, for the message.

    Returns:
        uint8 array `[H, W, 3]`; an alpha channel, if any, is dropped.

    Raises:
        ManualFileNotFoundError: the file does not exist.
        ManualFileFormatError: it is not a readable image, or not RGB.
    """
    # Imported here so that registering the builders does not need Pillow, only reading PNGs does.
    import PIL.Image

    try:
        with PIL.Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode not in ("RGB", "RGBA"):
                raise format_error(path, f"the image has mode {mode!r}; expected 'RGB'.")
            array = np.asarray(image)
    except FileNotFoundError:
        raise ManualFileNotFoundError(
            f"{dataset} needs the image {path.name!r} from {source}, expected at {path}, but it "
            "was not found; the images folder is incomplete."
        ) from None
    except (OSError, SyntaxError) as error:
        # PIL reports unreadable and truncated images as OSError (UnidentifiedImageError included).
        raise format_error(path, f"it is not a readable PNG image ({error}).") from None
    return array[..., :3]


def features_dict(
    *,
    image_shape: tuple[int, int, int],
    factor_names: Sequence[str],
    factor_sizes: Sequence[int],
    class_names: dict[str, Sequence[str]] | None = None,
    value_factor_names: Sequence[str] = (),
) -> tfds.features.FeaturesDict:
    """The features every real-data builder writes.

    Args:
        image_shape: `(64, 64, channels)`.
        factor_names: factor names, in the dataset's order.
        factor_sizes: number of values of each factor.
        class_names: optional names of the values of some factors, by factor name.
        value_factor_names: factors whose stored value is written as `value_<factor>`.

    Returns:
        `image` (uint8), `index` (int64 row of the source file), `label_<factor>` (`ClassLabel`)
        for every factor and `value_<factor>` (float32) for those in `value_factor_names`.
    """
    class_names = class_names or {}
    features = {
        "image": tfds.features.Image(shape=image_shape, dtype=np.uint8),
        "index": tfds.features.Scalar(
            dtype=np.int64,
            doc="Position of the image in the source file (its flat grid index in a full release).",
        ),
    }
    for name, size in zip(factor_names, factor_sizes):
        if name in class_names:
            features[f"label_{name}"] = tfds.features.ClassLabel(names=list(class_names[name]))
        else:
            features[f"label_{name}"] = tfds.features.ClassLabel(num_classes=size)
    for name in value_factor_names:
        features[f"value_{name}"] = tfds.features.Scalar(
            dtype=np.float32, doc=f"Value of the {name} factor as stored in the release."
        )
    return tfds.features.FeaturesDict(features)


def example(
    image: np.ndarray,
    index: int,
    factor_names: Sequence[str],
    labels: np.ndarray,
    values: np.ndarray | None = None,
    value_factor_names: Sequence[str] = (),
) -> dict:
    """One example in the layout of `features_dict`.

    Args:
        image: uint8 image `[64, 64, C]`.
        index: row of the image in the source file.
        factor_names: factor names, in the order of `labels`.
        labels: int factor indices, one per factor.
        values: optional stored values, in the order of `value_factor_names`.
        value_factor_names: names of the factors in `values`.

    Returns:
        The example dict.
    """
    record = {"image": image, "index": int(index)}
    for column, name in enumerate(factor_names):
        record[f"label_{name}"] = int(labels[column])
    for column, name in enumerate(value_factor_names):
        record[f"value_{name}"] = np.float32(values[column])
    return record
