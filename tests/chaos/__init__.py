"""The chaos suite (issue 12): real worker processes and real redis-server
processes under injected faults, each scenario judged by a total-queue
checker (see checker.py) and reported as one row of figures.

Fast scale in the normal test run; ``just chaos`` runs the long scale and
prints the table (``python -m tests.chaos.run``). Scenarios that fail on
today's engine because of a defect of issue 12 are strict xfails: each
turns into a failure the day its fix lands, so the mark must go then.
"""
