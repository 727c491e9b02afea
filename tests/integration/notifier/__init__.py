"""Integration tests of the notifier: real broker, databases, SMTP and Twilio-compatible servers."""
