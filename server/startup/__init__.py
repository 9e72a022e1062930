"""What a mini program needs at start: one call before (or without) login."""
