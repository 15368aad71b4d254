"""Reference OCR engines scored with the same normalization and metrics as our models."""
