"""The ``hpsearch`` click group: its help, its version, and the commands of the modules next to
this one; ``entry`` is the console script.

Commands that do not train (``--help``, ``list``, ``show``, ``space``, ``check``) never import
TensorFlow: every heavy import happens inside the command that needs it.

Errors meant for the user (:class:`~hpsearch._errors.HPSearchError`) print one line and exit with
2 (usage / configuration) or 1 (runtime); click's own usage errors exit 2 as usual.
"""

from __future__ import annotations

import click

from hpsearch import __version__
from hpsearch.cli._process import claim_process
from hpsearch.cli._read import check, export, list_, report, show, space
from hpsearch.cli._lr_find import lr_find
from hpsearch.cli._manage import dashboard, delete, enqueue
from hpsearch.cli._retrain import retrain
from hpsearch.cli._run import study, worker
from hpsearch.cli._serve import server, tensorboard_, ui

__all__ = ["entry", "main"]

_EPILOG = (
    "\b\nEnvironment:\n"
    "  HPSEARCH_HOME        folder of the local stores, checkpoints and artifacts (default ./mlruns)\n"
    "  HPSEARCH_STORAGE     Optuna storage URL (same as --storage)\n"
    "  MLFLOW_TRACKING_URI  MLflow tracking URI (same as --tracking-uri)\n"
    "  HPSEARCH_VERBOSE=1   show third-party warnings and log lines on the terminal\n\n"
    "Docs: README.md. Every command that reads a study takes --storage / --tracking-uri."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=_EPILOG)
@click.version_option(__version__, prog_name="hpsearch")
def main() -> None:
    """Hyperparameter search for tf.keras CNNs: Optuna trials, MLflow tracking, resumable studies.

    \b
    Quick start (CIFAR-10, a few minutes on a laptop CPU):
      hpsearch study cifar10 --trials 3 --epochs 2 --subset 2000 --study-name quick
      hpsearch show quick
      hpsearch ui
    """


for _command in (study, worker, retrain, lr_find, list_, show, space, report, export, check, enqueue, delete, ui, server, tensorboard_, dashboard):
    main.add_command(_command)


def entry() -> None:
    """Console-script entry point: the CLI owns this process."""
    claim_process()
    main()
