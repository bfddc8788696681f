-- Double opt-in confirmation emails.

-- When a confirmation email of the current pending period was handed to
-- SES, in Unix milliseconds; NULL while none was. The dispatcher sets it
-- before the SES call, as its claim, so a job delivered twice sends one
-- email, and clears it again when SES rejects the call. A new pending period
-- (a re-subscription after an unsubscribe, or after the last link expired)
-- starts with NULL.
ALTER TABLE contact_topics ADD COLUMN confirmation_sent_at BIGINT;
