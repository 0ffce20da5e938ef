"""Fleet simulator and attack scenarios, driving Stockade through its real HTTP API."""
