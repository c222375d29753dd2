"""Planning-quality evaluation on TaskBench-format data: loading, name mapping, metrics, a harness.

Pure Python and no Qt; the harness takes any function that turns a request into a plan, so the
metrics and the data handling are tested without a model.
"""
