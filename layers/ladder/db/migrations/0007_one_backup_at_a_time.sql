-- At most one backup job queued or running: a second request answers with it.
CREATE UNIQUE INDEX jobs_one_active_backup ON jobs (type)
    WHERE type = 'backup.create' AND status IN ('queued', 'running');
