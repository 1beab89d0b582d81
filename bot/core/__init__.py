"""The chat core: the domain and the store contract (ports), one turn for one user, the chat
commands, admission, the agent and its tools. It imports neither `memory/` nor a front end."""
