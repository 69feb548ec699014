"""arq worker wiring: jobs live next to their services (app/*/tasks.py); this only wires."""
