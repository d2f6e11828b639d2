"""The console in a browser: textual-serve behind the API's tokens."""
