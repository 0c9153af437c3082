"""Ratings: the Elo maths (`elo`), the recalculation that replays matches with it
(`recalculation`), and the rules recorded with the data (`rules`)."""
