"""The engine: a request becomes a task graph, models are chosen, the graph runs, an answer is written.

The top level holds the four stages and what they share: `engine` (wires them), `executor`,
`selector`, `events` (the one event stream every front end listens to), `turn` (the
record of one turn, built from those events), `plan` and `tasks` (plan types and the task
catalogue), `experts` (the interface the executor runs experts through; `models` implements it
without either package importing the other). Concerns with more than one module are subpackages:
`planning`, `answering` (stage 4, grounded in the record), `llm`, `history`, `offline`. No Qt, torch, transformers or diffusers here
(import-linter checks it in the test run); the controller's llama_cpp is imported on first use.
"""
