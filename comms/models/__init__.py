from .updates import Update

__all__ = ["Update"]
