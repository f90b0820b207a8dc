"""Finance interface (placeholder while the package is built)."""
