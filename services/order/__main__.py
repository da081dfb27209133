"""`python -m services.order [faust arguments]`: run the order service (default: `worker`)."""

from services.order.app import create_app
from services.order.settings import OrderSettings
from shared.cli import run_worker

if __name__ == "__main__":
    run_worker(lambda: create_app(OrderSettings()))
