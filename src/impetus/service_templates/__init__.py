"""Unit and agent templates for `impetus service`."""
