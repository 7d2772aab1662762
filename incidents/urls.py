from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("ack/<str:token>/", views.acknowledge_link, name="ack-link"),
    path("oncall/ical/schedule/<str:token>.ics", views.ical_schedule, name="ical-schedule"),
    path("oncall/ical/user/<str:token>.ics", views.ical_user, name="ical-user"),
]
