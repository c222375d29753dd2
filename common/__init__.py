"""The few types that every layer shares and that belong to none of them.

A cancel token (one type for the engine, the runners and the downloads) and a listener list (the
engine's event stream and a download's progress both fan out through it). This package imports
nothing from the project, so `core` and `models` can both build on it without knowing each other.
"""
