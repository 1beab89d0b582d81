"""Front ends (adapters in): translate a platform's messages into chat-service calls and render
what comes back. Each is given the chat service; none opens or closes the memory behind it."""
