"""notification-controller: event intake, Alerts, Providers and webhook Receivers."""
