"""``python -m hpsearch`` == ``hpsearch``."""

from hpsearch.cli import main

if __name__ == "__main__":
    main()
