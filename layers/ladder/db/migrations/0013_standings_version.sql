-- Every change of a standing counts up its version, in the transaction that
-- makes it. The rank index in Redis is updated after the commit, by writers
-- that may reach Redis in a different order than they committed (and by
-- rebuilds reading an older snapshot); it keeps what each player's highest
-- version says, so a late update never overwrites a newer one.
ALTER TABLE standings ADD COLUMN version bigint NOT NULL DEFAULT 0;
