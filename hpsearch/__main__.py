"""``python -m hpsearch`` == ``hpsearch``."""

from hpsearch.cli import entry

if __name__ == "__main__":
    entry()
