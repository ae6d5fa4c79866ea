"""Web pages for the one-stop desk, officers, leaders, auditors and citizens."""
