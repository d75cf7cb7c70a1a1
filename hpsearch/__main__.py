"""``python -m hpsearch`` == ``hpsearch``."""

from hpsearch.cli._main import entry

if __name__ == "__main__":
    entry()
