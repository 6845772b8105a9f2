"""Datasets for ``depthscope bench``: bundled digits, or files the user already has.

Nothing is downloaded.  A dataset is named by a spec string:

``digits``
    scikit-learn's bundled 8×8 handwritten digits (1797 images, 64 features, 10 classes).
    Pixel values 0–16 are divided by 16 (the analogue of the paper's division by 255), and a
    fixed stratified split keeps 20 % (360 images) for testing (``random_state=0``).
``mnist:DIR`` and ``fashion-mnist:DIR``
    The four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` in ``DIR``, each either plain or
    gzipped (``.gz``).  Images are flattened and divided by 255.
``cifar10:DIR``
    The python batches of CIFAR-10 (``data_batch_1`` ... ``data_batch_5``, ``test_batch``) in
    ``DIR`` or ``DIR/cifar-10-batches-py``.  These are pickle files; they are read with an
    unpickler that only accepts the plain containers and NumPy arrays that format holds, so a
    file of another kind is refused instead of executed.  Images (3072 bytes) are divided by 255.

A missing or malformed file raises :class:`~depthscope.DepthscopeError` naming the file and the
expected format.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError

__all__ = ["Dataset", "load_dataset", "read_cifar_batch", "read_idx"]

_SPECS = "digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR"
_IDX_TYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_IDX_FORMAT = (
    "an IDX file (magic 0x00 0x00 TYPE NDIM, NDIM big-endian int32 sizes, then the data), "
    "plain or gzipped"
)
_CIFAR_FORMAT = (
    "a CIFAR-10 python batch (a pickled dict with b'data', a uint8 array of shape (N, 3072), "
    "and b'labels', N integers in 0..9)"
)


@dataclass(frozen=True)
class Dataset:
    """A classification dataset, flattened and scaled to [0, 1].

    Attributes
    ----------
    name : str
        The spec it was loaded from (``"digits"``, ``"mnist:/data/mnist"``).
    x_train, x_test : ndarray of float32, shape (n, input_dim)
    y_train, y_test : ndarray of int64, shape (n,)
        Class labels 0 .. n_classes − 1.
    """

    name: str
    x_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int64]

    @property
    def input_dim(self) -> int:
        """Number of input features."""
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (10 for every supported dataset)."""
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def subsample(self, max_train: int | None, max_test: int | None = None) -> Dataset:
        """Keep the first ``max_train`` training and ``max_test`` test examples (None: all)."""
        return Dataset(
            self.name,
            self.x_train[:max_train],
            self.y_train[:max_train],
            self.x_test[:max_test],
            self.y_test[:max_test],
        )


def load_dataset(spec: str) -> Dataset:
    """Load a dataset from its spec: ``digits``, ``mnist:DIR``, ``cifar10:DIR``.

    Parameters
    ----------
    spec : str
        See the module docstring.

    Returns
    -------
    Dataset

    Raises
    ------
    DepthscopeError
        For an unknown spec, a missing folder, or a missing or malformed file.
    """
    kind, _, directory = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "digits" and not directory:
        return _load_digits()
    if kind in ("mnist", "fashion-mnist", "cifar10"):
        if not directory:
            raise DepthscopeError(f"dataset {spec!r} needs a folder: {kind}:DIR.")
        folder = Path(directory).expanduser()
        if not folder.is_dir():
            raise DepthscopeError(f"dataset folder {str(folder)!r} does not exist.")
        if kind == "cifar10":
            return _load_cifar10(spec, folder)
        return _load_idx_dataset(spec, folder)
    raise DepthscopeError(f"unknown dataset {spec!r}; use {_SPECS}.")


def _load_digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DepthscopeError(
            "the digits dataset is the copy bundled with scikit-learn, which is not installed: "
            "pip install scikit-learn (or 'depthscope[all]'), or use mnist:DIR, "
            "fashion-mnist:DIR or cifar10:DIR with files you have."
        ) from None

    x, y = load_digits(return_X_y=True)
    x = (np.asarray(x, dtype=np.float64) / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, np.asarray(y, dtype=np.int64), test_size=0.2, stratify=y, random_state=0
    )
    return Dataset("digits", x_tr, y_tr, x_te, y_te)


