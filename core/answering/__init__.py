"""Stage 4, the answer, grounded in the execution record.

The product writes the facts itself (`facts`: what failed and why, then each task's result as its
model gave it); the controller adds at most a few sentences of connecting prose, each checked
against the request and the record before it is shown (`claims`). `evaluation` measures both over
a fixed set of records (`main.py eval answers`).
"""
