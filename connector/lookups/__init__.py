"""Customer look-ups: each order's customer looked up once (per e-mail, per day) so that destinations can carry it.

- `voyado`: the settings, SPEC and the contact-details call (one outcome policy, `connector.outcomes`);
- `store`: the look-ups in the ledger (`ledger.Lookup`, `ledger.OrderLookup`): link, claim, record, report;
- `worker`: the look-up pass, under the one limiter of the instance (`voyado.limiter`).
"""
