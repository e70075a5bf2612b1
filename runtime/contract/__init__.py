"""The pod contract shared by the agent and the host side; stdlib only."""
