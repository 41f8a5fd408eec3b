"""lstmspec check: cases, oracle, tolerances, runner."""
