-- Superseded before any deployment: this migration once created the relay's
-- role on RDS and granted it the migrating user's privileges. Roles are now
-- created by `ladder.db.roles.bootstrap_roles` (the deploy's bootstrap, as the
-- master user), and each role's privileges are granted after every migration
-- run. The old text is accepted as applied (ladder.db.migrations.REWRITTEN):
-- it did nothing where it ran, since no database with `rds_iam` ever ran it.
SELECT 1;
