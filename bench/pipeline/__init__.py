"""The pipeline benchmark: the four services end to end, and the processing + audit core
written three ways beside Kafka's own performance tools."""
