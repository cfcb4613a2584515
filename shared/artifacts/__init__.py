"""Source artifacts: deterministic archives, digests, storage with garbage
collection, the HTTP server that serves them, and the client side that
downloads, verifies and safely extracts them.
"""
