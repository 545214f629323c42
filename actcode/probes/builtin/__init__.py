"""The built-in probes, one per module; each module registers its probe when imported."""
