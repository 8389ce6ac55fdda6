"""Training: data (``data``), the loop, checkpoints and distributed runs.

Heavier than the rest of aggspec (torch, scikit-learn's bundled digits,
safetensors, Pillow), so nothing outside ``cli`` and ``aggspec.train`` /
``aggspec.evaluate`` imports it.
"""
