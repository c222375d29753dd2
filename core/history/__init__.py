"""Conversations: their turns in SQLite with migrations (`store`), a conversation's folder of
attachments and artifacts (`conversation`), and the listener that persists each turn from the
engine's event stream as it arrives (`recorder`), so a crash at any stage keeps the turn up to its
last event. Rendering (Markdown, HTML) belongs to the front ends.
"""
