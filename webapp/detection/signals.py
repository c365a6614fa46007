"""Signals the detection app sends.

``job_stage`` is sent by a worker each time a job reaches a checkpoint (a named stage), after
its progress is stored and before the stage runs: a hook for metrics, logs and tests that need
to act while a job is in the middle of its work.
"""

from django.dispatch import Signal

# sender: the job model class; kwargs: job_id, attempt, stage, progress
job_stage = Signal()

# Sent by a worker inside the transaction that stores a detection result (receivers that queue
# work should do it on commit). sender: DetectionResult; kwargs: result_id
result_stored = Signal()