def _open_maybe_gzip(folder: Path, stem: str, expected: str) -> tuple[Path, bytes]:
    for name in (stem, stem + ".gz"):
        path = folder / name
        if path.is_file():
            raw = path.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                try:
                    raw = gzip.decompress(raw)
                except (OSError, EOFError) as err:
                    raise DepthscopeError(
                        f"{path}: corrupt gzip data ({err}); expected {expected}."
                    ) from None
            return path, raw
    raise DepthscopeError(f"missing file {str(folder / stem)!r} (or .gz); expected {expected}.")


def read_idx(raw: bytes, path: str | Path = "<bytes>") -> NDArray[Any]:
    """Decode an IDX file's bytes (already decompressed) into an array.

    Parameters
    ----------
    raw : bytes
        The file's content.
    path : str or Path
        Named in error messages.

    Returns
    -------
    ndarray
        Shape given by the header; dtype by the type byte (0x08 is uint8).

    Raises
    ------
    DepthscopeError
        For a bad magic number, an unknown type, or a size that disagrees with the header.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DepthscopeError(f"{path}: bad IDX header {raw[:4]!r}; expected {_IDX_FORMAT}.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DepthscopeError(f"{path}: truncated IDX header; expected {_IDX_FORMAT}.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DepthscopeError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes of data) but the "
            f"file holds {len(raw) - header}; expected {_IDX_FORMAT}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _idx_pair(folder: Path, prefix: str) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    img_path, img_raw = _open_maybe_gzip(folder, f"{prefix}-images-idx3-ubyte", _IDX_FORMAT)
    lab_path, lab_raw = _open_maybe_gzip(folder, f"{prefix}-labels-idx1-ubyte", _IDX_FORMAT)
    images = read_idx(img_raw, img_path)
    labels = read_idx(lab_raw, lab_path)
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DepthscopeError(
            f"{img_path} has shape {images.shape} but {lab_path} has shape {labels.shape}; "
            "expected images (N, rows, cols) and labels (N,)."
        )
    if labels.size and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise DepthscopeError(
            f"{lab_path}: labels must be integers in 0..9 (found NaN, ±inf or a fraction)."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DepthscopeError(f"{lab_path}: labels must be integers in 0..9.")
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32: checked below
        x = (images.reshape(images.shape[0], -1).astype(np.float32)) / np.float32(255.0)
    if not np.isfinite(x).all():
        raise DepthscopeError(
            f"{img_path}: images must be finite numbers within float32 (found NaN, ±inf or a "
            "value too large)."
        )
    return x, labels.astype(np.int64)


def _load_idx_dataset(spec: str, folder: Path) -> Dataset:
    x_tr, y_tr = _idx_pair(folder, "train")
    x_te, y_te = _idx_pair(folder, "t10k")
    return Dataset(spec, x_tr, y_tr, x_te, y_te)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR-10 batch format: only NumPy array reconstruction is allowed."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the CIFAR-10 format holds no {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Read one CIFAR-10 python batch; return images (N, 3072) in [0, 1] and labels (N,).

    Raises
    ------
    DepthscopeError
        If the file is missing, is not a pickle of the CIFAR-10 batch format, or its arrays
        have the wrong shape.
    """
    if not path.is_file():
        raise DepthscopeError(f"missing file {str(path)!r}; expected {_CIFAR_FORMAT}.")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raise DepthscopeError(f"{path}: gzipped; expected {_CIFAR_FORMAT} (extract it first).")
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:
        raise DepthscopeError(f"{path}: cannot read ({err}); expected {_CIFAR_FORMAT}.") from None
    if not isinstance(batch, dict):
        raise DepthscopeError(f"{path}: not a dict; expected {_CIFAR_FORMAT}.")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    try:
        images = np.asarray(data, dtype=np.uint8)
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        images, y = np.empty((0, 0), np.uint8), np.empty(1, np.int64)
    if (
        data is None
        or labels is None
        or images.ndim != 2
        or images.shape[1] != 3072
        or y.shape != (images.shape[0],)
        or (y.size and (y.min() < 0 or y.max() > 9))
    ):
        raise DepthscopeError(f"{path}: wrong keys or shapes; expected {_CIFAR_FORMAT}.")
    return images.astype(np.float32) / np.float32(255.0), y


def _load_cifar10(spec: str, folder: Path) -> Dataset:
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    parts = [read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_te, y_te = read_cifar_batch(folder / "test_batch")
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    return Dataset(spec, x_tr, y_tr, x_te, y_te)
