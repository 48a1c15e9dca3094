"""The workflows, above the database layer: boundaries (validate, publish, roll back), cameras
(import, status reports, expiry), uploads (the API's staged writes) and changes (the one write
path: a change's figures, tile rows, caches and revision)."""
