"""Reading the legacy (pre-zip) PyTorch pickle the weights ship in, with numpy only.

Torch is never imported: `read_torch_state_dict` unpickles the file into arrays. Every
pickle in the file goes through an allow-list unpickler: the weights are a file we did not
write, and plain `pickle.load` runs whatever code a crafted file names.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

# --- Reading the legacy PyTorch file without torch -----------------------------------------

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None  # filled in once the raw bytes after the pickle are read


@dataclass(frozen=True)
class _PendingTensor:
    """A tensor whose storage bytes come later in the file (legacy format)."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self) -> np.ndarray:
        flat = self.storage.data
        if self.shape and min(self.shape) == 0:
            return np.zeros(self.shape, dtype=flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= flat.size:
            raise ValueError(f"tensor view {self.shape}/{self.stride} is outside its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.shape,
            strides=tuple(s * flat.itemsize for s in self.stride),
            writeable=False,
        )
        # The converted TF weights are stored non-contiguously (e.g. HWIO memory behind an
        # OIHW shape), so honour the strides, then own a contiguous copy (0-d stays 0-d).
        return np.array(view, order="C", copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None):
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


class _AllowListUnpickler(pickle.Unpickler):
    """Unpickles plain data and the globals in `_ALLOWED` only; any other global is refused,
    so a crafted file cannot make unpickling call a function (no code runs)."""

    _ALLOWED: ClassVar[dict[tuple[str, str], object]] = {}

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}") from None


def _load_plain(file) -> object:
    """One pickle of plain data (the file's header and its list of storage keys)."""
    return _AllowListUnpickler(file).load()


class _LegacyTorchUnpickler(_AllowListUnpickler):
    """Unpickles only what a state dict needs: ordered dicts, tensors and their storages."""

    _ALLOWED: ClassVar[dict[tuple[str, str], object]] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        return super().find_class(module, name)

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, view_metadata = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views (pre-0.4 files) are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(np.dtype(storage_type.dtype), int(numel))
        return self.storages[key]


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a legacy (non-zip) `torch.save` state dict into numpy arrays, without torch.

    Layout: magic number, protocol version, sys info, the state-dict pickle (tensors
    point at storages by key), the list of storage keys, then per key an int64
    element count followed by the raw little-endian bytes.
    """
    with open(path, "rb") as file:
        if _load_plain(file) != _LEGACY_MAGIC_NUMBER:
            raise ValueError(f"{path} is not a legacy torch.save file")
        if _load_plain(file) != _LEGACY_PROTOCOL_VERSION:
            raise ValueError(f"{path}: unsupported torch.save protocol")
        sys_info = _load_plain(file)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise ValueError(f"{path}: big-endian files are not supported")
        unpickler = _LegacyTorchUnpickler(file)
        state = unpickler.load()
        storage_keys = _load_plain(file)
        if not isinstance(storage_keys, list):
            raise ValueError(f"{path}: the storage keys are not a list")
        for key in storage_keys:
            storage = unpickler.storages[key]
            (count,) = struct.unpack("<q", file.read(8))
            if count != storage.numel:
                raise ValueError(
                    f"{path}: storage {key} has {count} elements, expected {storage.numel}"
                )
            raw = file.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise ValueError(f"{path} is truncated (storage {key})")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return {name: tensor.materialize() for name, tensor in state.items()}
