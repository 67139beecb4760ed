"""`python -m secantus` with one more option, `--transaction-lifetime SECONDS`: SecantusDB for
the local stack (`make run`) and the tests only. Production runs MongoDB, which keeps its own
`transactionLifetimeLimitSeconds` (60 s); nothing here reaches it.

Why it exists. A service killed with SIGKILL between a transaction's writes and its commit
leaves the transaction open on the server (a closed connection does not end it), and its
uncommitted writes keep those documents locked: the instance that takes over conflicts on
them, and retries, until the server aborts the orphan. SecantusDB does that after 60 s, as
MongoDB does, which made each such kill in the fault tests cost up to a minute, by luck
(tests/e2e/test_fault_suite.py, test_kill_9_in_a_stream_of_scores). `SecantusDBServer` takes
the lifetime as `transaction_lifetime_seconds`, but its command line has no flag for it; this
module runs secantus's own command line (`secantus.cli.main`: its flags, its secantusd.toml,
its logging and signal handling) and only hands the server that one more argument.

What SecantusDB does at the limit (secantus/transactions.py, 0.7): a transaction whose last
statement *began* longer than the lifetime ago is rolled back and marked aborted. There is
no background sweeper: the check runs whenever any client sends a transaction statement,
commit or abort to the server, so the retrying instance's own next attempt is what frees the
documents. A statement or commit on an aborted transaction answers NoSuchTransaction (251)
with the TransientTransactionError label; `MongoDocuments.commit` (shared/documents.py) turns
that label into `Conflict`, and the consumer reads and decides the batch again without
committing its offsets (shared/kafka.py `run_unit`). So a lifetime that were too short
would cost retries, never a lost or doubled effect.

Why `LOCAL_TRANSACTION_LIFETIME_SECONDS` (20 s) is safe. The only transactions our services
run are `MongoDocuments.commit`: everything is read and decided before it starts, then one
ordered `bulk_write` per collection the batch changed, one insert of the answers, and the
commit, sent back to back with no I/O or decision in between. What must fit in the lifetime
is therefore one such statement (a batch of up to `kafka_max_records`, 250 inputs, can be a
few hundred replacements) plus the client's turn to send the next one. That is small on an
idle machine (under 0.2 s in test_kill_9_in_a_stream_of_scores), but not under the fault
suite, where SecantusDB restarts while three killed services start again, all on 2 cores:
with the server instrumented, the longest gap between a transaction's statements was 9.5 s,
6.9 s and 7.8 s in three runs, with other test runs sharing the machine. Where the probe
told server from client apart, that was one `update` of 250-330 replacements running that
long in the server itself; and since the reaper waits for a running statement while holding
the registry's lock, other transactions' commands wait meanwhile (commits took up to 7.6 s),
so the idle time the reaper sees can be somewhat longer. 10 s would have been too close;
20 s leaves about twice the worst seen, and an orphan still costs a third of what it did.
Past the limit the price is a batch decided and written again, never a wrong answer;
someone stepping through a commit in a debugger for that long sees exactly that.
"""

import argparse
import inspect
import logging
import math
import sys
from collections.abc import Sequence

log = logging.getLogger("exemplars.secantus_server")

# The value deploy/stack.py gives the local stack and the tests (see the docstring).
LOCAL_TRANSACTION_LIFETIME_SECONDS = 20.0

OPTION = "--transaction-lifetime"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _add_option(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument(
        OPTION, type=_seconds, default=default, metavar="SECONDS",
        help=(f"Abort a multi-document transaction whose last statement began more than SECONDS ago "
              f"(MongoDB's transactionLifetimeLimitSeconds; default {default:g}, SecantusDB's own)."))


def main(argv: Sequence[str] | None = None) -> int:
    # Imported here, not at the top: deploy/ ships in the production image, which has no
    # SecantusDB (tests/unit/test_packaging.py), and deploy.stack imports the constant above.
    from secantus import cli
    from secantus.server import SecantusDBServer

    args = list(sys.argv[1:] if argv is None else argv)
    # Both lookups fail loudly if a SecantusDB release changes what is wrapped here, rather
    # than leaving the server silently at its default.
    default = inspect.signature(SecantusDBServer).parameters["transaction_lifetime_seconds"].default
    if cli.SecantusDBServer is not SecantusDBServer:
        raise RuntimeError("secantus.cli no longer builds secantus.server.SecantusDBServer: "
                           f"{__name__} cannot set its transaction lifetime")

    # Ours is read first; everything else (ours included, see `with_option`) goes to secantus.
    own = argparse.ArgumentParser(prog="python -m deploy.secantus_server", add_help=False, allow_abbrev=False)
    _add_option(own, default)
    lifetime = own.parse_known_args(args)[0].transaction_lifetime

    secantus_parser = cli.build_parser

    def with_option() -> argparse.ArgumentParser:
        # So that secantus's --help lists the option and its parser accepts (and ignores) it.
        parser = secantus_parser()
        parser.prog = own.prog
        _add_option(parser, default)
        return parser

    def server(*positional, **options) -> SecantusDBServer:
        log.info("transactions are aborted %g s after their last statement began", lifetime)
        return SecantusDBServer(*positional, **options, transaction_lifetime_seconds=lifetime)

    cli.build_parser, cli.SecantusDBServer = with_option, server
    try:
        return cli.main(args)
    finally:
        cli.build_parser, cli.SecantusDBServer = secantus_parser, SecantusDBServer


if __name__ == "__main__":
    raise SystemExit(main())
