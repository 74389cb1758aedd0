"""Customer look-ups: each order's customer looked up once (per e-mail, per day) so that destinations can carry it.

- `voyado`: the settings, SPEC and the contact-details call (one outcome policy, `connector.outcomes`);
- `store`: the look-ups in the ledger (`ledger.Lookup`, `ledger.OrderLookup`): link, claim, record, report;
- `limiter`: the one limiter (pyrate-limiter's GCRA) whose state lives in the ledger, shared by every process;
- `worker`: the look-up pass, each request through that limiter.
"""
