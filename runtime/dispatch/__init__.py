"""The dispatcher: the wave loop, its cluster backend and its views."""
