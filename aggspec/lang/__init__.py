"""The language: text to syntax tree (lark), expressions and parameter overrides.

Pure Python and lark; nothing here knows about networks, shapes or torch.
``grammar`` finds ``agg.lark``, ``parser`` builds the syntax tree of
``syntax``, ``expressions`` evaluates expressions, ``params`` checks
``param`` overrides. Importing this package imports none of them.
"""
