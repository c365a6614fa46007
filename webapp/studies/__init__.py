"""Studies: DICOM ingest and storage, indexed as Patient / Study / Series / Instance."""
