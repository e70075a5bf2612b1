"""Small helpers shared by the host-side packages: durations, timestamps, tables, files.

Standard library only; imports nothing else of ``runtime``.
"""
