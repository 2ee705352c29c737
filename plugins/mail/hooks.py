"""Hook implementations of the mail plugin."""
