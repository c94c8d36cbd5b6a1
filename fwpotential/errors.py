"""Exceptions and warnings raised by fwpotential.

Every error the package raises on purpose is an :class:`FWError`. Errors caused by
what the user passed in are also :class:`ValueError` (via :class:`InputError`), so
``except ValueError`` keeps working for callers that do not know this package.
"""

from __future__ import annotations

__all__ = [
    "FWError",
    "InputError",
    "ExpressionError",
    "DimensionError",
    "NonFiniteError",
    "CovarianceError",
    "GridError",
    "AttractorError",
    "ConvergenceError",
    "FWWarning",
]


class FWError(Exception):
    """Base class of every error raised by fwpotential."""


class InputError(FWError, ValueError):
    """Something passed in by the user is invalid; the message says what to change."""


class ExpressionError(InputError):
    """An expression does not parse, or uses symbols that are not variables or parameters."""


class DimensionError(InputError):
    """Arrays, losses, noise laws or grids disagree on the dimension d."""


class NonFiniteError(InputError):
    """A loss, gradient, drift or covariance evaluated to NaN or +-inf at some point."""


class CovarianceError(InputError):
    """A covariance is not symmetric positive semi-definite (or not definite where needed)."""


class GridError(InputError):
    """A grid is malformed or too coarse for the requested computation."""


class AttractorError(InputError):
    """An attractor is off the grid, not near a stable equilibrium, or at a saddle."""


class ConvergenceError(FWError, RuntimeError):
    """An iterative method did not reach its tolerance."""


class FWWarning(UserWarning):
    """A recoverable event that is also recorded in a result's ``info``."""
