"""Space-filling branching trees (pulmonary arteries, veins, bronchi) grown in millimetres.

A tree serves a cloud of target points sampled inside one lung. Each branch splits its
points into two groups along a jittered principal axis and sends a child towards a point
of each group (the group's medoid, so children always aim inside the lung, also around
the concave heart). Radii follow Murray's law from the number of points each branch
serves, so vessels are thick at the hilum and thin (~1 mm) at the periphery, and the
tree fills the lung the way real vascular trees do. Pure numpy, a few ms per tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Segments:
    """Tapered capsules: a[i] -> b[i] with radii ra[i] -> rb[i] (frame mm)."""

    a: np.ndarray  # (n, 3)
    b: np.ndarray  # (n, 3)
    ra: np.ndarray  # (n,)
    rb: np.ndarray  # (n,)
    gen: np.ndarray  # (n,) generation (0 = root)

    @classmethod
    def from_list(cls, segs: list[tuple]) -> Segments:
        if not segs:
            z3, z1 = np.zeros((0, 3)), np.zeros(0)
            return cls(z3, z3.copy(), z1, z1.copy(), z1.astype(int))
        a, b, ra, rb, g = zip(*segs, strict=True)
        return cls(np.array(a), np.array(b), np.array(ra), np.array(rb), np.array(g, int))

    def __len__(self) -> int:
        return len(self.ra)

    def concat(self, other: Segments) -> Segments:
        return Segments(
            np.concatenate([self.a, other.a]),
            np.concatenate([self.b, other.b]),
            np.concatenate([self.ra, other.ra]),
            np.concatenate([self.rb, other.rb]),
            np.concatenate([self.gen, other.gen]),
        )


def _medoid(p: np.ndarray) -> np.ndarray:
    c = p.mean(axis=0)
    return p[np.argmin(((p - c) ** 2).sum(axis=1))]


def grow_tree(
    rng: np.random.Generator,
    root_a: np.ndarray,
    root_b: np.ndarray,
    points: np.ndarray,
    inside,
    *,
    r_root: float,
    r_min: float,
    min_points: int,
    max_gen: int,
    step: tuple[float, float] = (0.35, 0.6),
    jitter: float = 0.12,
    murray: float = 1.0 / 3.0,
    bend_min_mm: float = 18.0,
    twigs: int = 1,
) -> Segments:
    """Grow a tree from the root segment ``root_a -> root_b`` to fill ``points``.

    ``inside(p)`` says whether a frame point (3,) lies in the lung; branch ends that would
    leave it are pulled towards their (inside) target point.
    """
    n_total = len(points)
    segs: list[tuple] = [(root_a, root_b, r_root, r_root, 0)]
    stack = [(np.asarray(root_b, float), points, r_root, 1)]
    while stack:
        pos, pts, r_par, gen = stack.pop()
        terminal = len(pts) < 2 * min_points or gen > max_gen
        if terminal:
            # a fan of twigs into the last few target points (peripheral arborisation)
            ends = [_medoid(pts)]
            if twigs > 1 and len(pts) > 1:
                pick = rng.choice(len(pts), size=min(twigs - 1, len(pts)), replace=False)
                ends += list(pts[pick])
            for c in ends:
                if np.linalg.norm(c - pos) > 1.0:
                    segs.append((pos, c, r_par * 0.85, max(0.7 * r_par, 0.5 * r_min), gen))
            continue
        cen = pts.mean(axis=0)
        q = pts - cen
        _, vecs = np.linalg.eigh(q.T @ q)
        axis = vecs[:, -1] + rng.normal(0.0, 0.35, 3)
        axis /= np.linalg.norm(axis)
        proj = q @ axis
        k = int(rng.uniform(0.35, 0.65) * (len(proj) - 1))
        thr = np.partition(proj, k)[k]
        for grp in (pts[proj < thr], pts[proj >= thr]):
            if len(grp) == 0:
                continue
            r = min(r_root * (len(grp) / n_total) ** murray, 0.92 * r_par)
            c = _medoid(grp)
            d = c - pos
            length = math.sqrt(float(d @ d))
            if length < 1.0:
                stack.append((pos, grp, r, gen + 1))
                continue
            frac = rng.uniform(*step)
            end = pos + frac * d + rng.normal(0.0, jitter * frac * length, 3)
            for _ in range(4):
                if inside(end):
                    break
                frac = min(1.0, frac * 1.35 + 0.1)
                end = pos + frac * d
            if r < r_min:
                # too thin to continue: one last twig to the group's centre
                segs.append((pos, c, r_par * 0.8, max(r, 0.5 * r_min), gen))
                continue
            seg_len = float(np.linalg.norm(end - pos))
            if seg_len > bend_min_mm:
                # a gentle bend: split long segments at a displaced midpoint
                mid = 0.5 * (pos + end) + rng.normal(0.0, 0.07 * seg_len, 3)
                segs.append((pos, mid, r, r * 0.98, gen))
                segs.append((mid, end, r * 0.98, r * 0.96, gen))
            else:
                segs.append((pos, end, r, r * 0.96, gen))
            stack.append((end, grp, r * 0.96, gen + 1))
    return Segments.from_list(segs)
