"""The dealer network: dealers, the staff of each, and who sees which dealer\x27s data."""
