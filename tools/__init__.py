"""Scripts that make canvas-live's releases from a checkout (`make obsidian-release`); not in the wheel."""
