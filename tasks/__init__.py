"""Pipeline stages: one module per stage, each a pure `build(cfg, out, **inputs) -> figures`."""
