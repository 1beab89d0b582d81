"""Front ends: translate a platform's messages into chat-service calls and render replies."""
