"""The lab beside the engine: synthetic phantoms, evaluation, tuning, benchmarks, figures, demos.

The lab imports the engine (``detector``); the engine never imports the lab
(tests/detector/test_layers.py checks it), so a site that scores studies needs none of this.
Only the command line (``detector.cli``) wires the lab's commands in.
"""
