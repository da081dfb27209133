"""`python -m services.relay [faust arguments]`: run the relay (default: `worker`)."""

from services.relay.app import create_app
from services.relay.settings import RelaySettings
from shared.cli import run_worker

if __name__ == "__main__":
    run_worker(lambda: create_app(RelaySettings()))
