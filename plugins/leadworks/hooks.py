"""Hook implementations of the leadworks plugin."""
