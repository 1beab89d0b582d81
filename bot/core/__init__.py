"""The chat core: one turn for one user, the chat commands, the agent and its tools."""
