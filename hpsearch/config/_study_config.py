"""Former home of the study-file schema (one module before issue 10); import from :mod:`hpsearch.config`.

Kept only so that modules still importing ``hpsearch.config._study_config`` work until their
imports are rewritten; delete it then.
"""

from hpsearch.config import *  # noqa: F403
