-- On RDS, the relay (stream tasks, the sweeper) connects to the instance, not
-- through RDS Proxy: it holds an advisory lock and LISTENs, which would pin a
-- proxied connection. It signs in with IAM tokens as `ladder_relay`, which
-- acts with the privileges of the user that runs migrations. Where the
-- `rds_iam` role does not exist (local Postgres) there is nothing to do.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ladder_relay') THEN
            CREATE ROLE ladder_relay LOGIN;
        END IF;
        GRANT rds_iam TO ladder_relay;
        EXECUTE format('GRANT %I TO ladder_relay', current_user);
    END IF;
END
$$;
