"""Stage 1, planning: a request (with its files and the conversation so far) becomes a task graph.

`planner` asks the controller for a JSON plan under a per-position schema, optionally after listing
the request's steps; `prompting` picks the demos and ranks each step's task types by meaning;
`step_filter` drops listed steps the request does not ask for; `repair` mends what a small model
gets wrong before validation. `evaluation` scores plans on TaskBench-format data (`main.py eval
plan`). Imports core's plan types, task catalogue and controller interface; nothing of models.
"""
