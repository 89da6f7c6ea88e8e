"""Wire types and JSON-RPC 2.0 for canvas-live: parsing, validation, dispatch, errors, event frames.

This package imports no other package of the project; `services` and `server` build on it.
"""
