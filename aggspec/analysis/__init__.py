"""Pure functions of the IR: counts (``counts``), hops within stages (``hops``,
numpy and scipy) and the ``analyze`` report (``report``). Importing this
package imports none of them, so ``aggspec check`` pays only for ``counts``.
"""
