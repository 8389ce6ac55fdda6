"""Compiler passes over the lowered fx program: one pass per module."""
