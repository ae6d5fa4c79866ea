"""The workbench: the pages people work in (desk, officers, leaders, auditors, citizens),
server-rendered, talking to the services only through their public APIs."""
