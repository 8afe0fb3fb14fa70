"""Cases: what the evaluator concluded about an outlet (exceedance, outage, fault, pattern) and
what staff do with it, its errors and its evidence bundle."""
