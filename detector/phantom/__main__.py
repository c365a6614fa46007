"""``python -m detector.phantom OUT --normals N --abnormals M --seed S --size small``."""

from detector.phantom.cohort import main

raise SystemExit(main())
