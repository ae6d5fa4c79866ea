"""The audit service's use cases, free of the web framework, Kafka and the database driver.

``recording`` (record a batch of events), ``checkpointing`` (sign a checkpoint),
``verification`` (verify the stored log, inclusion and consistency proofs) and ``auditors``
(everything an auditor asks of the API) take their dependencies as parameters; ``ports``
declares those dependencies as protocols.
"""
