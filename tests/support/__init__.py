"""What the tests share: the hub's processes, topics and ClickHouse engines for a test, event
sequences, and what a worker run must output. The tests import it as ``support`` (pyproject's
``pythonpath = ["tests"]``); the benchmarks in bench/ put tests/ on their path to use it too.
"""
