"""Canvases: the JSON Canvas format, edits, files on disk (written safely beside a learner's editor),
the async service that locks, caches and announces them, the vault watcher, and the colour palettes."""
