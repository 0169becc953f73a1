"""The pure face pipeline: decode, detect, encode, identify.

Nothing here imports Celery or Redis, so the CLI's ``analyze``, the tests and the
workers all run exactly this code.
"""
