"""The dashboard and the JS client: static HTML, CSS and ES modules, served by `canvas_live.server`."""
