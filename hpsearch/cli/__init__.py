"""Thin click commands over the library (``hpsearch.cli:entry`` is the console script).

``_app`` assembles the group from ``_run`` (study, worker), ``_read`` (list, show, space, report,
export, check) and ``_serve`` (ui, server, tensorboard); ``_noise``, ``_options``, ``_process``,
``_messages`` and ``_progress`` are their helpers.
"""

from hpsearch.cli._app import entry, main

__all__ = ["entry", "main"]
