"""Pure rules of the loyalty domain: standard library only, no I/O."""
