"""Check-in by QR code at stations and activities (issue 5, in progress: the signed codes so far)."""
