"""Errors a person fixes: each prints as one line (BadInput exits 2, LedgerUnavailable 1)."""


class BadInput(Exception):
    """Bad input from the command line or a file given to it."""


class LedgerUnavailable(Exception):
    """The ledger cannot take a write right now: another process holds its lock, or its disk is full.

    Its text is the one line a person reads (what happened, what to do); nothing was written.
    """

    def __init__(self, path: str, kind: str) -> None:
        self.path, self.kind = path, kind
        if kind == "locked":
            self.what = f"the ledger {path} is locked by another process"
            text = (f"{self.what} (another connector, or a program holding a write transaction on it): "
                    f"stop it or let it finish, then run the command again")
        else:
            self.what = f"the disk holding {path} is full"
            text = (f"{self.what}: free some space there (the ledger needs it to record orders and outcomes), "
                    f"then run the command again")
        super().__init__(text)


class DatabaseDown(Exception):
    """The ledger's database server does not answer (not started yet, restarting, the network): exit 1,
    so that systemd's Restart=on-failure tries again, where a setting to fix (a refused login) exits 2.
    Its text is the one line a person reads (the password redacted)."""
