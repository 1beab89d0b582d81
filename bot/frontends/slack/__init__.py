"""The Slack front end: a Bolt `AsyncApp` over the chat service (Socket Mode or HTTP)."""
