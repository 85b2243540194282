"""SAX (Symbolic Aggregate approXimation, Lin et al. 2003) and its MINDIST lower bound.

A window is z-normalised, reduced by PAA (piecewise aggregate approximation) to ``w`` segment
means, and each mean becomes a letter by the Gaussian breakpoints that cut N(0, 1) into ``a``
equiprobable regions. MINDIST between two words never exceeds the Euclidean distance of the two
z-normalised series, so it can prune candidates in an exact nearest-neighbour search.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

MIN_ALPHABET, MAX_ALPHABET = 3, 20
FLAT_EPS = 1e-8  # a window whose std is below this (relative to its level) is flat: z-normalised to zeros


def znorm(x, axis: int = -1) -> np.ndarray:
    """Z-normalise along ``axis`` (mean 0, population std 1); flat series become all zeros.

    Args:
        x: array (..., n).
        axis: the time axis.
    Returns:
        float64 array of the same shape.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    flat = std <= FLAT_EPS * np.maximum(1.0, np.abs(mean))
    return np.where(flat, 0.0, (x - mean) / np.where(flat, 1.0, std))


@lru_cache(maxsize=64)
def _paa_weights(n: int, w: int) -> np.ndarray:
    """(w, n) matrix whose rows average the samples of each of ``w`` equal-length segments.

    When ``w`` does not divide ``n`` a sample straddling two segments is shared between them by
    the fraction of it lying in each (fractional PAA), so every segment spans exactly n/w samples.
    """
    if n < 1 or w < 1 or w > n:
        raise ValueError(f"PAA needs 1 <= w <= n, got w={w}, n={n}")
    edges = np.arange(w + 1) * (n / w)
    lo, hi = np.arange(n), np.arange(n) + 1.0
    overlap = np.clip(np.minimum(hi[None, :], edges[1:, None]) - np.maximum(lo[None, :], edges[:-1, None]), 0, None)
    return overlap / (n / w)


def paa(x, w: int) -> np.ndarray:
    """Piecewise aggregate approximation: ``w`` segment means of each row of ``x`` (..., n)."""
    x = np.asarray(x, dtype=np.float64)
    return x @ _paa_weights(x.shape[-1], int(w)).T


def _check_alphabet(a: int) -> int:
    a = int(a)
    if not MIN_ALPHABET <= a <= MAX_ALPHABET:
        raise ValueError(f"SAX alphabet size must be in {MIN_ALPHABET}..{MAX_ALPHABET}, got {a}")
    return a


def normal_ppf(p: float) -> float:
    """Quantile of the standard normal: scipy when present, else Acklam's rational approximation
    polished by two Newton steps on ``erfc`` (accurate to ~1e-15 in double precision)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"normal quantile needs 0 < p < 1, got {p}")
    try:
        from scipy.special import ndtri

        return float(ndtri(p))
    except ImportError:  # pragma: no cover - scipy is normally present
        return _ppf_own(p)


def _ppf_own(p: float) -> float:
    """Acklam (2003) inverse normal CDF + Newton refinement; no dependencies."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    lo = 0.02425
    if p < lo or p > 1 - lo:
        q = math.sqrt(-2 * math.log(p if p < lo else 1 - p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        x = x if p < lo else -x
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    for _ in range(2):  # Newton on Phi(x) - p, Phi via erfc (no cancellation in the tails)
        err = 0.5 * math.erfc(-x / math.sqrt(2)) - p
        x -= err * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x


@lru_cache(maxsize=32)
def breakpoints(a: int) -> tuple[float, ...]:
    """The ``a - 1`` Gaussian breakpoints cutting N(0, 1) into ``a`` equiprobable regions.

    Args:
        a: alphabet size, 3..20.
    Returns:
        Ascending breakpoints beta_1..beta_{a-1}.
    """
    a = _check_alphabet(a)
    return tuple(normal_ppf(i / a) for i in range(1, a))


@lru_cache(maxsize=32)
def dist_table(a: int) -> np.ndarray:
    """The MINDIST lookup table: cell(r, c) = 0 if |r - c| <= 1 else beta_{max-1} - beta_{min}
    (letters 0-based here, so the gap between regions r < c - 1 is bp[c-1] - bp[r])."""
    bp = np.asarray(breakpoints(a))
    r, c = np.meshgrid(np.arange(a), np.arange(a), indexing="ij")
    lo, hi = np.minimum(r, c), np.maximum(r, c)
    table = np.where(hi - lo <= 1, 0.0, bp[np.clip(hi - 1, 0, a - 2)] - bp[np.clip(lo, 0, a - 2)])
    table.setflags(write=False)
    return table


def symbols(x, w: int, a: int) -> np.ndarray:
    """SAX symbols (0-based letter indices) of each row of ``x`` (..., n): znorm -> PAA -> breakpoints.

    Returns:
        uint8 array (..., w).
    """
    bp = np.asarray(breakpoints(a))
    return np.searchsorted(bp, paa(znorm(x), w), side="right").astype(np.uint8)


def to_word(sym) -> str:
    """Letter indices -> the SAX word ("a" is the lowest region)."""
    return "".join(chr(ord("a") + int(s)) for s in np.asarray(sym).ravel())


def from_word(word: str) -> np.ndarray:
    """SAX word -> uint8 letter indices."""
    return np.frombuffer(word.encode("ascii"), dtype=np.uint8) - ord("a")


def sax_word(x, w: int, a: int) -> str:
    """The SAX word of one series.

    Args:
        x: 1-D series (length n >= w).
        w: word length (PAA segments).
        a: alphabet size, 3..20.
    Returns:
        A string of ``w`` letters from "a".
    """
    return to_word(symbols(np.asarray(x, dtype=np.float64)[None, :], w, a)[0])


def mindist(q_sym, c_sym, n: int, a: int) -> np.ndarray:
    """MINDIST lower bound between a query word and one or many candidate words.

    sqrt(n / w) * sqrt(sum_i cell(q_i, c_i)^2), never more than the Euclidean distance of the two
    z-normalised length-``n`` series the words came from.

    Args:
        q_sym: (w,) letter indices of the query.
        c_sym: (w,) or (m, w) letter indices of the candidates.
        n: length of the original series.
        a: alphabet size the words were made with.
    Returns:
        float64 scalar array or (m,) distances.
    """
    q = np.asarray(q_sym, dtype=np.intp)
    c = np.asarray(c_sym, dtype=np.intp)
    cells = dist_table(a)[q, c]
    return np.sqrt(n / q.shape[-1]) * np.sqrt(np.sum(cells * cells, axis=-1))


def euclidean_znorm(q, c) -> np.ndarray:
    """True Euclidean distance between z-normalised series: ``q`` (n,) against ``c`` (n,) or (m, n)."""
    return np.sqrt(np.sum((znorm(c) - znorm(q)) ** 2, axis=-1))
