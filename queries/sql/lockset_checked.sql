-- lockset_checked: how many plain accesses the lockset rule $field_addrs / $lock_addrs covers.
SELECT count(*) AS accesses
FROM accesses
WHERE addr IN (SELECT unnest($field_addrs)) AND NOT atomic;
