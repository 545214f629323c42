"""The built-in region analyses, one per module; each registers its analysis when imported."""
