-- Several relay processes may run; the one holding the lease publishes. A lease that is not
-- renewed before `expires_at` may be taken over by another relay.
CREATE TABLE relay_lease (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
