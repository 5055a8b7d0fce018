"""The daemon: its jobs, their schedule, the one leader, and what it shows of itself."""
