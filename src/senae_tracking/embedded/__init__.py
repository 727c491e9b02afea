"""The embedded runtime: the local Kafka-compatible broker and the all-in-one ``up`` command."""
