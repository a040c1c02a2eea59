"""FIX adapters: the codec between FIX and plain messages, and the quickfix endpoint."""
