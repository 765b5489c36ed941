"""Watch: when the credits run out, who is spiking, and alert rules that reach people before the bill does.

- :mod:`~creditlens.watch.forecast`: the org's (and each allocated member's) balance projected forward.
- :mod:`~creditlens.watch.spikes`: days far above a member's own trailing 30 days, per service.
- :mod:`~creditlens.watch.rules`: the TOML alert rules, validated with one message per problem.
- :mod:`~creditlens.watch.evaluate`: which rules fire on a window of usage.
- :mod:`~creditlens.watch.delivery`: email (SMTP + STARTTLS) and webhook (Slack / Teams) sending.
- :mod:`~creditlens.watch.sent`: what was already sent, so an alert is never sent twice.
- :mod:`~creditlens.watch.daily` (zero-filled daily series) and :mod:`~creditlens.watch.charts` (the
  balance chart as a pure Altair spec).

Everything here is pure over the tidy usage frame, except delivery and the sent-state file.
"""
