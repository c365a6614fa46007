"""The viewer's built JavaScript bundle (frontend/, built by Vite into VIEWER_BUNDLE_DIR).

The page reads Vite's manifest to name the entry script and its CSS. The files are already
content-hashed by Vite and import each other by those names, so they are linked under
STATIC_URL as they are, never through a second (Django) hashing step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

ENTRY = "src/main.js"
BUILD_HINT = "run scripts/build-frontend.sh (npm ci + vite build), then reload"


class BundleMissing(Exception):
    """The bundle has not been built (or is damaged); ``str(exc)`` says what to do."""


@dataclass(frozen=True)
class ViewerAssets:
    script: str
    styles: list[str] = field(default_factory=list)
    preloads: list[str] = field(default_factory=list)


_cache: dict[tuple[str, float], ViewerAssets] = {}


def base_url() -> str:
    return f"{settings.STATIC_URL}viewer/"


def viewer_assets() -> ViewerAssets:
    """URLs of the entry script, its stylesheets and the chunks worth preloading."""
    path = Path(settings.VIEWER_BUNDLE_DIR) / "manifest.json"
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise BundleMissing(f"the viewer is not built: {path} does not exist; {BUILD_HINT}") from None
    if key not in _cache:
        try:
            manifest = json.loads(path.read_text())
            entry = manifest[ENTRY]
        except (OSError, ValueError, KeyError) as e:
            raise BundleMissing(f"the viewer's manifest {path} is unreadable ({e}); {BUILD_HINT}") from None
        base = base_url()
        _cache.clear()
        _cache[key] = ViewerAssets(
            script=base + entry["file"],
            styles=[base + css for css in entry.get("css", [])],
            preloads=[base + manifest[name]["file"] for name in entry.get("imports", []) if name in manifest],
        )
    return _cache[key]
