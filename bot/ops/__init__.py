"""Operating the bot (an adapter): Prometheus metrics of the chat core and the small HTTP
server that answers /healthz and /metrics; started by the wiring when METRICS_PORT is set."""
