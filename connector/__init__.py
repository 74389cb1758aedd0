"""connector: every paid WooCommerce and BigCommerce order to the store's services, exactly once."""

__version__ = "0.1.0"
USER_AGENT = f"connector/{__version__} (+order connector)"
