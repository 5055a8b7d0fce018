"""Flags: the findings of the rules kept as flags with their lifecycle, and read back."""
