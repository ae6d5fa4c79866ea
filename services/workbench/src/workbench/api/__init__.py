"""The workbench's pages: routers per audience, and the plumbing they share (web.py)."""
