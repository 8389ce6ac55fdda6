"""``python -m aggspec`` is the ``aggspec`` command."""

from aggspec.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
