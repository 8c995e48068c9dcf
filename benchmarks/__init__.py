"""Benchmarks: the petstore against a hand-written floor app (``run.py``), and a profile of one request."""
