"""Experts on a Ray cluster: `service` is the Ray Serve deployment (`main.py experts serve`),
`client` the expert provider the desktop and `ask`/`run` use through `--experts-url` (plain
HTTP; it never imports Ray). `wire` is the JSON both speak."""
