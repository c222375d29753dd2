"""PySide6 front end. Imports core and the composition root; nothing imports it."""
