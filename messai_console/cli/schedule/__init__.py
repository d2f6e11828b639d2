"""Schedules: the ``schedule`` group (any schedule), the ``jobs`` group (the
platform's scheduled tasks) and the ``scheduler`` command that fires them."""
