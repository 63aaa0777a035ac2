-- CSR "Account" (issue #16; reports/csr/README.md): the account of the reference snapshot in force, with its
-- billing and service addresses. The PIN is never read: only whether one is set.
-- Parameters: {account:String}.
SELECT
    account_id,
    ifNull(name, '') AS name,
    ifNull(class, '') AS class,
    ifNull(segment, '') AS segment,
    ifNull(address_line, '') AS billing_address_line,
    ifNull(city, '') AS billing_city,
    ifNull(postcode, '') AS billing_postcode,
    ifNull(country, '') AS country,
    coalesce(service_address_line, address_line, '') AS service_address_line,
    coalesce(service_city, city, '') AS service_city,
    coalesce(service_postcode, postcode, '') AS service_postcode,
    ifNull(payment_type, '') AS payment_type,
    ifNull(created_date, '') AS created_date,
    ifNull(timezone, '') AS timezone,
    if(pin_hash IS NULL OR pin_hash = '', 'not set', 'set') AS pin
FROM ref_accounts
WHERE version = (SELECT version FROM ref_current_version) AND account_id = {account:String}
LIMIT 1
