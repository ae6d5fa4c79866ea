"""One HTTP client per service API, each passing the signed-in person's bearer token."""
