"""Input validation and small array helpers shared by the indicator modules."""

from __future__ import annotations

import operator

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def series(x: npt.ArrayLike, name: str) -> FloatArray:
    """``x`` as float64, 1-D ``(time,)`` or 2-D ``(time, symbols)``, all finite; else ``ValueError``."""
    a = shaped(x, name)
    require_finite(a, name)
    return a


def shaped(x: npt.ArrayLike, name: str) -> FloatArray:
    """``x`` as float64, 1-D or 2-D, finiteness not yet checked (see ``require_finite``)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (time) or 2-D (time, symbols), got {a.ndim}-D")
    return a


def require_finite(a: FloatArray, name: str) -> None:
    """Raise ``ValueError`` naming the first NaN or infinite cell of ``a`` (earliest bar first)."""
    if not np.isfinite(a).all():
        index = first_index(~np.isfinite(a))
        kind = "NaN" if np.isnan(a[index]) else "an infinite value"
        raise ValueError(f"{name} has {kind} at index {where(index)}")


def aligned(*named: tuple[str, npt.ArrayLike]) -> list[FloatArray]:
    """Validated series that must share one shape."""
    arrays = [series(x, name) for name, x in named]
    require_same_shape(named, arrays)
    return arrays


def require_same_shape(named: tuple[tuple[str, npt.ArrayLike], ...], arrays: list[FloatArray]) -> None:
    if len({a.shape for a in arrays}) > 1:
        described = ", ".join(f"{name} {a.shape}" for (name, _), a in zip(named, arrays, strict=True))
        raise ValueError(f"inputs must share one shape, got {described}")


def period_of(period: int, name: str = "period") -> int:
    """``period`` as a positive int; floats, bools-as-ints aside, are rejected with ``ValueError``."""
    try:
        p = operator.index(period)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {period!r}") from None
    if p < 1:
        raise ValueError(f"{name} must be at least 1, got {p}")
    return p


def first_index(mask: npt.NDArray[np.bool_]) -> tuple[int, ...]:
    # argwhere is row-major, so on a panel the first hit is the earliest bar.
    return tuple(int(i) for i in np.argwhere(mask)[0])


def where(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def nan_like(a: FloatArray) -> FloatArray:
    return np.full(a.shape, np.nan, dtype=np.float64)
