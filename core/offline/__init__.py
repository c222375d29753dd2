"""Offline by default: `switches` sets the Hugging Face libraries' offline variables before they
are imported; `netguard` refuses and records every connection outside loopback, except inside a
window that the person opened (a download) or to the configured controller server.
"""
