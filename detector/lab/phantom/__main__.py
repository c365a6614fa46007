"""``python -m detector.lab.phantom OUT --normals N --abnormals M --seed S --size small``."""

from detector.lab.phantom.cohort import main

raise SystemExit(main())
