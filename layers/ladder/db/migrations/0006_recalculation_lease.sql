-- The recalculation's exclusivity becomes a lease on its lock row: the job
-- holding it and until when. A held row lock needed a second connection for
-- the job's whole run; Lambdas get one.
ALTER TABLE job_locks
    ADD COLUMN holder      uuid,
    ADD COLUMN lease_until timestamptz;
