"""FusionScreen detection engine: global + local unsupervised anomaly detection on chest LDCT.

A plain Python package (no Django). Implements the method of docs/method.md (after the
project's METHOD.md): read -> resample -> lung mask -> global branch + local branch -> fusion.
"""

__version__ = "0.1.0"
