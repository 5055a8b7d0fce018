"""What ships inside the package, so a pip-installed sfm runs without the source tree.

`templates/` (alert texts, zh and en), `authorities.toml` (the skeleton of who is
told), `sfm.toml` (the server config `sfm init` writes), and `demo/` (the demo
factories and the upstream the simulator serves).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged(*parts: str) -> Path:
    """A file or folder shipped in `monitor/defaults` (installed as plain files by pip)."""
    return Path(str(files(__name__).joinpath(*parts)))
