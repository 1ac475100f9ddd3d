"""The C loops of occlusion_kernels.c, compiled once per machine and loaded with ctypes.

They are compiled on first use with the system's C compiler (`cc`, or $CC) for this CPU, into
$NNSCOPE_HOME/kernels/, named by a hash of the source and the compiler command, so an edit or
another machine gets its own build. Where no compiler works, `load()` returns None and
incremental inference runs its torch version of the same loops (slower, same maps to ~1e-7).
ctypes releases the GIL during a call, so the loops of two batches run on two cores at once.
"""

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

SOURCE = Path(__file__).with_name("occlusion_kernels.c")
FLAGS = ["-O3", "-march=native", "-shared", "-fPIC", "-std=c99"]
_int, _ptr = ctypes.c_int, ctypes.c_void_p
SIGNATURES = {  # argument types of each C function, in order
    "first_block": [_ptr, _int, _int, _ptr, _ptr, _ptr, _int, _int, ctypes.c_float, _ptr, _ptr, _int, _int, _int,
                    _int, _int, _ptr, _ptr, _int, _ptr, _ptr, _int, _ptr],
    "paste_region": [_ptr, _int, _int, _int, _ptr, _ptr, _ptr, _int, _int, _int, _ptr, _ptr, _ptr, _int, _int,
                     _int, _ptr],
    "pool_norm_relu": [_ptr, _int, _int, _int, _int, _int, _ptr, _ptr, _ptr],
    "window_logits": [_ptr, _int, _int, _int, _ptr, _int, _int, _int, _ptr, _ptr, _ptr, _int, _ptr, _int, _int, _int,
                      _ptr, _ptr, _ptr],
}


def fits(channels: int, kernel_size: int, side: int = 28) -> bool:
    """Whether first_block's stack buffers hold a first block of `channels` outputs and k x k
    kernels on side x side images (its input region, at most 36 x 36, and 4 x 256 conv outputs)."""
    return channels <= 256 and side + kernel_size - 1 <= 36


def for_model(config):
    """The compiled library if it serves a model of this config (nnscope.model.CNNConfig), else None."""
    return load() if fits(config.channels[0], config.kernel_size) else None


def _compiler() -> list[str] | None:
    """The C compiler command ($CC or cc), or None if there is none."""
    command = os.environ.get("CC", "cc").split()
    return command if command and shutil.which(command[0]) else None


def _build(compiler: list[str], library: Path) -> bool:
    """Compile SOURCE into `library`: built beside it, then renamed over it, so a half-written
    library is never loaded. False if the folder or the compiler fails."""
    tmp = None
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=library.parent, prefix=".build-", suffix=".so")
        os.close(fd)
        subprocess.run([*compiler, *FLAGS, "-o", tmp, str(SOURCE)], check=True, capture_output=True, timeout=120)
        os.replace(tmp, library)
        return True
    except (OSError, subprocess.SubprocessError):
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


@functools.cache
def load():
    """The compiled library (a ctypes.CDLL with typed functions), or None without a working compiler
    or when $NNSCOPE_NO_KERNELS is set."""
    from nnscope.paths import nnscope_home

    compiler = _compiler()
    if compiler is None or os.environ.get("NNSCOPE_NO_KERNELS"):
        return None
    # the build is for this CPU (-march=native): a cache folder shared with another CPU gets its own
    key = SOURCE.read_bytes() + " ".join(compiler + FLAGS).encode() + _cpu().encode()
    library = nnscope_home() / "kernels" / f"occlusion_kernels-{hashlib.sha256(key).hexdigest()[:16]}.so"
    if not library.exists() and not _build(compiler, library):
        return None
    try:
        lib = ctypes.CDLL(str(library))
        for name, argtypes in SIGNATURES.items():
            getattr(lib, name).argtypes = argtypes
            getattr(lib, name).restype = None
    except (OSError, AttributeError):  # not loadable here after all: the torch loops will do
        return None
    return lib


def _cpu() -> str:
    """What the compiled code depends on of this machine: its architecture and CPU features."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


def call(function, *args) -> None:
    """Call a C loop: tensors (contiguous float32) and numpy arrays (as int32 copies) are passed
    by address and kept alive until it returns, numbers and None as they are."""
    keep = [torch.from_numpy(np.ascontiguousarray(a, np.int32)) if isinstance(a, np.ndarray) else a for a in args]
    for a in keep:
        assert not isinstance(a, torch.Tensor) or (a.is_contiguous() and a.dtype in (torch.float32, torch.int32))
    function(*[a.data_ptr() if isinstance(a, torch.Tensor) else a for a in keep])
