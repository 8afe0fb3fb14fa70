"""Composition root: the ``sourcewatch`` command wires the apps together."""
