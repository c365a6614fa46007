"""Errors raised while reading a CT series; each says what is wrong and what to do.

All subclass :class:`SeriesError` (a ``ValueError``) so callers can catch one type and
show ``str(err)`` to a study coordinator.
"""

from __future__ import annotations


class SeriesError(ValueError):
    """A folder or file cannot be turned into one clean CT volume."""


class NoDicomError(SeriesError):
    """No usable DICOM image file was found at the given path."""


class NotCTError(SeriesError):
    """The series is DICOM but not a CT image series (MR, SR, RTDOSE, ...)."""


class MultipleSeriesError(SeriesError):
    """Several series were found and none was chosen."""

    def __init__(self, message: str, series_uids: list[str] | None = None) -> None:
        super().__init__(message)
        self.series_uids = list(series_uids or [])


class MissingSliceError(SeriesError):
    """A gap in the slice positions is a multiple of the normal slice gap."""


class DuplicateSliceError(SeriesError):
    """Two different images sit at the same slice position."""


class UnevenSpacingError(SeriesError):
    """Slice gaps differ by more than the tolerance."""


class NonAxialError(SeriesError):
    """The slices are coronal, sagittal, oblique or gantry-tilted."""


class MixedOrientationError(SeriesError):
    """Slices of one series have different ImageOrientationPatient."""


class TooFewSlicesError(SeriesError):
    """The series has fewer slices than a volume needs."""


class UnreadablePixelDataError(SeriesError):
    """Pixel data is missing, truncated, of the wrong size or cannot be decoded."""


class InconsistentGridError(SeriesError):
    """Slices disagree on Rows, Columns or PixelSpacing."""


class MissingTagError(SeriesError):
    """A tag needed to place the slices in space is missing or malformed."""


class UnsupportedSeriesError(SeriesError):
    """A CT encoding this reader does not handle yet (e.g. enhanced multi-frame CT)."""
