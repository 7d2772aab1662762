from .comms import ChatCommand, ChatIdentity, Customer, CustomerContact, TeamWebhook
from .status import Maintenance, Subscriber, SubscriberDelivery
from .tracking import CommsObligation, Delivery
from .updates import Update

__all__ = [
    "ChatCommand",
    "ChatIdentity",
    "CommsObligation",
    "Customer",
    "CustomerContact",
    "Delivery",
    "Maintenance",
    "Subscriber",
    "SubscriberDelivery",
    "TeamWebhook",
    "Update",
]
