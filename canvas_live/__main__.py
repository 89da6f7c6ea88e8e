"""`python -m canvas_live`: the same command line as `canvas-live` (`serve`, `--version`, …)."""

from canvas_live.server.cli import main

raise SystemExit(main())
