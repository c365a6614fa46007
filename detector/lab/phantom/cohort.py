"""Write a synthetic cohort: one DICOM series per patient plus ``labels.csv``.

Layout::

    out_dir/labels.csv
    out_dir/FS-<seed>-001/CT/IM0000.dcm ...   one folder per patient, normal or abnormal (neutral
    out_dir/FS-<seed>-002/CT/IM0000.dcm ...   ids, shuffled: labels.csv says which is which)

Patient i of kind k (0 normal, 1 abnormal) uses the phantom seed drawn from
``SeedSequence([seed, k, i])``, so normals and abnormals come from disjoint streams and
adding patients never changes the existing ones. Abnormal j has lesion type
``LESION_TYPES[j % 5]`` and site ``SITES[j % 2]``: ten abnormals cover every type at
both sites. Truth masks are not written; call :func:`make_phantom` with the seed for them.

Command line: ``python -m detector.lab.phantom OUT --normals 10 --abnormals 10 --size small``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid
from tqdm import tqdm

from detector.cohort import LABEL_COLUMNS
from detector.lab.phantom.phantom import LESION_TYPES, SITES, SIZES, make_phantom

SERIES_FOLDER = "CT"


def patient_seed(seed: int, abnormal: bool, index: int) -> int:
    """The phantom seed of patient ``index`` (0-based) of one kind in a cohort."""
    state = np.random.SeedSequence([int(seed), int(abnormal), int(index)]).generate_state(2)
    return int(state[0]) << 32 | int(state[1])


def cohort_plan(normals: int, abnormals: int, seed: int) -> list[dict]:
    """Patient ids, phantom seeds, lesion types and sites, in writing order.

    Patient ids are neutral (``FS-<seed>-<number>``, numbers shuffled by the seed): an id must
    not tell a reader which studies are abnormal; the truth is in labels.csv only.
    """
    numbers = np.random.default_rng([int(seed), 7]).permutation(normals + abnormals) + 1
    plan = []
    for i in range(normals):
        plan.append(
            dict(
                patient_id=f"FS-{seed}-{numbers[i]:03d}",
                seed=patient_seed(seed, False, i),
                lesion_type=None,
                lesion_site=None,
            )
        )
    for j in range(abnormals):
        plan.append(
            dict(
                patient_id=f"FS-{seed}-{numbers[normals + j]:03d}",
                seed=patient_seed(seed, True, j),
                lesion_type=LESION_TYPES[j % len(LESION_TYPES)],
                lesion_site=SITES[j % len(SITES)],
            )
        )
    return plan


def generate_cohort(
    out_dir: Path,
    normals: int,
    abnormals: int,
    seed: int,
    size: str = "small",
    *,
    progress: bool = True,
    transfer_syntax: str = "explicit_le",
) -> Path:
    """Write ``normals`` + ``abnormals`` phantoms as DICOM series; return labels.csv."""
    from detector.io import write_series

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    if normals < 0 or abnormals < 0:
        raise ValueError("normals and abnormals must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    plan = cohort_plan(normals, abnormals, seed)
    for item in tqdm(plan, desc=f"cohort {size}", unit="patient", disable=not progress):
        pid = item["patient_id"]
        ph = make_phantom(item["seed"], size, item["lesion_type"], item["lesion_site"])
        ph.patient_id = pid
        study_uid = generate_uid(entropy_srcs=["FusionScreen phantom study", str(seed), pid])
        series_uid = generate_uid(entropy_srcs=["FusionScreen phantom series", str(seed), pid])
        ph.volume.meta.update(patient_id=pid, study_instance_uid=study_uid, series_instance_uid=series_uid)
        folder = f"{pid}/{SERIES_FOLDER}"
        write_series(
            ph.volume,
            out / folder,
            patient_id=pid,
            patient_name=f"PHANTOM^{pid}",
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            series_description=f"FusionScreen phantom LDCT ({size})",
            transfer_syntax=transfer_syntax,
            overwrite=True,
        )
        row = dict.fromkeys(LABEL_COLUMNS, "")
        row.update(study_instance_uid=study_uid, patient_id=pid, folder=folder)
        if ph.lesion is None:
            row["label"] = "normal"
        else:
            x, y, z = ph.lesion.center_lps_mm
            row.update(
                label="abnormal",
                lesion_type=ph.lesion.lesion_type,
                lesion_center_x_mm=f"{x:.2f}",
                lesion_center_y_mm=f"{y:.2f}",
                lesion_center_z_mm=f"{z:.2f}",
                lesion_diameter_mm=f"{ph.lesion.diameter_mm:.2f}",
                lesion_site=ph.lesion.site,
            )
        rows.append(row)
    labels = out / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LABEL_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a synthetic chest LDCT cohort (DICOM).")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--normals", type=int, default=10)
    ap.add_argument("--abnormals", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--transfer-syntax", default="explicit_le")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    path = generate_cohort(
        a.out_dir,
        a.normals,
        a.abnormals,
        a.seed,
        a.size,
        progress=not a.quiet,
        transfer_syntax=a.transfer_syntax,
    )
    print(path)
    return 0
