"""Synthetic chest low-dose CT phantoms and cohorts for training and testing the detector.

``make_phantom(seed, size, lesion_type, lesion_site)`` builds one patient: the HU volume
exactly as written to DICOM (blur and noise included) and its truth masks (lungs,
airways, vessels, lesion). ``generate_cohort`` writes normals and abnormals as DICOM
series with a ``labels.csv``. The anatomy is defined in millimetres, so one seed is the
same patient on the "tiny" (unit tests), "small" (training) and "full" (512x512) grids.
"""

from detector.lab.phantom.cohort import LABEL_COLUMNS, generate_cohort
from detector.lab.phantom.phantom import (
    LESION_TYPES,
    SITES,
    SIZES,
    LesionSpec,
    Phantom,
    make_phantom,
)

__all__ = [
    "LABEL_COLUMNS",
    "LESION_TYPES",
    "SITES",
    "SIZES",
    "LesionSpec",
    "Phantom",
    "generate_cohort",
    "make_phantom",
]
