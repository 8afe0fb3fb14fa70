"""Cases: what the evaluator concluded about an outlet (exceedance, outage, fault, pattern) and
what staff do with it. The one home of the ``cases``, ``case_periods`` and ``case_events``
tables: every write to them goes through this package.

- :mod:`~schemas.cases.kinds`: the closed vocabularies (kinds, severities);
- :mod:`~schemas.cases.model`: a case and its event history as stored, and appending an event;
- :mod:`~schemas.cases.policy`: how serious an exceedance case is;
- :mod:`~schemas.cases.transitions`: the evaluator's transitions (open, judge a period,
  escalate, close, reopen, escalate when unacknowledged);
- :mod:`~schemas.cases.workflow`: what staff do (acknowledge, assign, comment, close, reply);
- :mod:`~schemas.cases.evidence`: the evidence bundle of a case;
- :mod:`~schemas.cases.errors`: the one exception hierarchy.

Reading cases for display is the apps' business (``api/queries/cases.py``, ``alerts/announce.py``).
"""
