"""Helpers of the suite: the live server, its clients, a fake model provider, the browser."""
