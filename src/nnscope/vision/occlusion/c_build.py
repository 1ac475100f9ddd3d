"""Compiling c_loops.c once per machine and loading it with ctypes.

It is compiled on first use with the system's C compiler (`cc`, or $CC) for this CPU, into
$NNSCOPE_HOME/kernels/, named by a hash of the source and the compiler command, so an edit or
another machine gets its own build. Where no compiler works, `load()` says why once on stderr (a
RuntimeWarning) and returns None, and incremental inference runs its torch version of the same
loops (slower, same maps to ~1e-7). $NNSCOPE_NO_KERNELS set: the torch loops, without a word.
"""

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

SOURCE = Path(__file__).with_name("c_loops.c")
FLAGS = ["-O3", "-march=native", "-shared", "-fPIC", "-std=c99"]
_int, _ptr = ctypes.c_int, ctypes.c_void_p
SIGNATURES = {  # argument types of each C function, in order; c_loops.py passes them by name
    "first_block": [_ptr, _int, _int, _ptr, _ptr, _ptr, _int, _int, ctypes.c_float, _ptr, _ptr, _int, _int, _int,
                    _int, _int, _ptr, _ptr, _int, _ptr, _ptr, _int, _ptr],
    "paste_region": [_ptr, _int, _int, _int, _ptr, _ptr, _ptr, _int, _int, _int, _ptr, _ptr, _ptr, _int, _int,
                     _int, _ptr],
    "pool_norm_relu": [_ptr, _int, _int, _int, _int, _int, _ptr, _ptr, _ptr],
    "window_logits": [_ptr, _int, _int, _int, _ptr, _int, _int, _int, _ptr, _ptr, _ptr, _int, _ptr, _int, _int, _int,
                      _ptr, _ptr, _ptr],
}


class BuildFailed(Exception):
    """Why the C loops could not be built or loaded here (one line)."""


def _compiler() -> list[str]:
    """The C compiler command ($CC or cc)."""
    command = os.environ.get("CC", "cc").split()
    if not command or shutil.which(command[0]) is None:
        raise BuildFailed(f"no C compiler: {command[0] if command else '$CC is empty'!r} not found")
    return command


def _build(compiler: list[str], library: Path) -> None:
    """Compile SOURCE into `library`: built beside it, then renamed over it, so a half-written
    library is never loaded."""
    tmp = None
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=library.parent, prefix=".build-", suffix=".so")
        os.close(fd)
        subprocess.run([*compiler, *FLAGS, "-o", tmp, str(SOURCE)], check=True, capture_output=True, timeout=120)
        os.replace(tmp, library)
    except subprocess.CalledProcessError as e:
        said = next((line for line in e.stderr.decode(errors="replace").splitlines() if line.strip()), "")
        raise BuildFailed(f"'{' '.join(compiler)}' failed (exit code {e.returncode}){': ' + said if said else ''}")
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildFailed(f"building {library} failed: {e}")
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _library_path(compiler: list[str]) -> Path:
    """Where the build for this source, compiler and CPU lives in the cache folder."""
    from nnscope.paths import nnscope_home

    # the build is for this CPU (-march=native): a cache folder shared with another CPU gets its own
    key = SOURCE.read_bytes() + " ".join(compiler + FLAGS).encode() + _cpu().encode()
    return nnscope_home() / "kernels" / f"c_loops-{hashlib.sha256(key).hexdigest()[:16]}.so"


def _loaded(library: Path) -> ctypes.CDLL:
    """The library with every function's argument types declared."""
    try:
        lib = ctypes.CDLL(str(library))
        for name, argtypes in SIGNATURES.items():
            getattr(lib, name).argtypes = argtypes
            getattr(lib, name).restype = None
    except (OSError, AttributeError) as e:
        raise BuildFailed(f"{library} does not load: {e}")
    return lib


@functools.cache
def load() -> ctypes.CDLL | None:
    """The compiled library, or None (after one RuntimeWarning saying why) where it cannot be built,
    or when $NNSCOPE_NO_KERNELS is set."""
    if os.environ.get("NNSCOPE_NO_KERNELS"):
        return None
    try:
        compiler = _compiler()
        library = _library_path(compiler)
        if not library.exists():
            _build(compiler, library)
        return _loaded(library)
    except BuildFailed as e:
        warnings.warn(f"nnscope: occlusion runs its torch loops (same maps, slower): the C loops are not "
                      f"available: {e}", RuntimeWarning, stacklevel=2)
        return None


def _cpu() -> str:
    """What the compiled code depends on of this machine: its architecture and CPU features."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"
