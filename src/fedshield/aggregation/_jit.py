"""Optional numba JIT.

Why: coordinate-wise rules need a compiled loop to beat numpy's per-column
sorting by the margins FedShield promises, and numba is the lightest way to
get one. Without numba every kernel falls back to a numpy path that gives the
same results, only slower. Set ``FEDSHIELD_DISABLE_NUMBA=1`` to force that.
"""

from __future__ import annotations

import os

try:
    if os.environ.get("FEDSHIELD_DISABLE_NUMBA"):
        raise ImportError("disabled by FEDSHIELD_DISABLE_NUMBA")
    import numba as _numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    _numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "njit", "njit_reduce", "prefetch"]


def njit(fn):
    """Compile ``fn`` (cached on disk, GIL released) when numba is available."""
    if not HAVE_NUMBA:
        return fn
    return _numba.njit(cache=True, nogil=True)(fn)


def njit_reduce(fn):
    """Like ``njit`` but lets LLVM reassociate float sums so reductions vectorise.

    Only ``reassoc``/``contract`` are enabled: NaN and Inf keep propagating,
    which the finiteness checks rely on.
    """
    if not HAVE_NUMBA:
        return fn
    return _numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})(fn)


if HAVE_NUMBA:
    from llvmlite import ir as _ir
    from numba.core import cgutils as _cgutils
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def prefetch(typingctx, arr, idx):
        """Hint the CPU to pull ``arr[idx]``'s cache line in (LLVM ``llvm.prefetch``; never faults).

        Why: the coordinate kernels sort one block of columns while the next is
        still in DRAM; prefetching it overlaps the memory reads with the sorting.
        """
        sig = _numba.types.void(arr, idx)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = _cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
            i8p = _ir.IntType(8).as_pointer()
            i32 = _ir.IntType(32)
            fnty = _ir.FunctionType(_ir.VoidType(), [i8p, i32, i32, i32])
            fn = _cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # read, high temporal locality (keep in all cache levels), data cache
            flags = [_ir.Constant(i32, 0), _ir.Constant(i32, 3), _ir.Constant(i32, 1)]
            builder.call(fn, [builder.bitcast(ptr, i8p), *flags])
            return context.get_dummy_value()

        return sig, codegen

else:  # pragma: no cover

    def prefetch(arr, idx):
        return None
