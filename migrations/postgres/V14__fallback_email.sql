-- A page to someone with no working notification rule goes to their account's e-mail address
-- (when the installation has a mail server): the address, on a delivery with neither a channel
-- nor a contact method.
ALTER TABLE deliveries ADD COLUMN fallback_email TEXT;
