"""Where a study's data lives: Optuna storage, MLflow tracking, artifacts, checkpoints.

Resolution order for each: the command-line option, then the environment variable, then the
zero-configuration default under the local store folder (``./mlruns``, or ``$HPSEARCH_HOME``):

============  ======================  ==============================================
what          environment variable    default
============  ======================  ==============================================
storage       ``HPSEARCH_STORAGE``    ``sqlite:///<home>/optuna.db``
tracking      ``MLFLOW_TRACKING_URI`` ``sqlite:///<home>/mlflow.db``
artifacts     --                      ``<home>/artifacts`` (for database tracking URIs)
checkpoints   ``HPSEARCH_CHECKPOINT_DIR``  ``<home>/checkpoints``
============  ======================  ==============================================
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

__all__ = ["Locations", "resolve_locations", "redact", "default_home", "unwritable_reason"]

_PASSWORD_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")


def redact(url: str | None) -> str:
    """Hide the password of a URL: ``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``."""
    if not url:
        return ""
    return _PASSWORD_RE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def unwritable_reason(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (made if missing), or ``None`` if one can."""
    if folder.exists() and not folder.is_dir():
        return "a file is in its place"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hpsearch-probe-"):
            pass
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror or e}"
    return None


def default_home() -> Path:
    return Path(os.environ.get("HPSEARCH_HOME") or "mlruns").expanduser().resolve()


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Locations:
    """Resolved locations of one study's data. ``artifact_root`` is ``None`` for tracking
    servers (the server decides where artifacts go)."""

    home: Path
    storage_url: str
    tracking_uri: str
    artifact_root: str | None
    checkpoint_root: Path
    storage_is_default: bool
    tracking_is_default: bool

    def lr_find_folder(self, study_name: str) -> Path:
        """Where ``hpsearch lr-find`` draws a study's plots (one PNG per optimizer); ``delete`` removes it."""
        return self.home / "lr_find" / study_name

    def local_folders(self, study_name: str) -> dict[str, Path]:
        """The folders of this machine a study of that name writes into, by what they are for."""
        folders = {"checkpoint folder": self.checkpoint_root / study_name}
        if self.artifact_root is not None and self.artifact_root.startswith("file:"):
            folders["MLflow artifact folder"] = Path(url2pathname(urlsplit(self.artifact_root).path)) / study_name
        return folders

    def describe(self) -> dict[str, str]:
        """Printable (password-free) summary."""
        return {
            "storage": redact(self.storage_url),
            "tracking": redact(self.tracking_uri),
            "artifacts": self.artifact_root or "(tracking server)",
            "checkpoints": str(self.checkpoint_root),
        }


def _is_server(uri: str) -> bool:
    return urlsplit(uri).scheme in ("http", "https", "databricks")


def resolve_locations(
    storage: str | None = None,
    tracking_uri: str | None = None,
    *,
    home: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
) -> Locations:
    """Resolve every location from explicit values, the environment and the defaults.

    Explicit ``storage``/``tracking_uri`` values win; ``None`` means "use the environment, then
    the default". Nothing is created here.
    """
    home_path = Path(home).expanduser().resolve() if home else default_home()
    storage_url = storage or os.environ.get("HPSEARCH_STORAGE") or None
    tracking = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    storage_default = storage_url is None
    tracking_default = tracking is None
    if storage_url is None:
        storage_url = _sqlite_url(home_path / "optuna.db")
    if tracking is None:
        tracking = _sqlite_url(home_path / "mlflow.db")
    artifact_root = None if _is_server(tracking) else (home_path / "artifacts").as_uri()
    ckpt = checkpoint_dir or os.environ.get("HPSEARCH_CHECKPOINT_DIR") or home_path / "checkpoints"
    return Locations(
        home=home_path,
        storage_url=storage_url,
        tracking_uri=tracking,
        artifact_root=artifact_root,
        checkpoint_root=Path(ckpt).expanduser().resolve(),
        storage_is_default=storage_default,
        tracking_is_default=tracking_default,
    )
