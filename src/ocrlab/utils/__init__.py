"""Small shared helpers (kept free of heavy imports)."""
