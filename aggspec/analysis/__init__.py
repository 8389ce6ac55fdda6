"""Pure functions of the IR: counts (``counts``), hops within stages (``hops``,
numpy and scipy) and the ``analyze`` report as data (``report``; the command
line renders it, in ``aggspec.cli.report_text``). Importing this package
imports none of them, so ``aggspec check`` pays only for ``counts``; none of
them imports the parser or the CLI.
"""
