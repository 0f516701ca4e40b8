"""Training, export and evaluation of idreader's digit/blank classifier (not in the wheel)."""
