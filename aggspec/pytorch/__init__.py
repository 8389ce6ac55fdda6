"""IR to PyTorch (the only part of aggspec that imports torch).

``lower`` turns the IR into a ``torch.fx`` program, ``passes`` may rewrite
it, ``build`` makes a ``GraphModule`` of it, ``source`` prints it as a
standalone file; ``functions`` maps the dotted names registry entries use to
torch functions and back, ``runtime`` holds the modules and functions compiled
models use, ``port`` loads reference weights and ``smoke`` runs an emitted
file once.
"""
