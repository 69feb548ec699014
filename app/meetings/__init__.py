"""Meetings: scheduling, the live floor (agenda, hands, speaker, attendance), minutes, decisions."""
