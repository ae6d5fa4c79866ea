"""Pure rules of the workbench: what a page shows, in which words; no I/O."""
