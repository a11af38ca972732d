-- site_counts: how many events each of the sites $sites produced.
SELECT site, count(*) AS events, min(seq) AS first_seq
FROM events
WHERE site IN (SELECT unnest($sites))
GROUP BY site
ORDER BY site;
