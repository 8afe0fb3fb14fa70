-- Every staff token expires (issue 15): `sourcewatch staff add/token` gives a new token
-- SOURCEWATCH_STAFF_TOKEN_DAYS (default 90) unless --expires says otherwise. Tokens issued
-- without an expiry before get the default 90 days from now; then NULL is refused.
UPDATE staff_tokens SET expires_at = now() + interval '90 days' WHERE expires_at IS NULL;
ALTER TABLE staff_tokens ALTER COLUMN expires_at SET NOT NULL;
