"""wghub: an event-driven backend for working groups that coordinate across countries."""
