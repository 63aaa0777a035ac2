-- CSR "Directory listing" (issue #16): how the account's numbers appear in the directory.
-- Parameters: {account:String}.
SELECT msisdn, ifNull(listing_type, '') AS listing, ifNull(listed_name, '') AS listed_name, ifNull(listed_address, '') AS listed_address, ifNull(category, '') AS category
FROM ref_directory_listings
WHERE version = (SELECT version FROM ref_current_version) AND account_id = {account:String}
ORDER BY msisdn
