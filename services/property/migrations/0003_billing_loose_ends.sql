-- Payment reversals reach the resident's payment records; a resident can be deleted (links to their past
-- leases go with them; active or future leases refuse the delete in the service first).
ALTER TABLE payments ADD COLUMN status text NOT NULL DEFAULT 'completed',
                     ADD COLUMN reversed_at timestamptz,
                     ADD COLUMN reversal_reason text;
CREATE INDEX payments_resident_page ON payments (org_id, resident_id, paid_at DESC, payment_id);

ALTER TABLE lease_residents DROP CONSTRAINT lease_residents_resident_id_fkey,
    ADD CONSTRAINT lease_residents_resident_id_fkey FOREIGN KEY (resident_id) REFERENCES residents (id)
        ON DELETE CASCADE;
