"""The offline model (a real agents `Model`, no network) and its text parser."""
