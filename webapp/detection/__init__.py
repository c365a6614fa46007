"""Detection: model versions, detection jobs and results, training jobs and calibrations."""
