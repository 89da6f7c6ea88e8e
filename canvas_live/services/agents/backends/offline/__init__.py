"""The offline backend: deterministic stand-ins for the built-in agents, no model and no network."""
