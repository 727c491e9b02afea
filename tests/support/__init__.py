"""Reusable test servers on loopback: an SMTP sink (``smtp.SmtpSink``) and a Twilio-compatible
Messages API (``twilio.FakeTwilio``). Both run in a background thread, so sync and async tests
(and notifier subprocesses) can use them; both are context managers that stop what they start."""
