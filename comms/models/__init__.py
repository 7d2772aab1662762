from .chat import ChatIdentity, ChatLinkToken, ChatRequestSeen
from .comms import ChatCommand, Customer, CustomerContact, TeamWebhook
from .slack import SlackCall, SlackChannel
from .status import Maintenance, Subscriber, SubscriberDelivery
from .tracking import CommsObligation, Delivery
from .updates import Update

__all__ = [
    "ChatCommand",
    "ChatIdentity",
    "ChatLinkToken",
    "ChatRequestSeen",
    "CommsObligation",
    "Customer",
    "CustomerContact",
    "Delivery",
    "Maintenance",
    "SlackCall",
    "SlackChannel",
    "Subscriber",
    "SubscriberDelivery",
    "TeamWebhook",
    "Update",
]
