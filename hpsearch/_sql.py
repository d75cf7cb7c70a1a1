"""Is a database there? The one SQL reachability probe, for the Optuna storage and the MLflow
tracking store alike (base layer)."""

from __future__ import annotations

from urllib.parse import urlsplit

from hpsearch._errors import UsageError
from hpsearch._locations import redact

__all__ = ["probe"]


def probe(url: str, *, flag: str, timeout: int = 10) -> str | None:
    """Connect to the database at ``url`` once: ``None`` when it answers, else one password-free
    line saying why not (the driver's own first line, or the error's type when it has none).

    Args:
        flag: the option the URL came from (``--storage``), named in the missing-driver message.

    Raises:
        UsageError: the URL needs a database driver that is not installed.
    """
    import sqlalchemy

    scheme = urlsplit(url).scheme.split("+")[0]
    connect_args = {} if scheme == "mssql" else {"connect_timeout": timeout}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except ModuleNotFoundError as e:
        raise UsageError(f"{flag} {redact(url)} needs the database driver {e.name!r}: pip install 'hpsearch[postgres]'.") from None
    except Exception as e:  # noqa: BLE001 - drivers raise many kinds
        detail = str(getattr(e, "orig", e)).strip()
        return redact(detail.splitlines()[0]) if detail else type(e).__name__
    return None
