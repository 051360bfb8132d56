"""The appliance: a self-hosted chatbot and customer-messaging server in one process."""

__version__ = "0.1.0"
