"""The built-in model sources (``torchvision:``, ``timm:``), one per module; each registers itself."""
