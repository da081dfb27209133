"""`python -m services.inventory [faust arguments]`: run the inventory service (`worker`)."""

from services.inventory.app import create_app
from services.inventory.settings import InventorySettings
from shared.cli import run_worker

if __name__ == "__main__":
    run_worker(lambda: create_app(InventorySettings()))
