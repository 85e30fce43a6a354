"""Pure numpy/scipy reference implementations, used as test oracles."""
