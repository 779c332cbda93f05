-- event_patterns: the EventBridge event pattern language (event_pattern.c),
-- through trail.test_event_pattern(pattern, event).
--
-- A table of (pattern, event, expected) cases covers every matcher, each
-- matching and not: exact values (strings, numbers compared numerically,
-- booleans, null), prefix, suffix and equals-ignore-case (and their
-- ignore-case forms), wildcard, anything-but in each form, numeric, exists,
-- cidr, nested objects, arrays in events (any element; one element must
-- match a whole nested pattern), $or (nested, and beside other fields), and
-- the limits.  A second table holds invalid patterns, each refused with
-- SQLSTATE 22023 and a message naming the offending part, whatever the
-- event.  Nothing here writes events, so it all runs in one transaction.
BEGIN;
SELECT plan(246);

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS trail;
RESET client_min_messages;

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
-- an event as EventBridge sees one of trail's: the envelope around a
-- CloudTrail record (a CreateRole)
CREATE FUNCTION pg_temp.ct() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT '{"version": "0", "id": "0b5e4c1c-6f5e-4f57-9d2a-3c1b8e9f0a11",
	  "detail-type": "AWS API Call via CloudTrail", "source": "aws.cloudtrail",
	  "account": "7710600989826033797", "time": "2026-11-21T12:29:55Z",
	  "region": "postgres", "resources": [],
	  "detail": {"eventVersion": "1.08",
	    "userIdentity": {"type": "Superuser", "principalId": "10",
	      "arn": "arn:postgresql:iam::7710600989826033797:role/postgres",
	      "accountId": "7710600989826033797", "userName": "postgres"},
	    "eventTime": "2026-11-21T12:29:55Z", "eventSource": "iam.postgresql",
	    "eventName": "CreateRole", "awsRegion": "postgres",
	    "sourceIPAddress": "10.1.2.3", "userAgent": "psql",
	    "requestParameters": {"roleName": "alice", "statement": "CREATE ROLE alice"},
	    "responseElements": null, "readOnly": false, "eventType": "AwsApiCall",
	    "managementEvent": true, "recipientAccountId": "7710600989826033797",
	    "eventCategory": "Management"}}'::jsonb
$$;
-- n objects nested under the key "a" around a leaf
CREATE FUNCTION pg_temp.nest(n int, leaf jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN n = 0 THEN leaf
	            ELSE jsonb_build_object('a', pg_temp.nest(n - 1, leaf)) END
$$;
-- a leaf of n numbers 0..n-1
CREATE FUNCTION pg_temp.numbers(n int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_agg(i ORDER BY i) FROM generate_series(0, n - 1) i
$$;

------------------------------------------------------------------------------
-- Patterns and events: does each match?
------------------------------------------------------------------------------
CREATE TEMP TABLE cases (n serial, what text, pattern jsonb, event jsonb, expected boolean);
INSERT INTO cases (what, pattern, event, expected) VALUES
-- exact values
('exact string', '{"source": ["aws.cloudtrail"]}', pg_temp.ct(), true),
('exact string, other value', '{"source": ["aws.ec2"]}', pg_temp.ct(), false),
('any of the values', '{"source": ["aws.ec2", "aws.cloudtrail"]}', pg_temp.ct(), true),
('key with a dash', '{"detail-type": ["AWS API Call via CloudTrail"]}', pg_temp.ct(), true),
('nested object', '{"detail": {"eventName": ["CreateRole"]}}', pg_temp.ct(), true),
('exact strings are case-sensitive', '{"detail": {"eventName": ["createrole"]}}', pg_temp.ct(), false),
('two levels deep', '{"detail": {"userIdentity": {"type": ["Superuser"]}}}', pg_temp.ct(), true),
('every field must match', '{"source": ["aws.cloudtrail"], "detail": {"eventName": ["DropRole"]}}', pg_temp.ct(), false),
('several fields at several levels', '{"source": ["aws.cloudtrail"], "region": ["postgres"], "detail": {"eventName": ["CreateRole"], "requestParameters": {"roleName": ["alice"]}}}', pg_temp.ct(), true),
('a missing field does not match a value', '{"detail": {"errorCode": ["AccessDenied"]}}', pg_temp.ct(), false),
('a missing object does not match', '{"nope": {"x": ["y"]}}', pg_temp.ct(), false),
('false', '{"detail": {"readOnly": [false]}}', pg_temp.ct(), true),
('true', '{"detail": {"managementEvent": [true]}}', pg_temp.ct(), true),
('true is not false', '{"detail": {"readOnly": [true]}}', pg_temp.ct(), false),
('the string "false" is not false', '{"detail": {"readOnly": ["false"]}}', pg_temp.ct(), false),
('null', '{"detail": {"responseElements": [null]}}', pg_temp.ct(), true),
('null does not match a string', '{"detail": {"eventName": [null]}}', pg_temp.ct(), false),
('null does not match a missing field', '{"detail": {"errorCode": [null]}}', pg_temp.ct(), false),
('the empty string', '{"detail": {"eventVersion": [""]}}', '{"detail": {"eventVersion": ""}}', true),
('the empty string is not null', '{"detail": {"responseElements": [""]}}', pg_temp.ct(), false),
('a number', '{"n": [5]}', '{"n": 5}', true),
('numbers compare numerically (5 = 5.0)', '{"n": [5]}', '{"n": 5.0}', true),
('numbers compare numerically (1e2 = 100)', '{"n": [1e2]}', '{"n": 100}', true),
('numbers compare numerically (-0.5 = -0.50)', '{"n": [-0.5]}', '{"n": -0.50}', true),
('another number', '{"n": [5]}', '{"n": 6}', false),
('a number is not a string', '{"n": [5]}', '{"n": "5"}', false),
('a string is not a number', '{"n": ["5"]}', '{"n": 5}', false),
('a key with a dot is one key', '{"a.b": ["x"]}', '{"a.b": "x"}', true),
('a leaf does not match an object', '{"detail": {"userIdentity": ["Superuser"]}}', pg_temp.ct(), false),
('a nested pattern does not match a string', '{"detail": {"eventName": {"x": ["y"]}}}', pg_temp.ct(), false),
('an event that is not an object', '{"a": ["x"]}', '"x"', false),
-- arrays in events
('an array: one element matches', '{"resources": ["arn:b"]}', '{"resources": ["arn:a", "arn:b"]}', true),
('an array: no element matches', '{"resources": ["arn:c"]}', '{"resources": ["arn:a", "arn:b"]}', false),
('an empty array matches no value', '{"resources": [{"prefix": ""}]}', '{"resources": []}', false),
('nested arrays are searched', '{"a": [3]}', '{"a": [[1, 2], [3]]}', true),
('an array of objects: one matches', '{"detail": {"resources": {"type": ["PG::Table"]}}}', '{"detail": {"resources": [{"type": "PG::Role", "ARN": "x"}, {"type": "PG::Table", "ARN": "y"}]}}', true),
('an array of objects: one element must match all fields', '{"r": {"type": ["PG::Table"], "ARN": ["x"]}}', '{"r": [{"type": "PG::Role", "ARN": "x"}, {"type": "PG::Table", "ARN": "y"}]}', false),
('an array of objects: the same element', '{"r": {"type": ["PG::Table"], "ARN": ["y"]}}', '{"r": [{"type": "PG::Role", "ARN": "x"}, {"type": "PG::Table", "ARN": "y"}]}', true),
('arrays of arrays of objects', '{"r": {"t": ["b"]}}', '{"r": [[{"t": "a"}], [{"t": "b"}]]}', true),
-- prefix
('prefix', '{"time": [{"prefix": "2026-11-21"}]}', pg_temp.ct(), true),
('prefix, other', '{"time": [{"prefix": "2026-11-22"}]}', pg_temp.ct(), false),
('prefix longer than the value', '{"a": [{"prefix": "abcd"}]}', '{"a": "abc"}', false),
('prefix is case-sensitive', '{"detail": {"eventName": [{"prefix": "create"}]}}', pg_temp.ct(), false),
('prefix does not match a number', '{"n": [{"prefix": "1"}]}', '{"n": 12}', false),
('the empty prefix matches any string', '{"a": [{"prefix": ""}]}', '{"a": ""}', true),
('prefix in an array', '{"a": [{"prefix": "arn:"}]}', '{"a": ["x", "arn:y"]}', true),
('prefix ignoring case', '{"detail": {"eventName": [{"prefix": {"equals-ignore-case": "CREATE"}}]}}', pg_temp.ct(), true),
('prefix ignoring case, other', '{"detail": {"eventName": [{"prefix": {"equals-ignore-case": "DROP"}}]}}', pg_temp.ct(), false),
-- suffix
('suffix', '{"detail": {"userIdentity": {"arn": [{"suffix": "role/postgres"}]}}}', pg_temp.ct(), true),
('suffix, other', '{"detail": {"userIdentity": {"arn": [{"suffix": "role/alice"}]}}}', pg_temp.ct(), false),
('suffix is case-sensitive', '{"a": [{"suffix": ".png"}]}', '{"a": "x.PNG"}', false),
('suffix longer than the value', '{"a": [{"suffix": "x.png"}]}', '{"a": "png"}', false),
('suffix ignoring case', '{"a": [{"suffix": {"equals-ignore-case": ".png"}}]}', '{"a": "x.PNG"}', true),
('suffix ignoring case, other', '{"a": [{"suffix": {"equals-ignore-case": ".png"}}]}', '{"a": "x.JPG"}', false),
-- equals-ignore-case
('equals-ignore-case', '{"detail": {"eventName": [{"equals-ignore-case": "createrole"}]}}', pg_temp.ct(), true),
('equals-ignore-case, upper case event', '{"a": [{"equals-ignore-case": "Alice"}]}', '{"a": "ALICE"}', true),
('equals-ignore-case is not a prefix', '{"a": [{"equals-ignore-case": "alice"}]}', '{"a": "ALICEX"}', false),
('equals-ignore-case does not match a number', '{"a": [{"equals-ignore-case": "1"}]}', '{"a": 1}', false),
('equals-ignore-case folds ASCII, compares the rest exactly', '{"a": [{"equals-ignore-case": "café"}]}', '{"a": "CAFé"}', true),
-- wildcard
('wildcard in the middle', '{"a": [{"wildcard": "Simple*Service"}]}', '{"a": "SimpleQueueService"}', true),
('wildcard: a star matches the empty run', '{"a": [{"wildcard": "Simple*Service"}]}', '{"a": "SimpleService"}', true),
('wildcard: the end is fixed', '{"a": [{"wildcard": "Simple*Service"}]}', '{"a": "SimpleServiceX"}', false),
('wildcard: leading star', '{"detail": {"eventName": [{"wildcard": "*Role"}]}}', pg_temp.ct(), true),
('wildcard: leading star, other end', '{"a": [{"wildcard": "*Role"}]}', '{"a": "CreateRoles"}', false),
('wildcard: trailing star', '{"a": [{"wildcard": "Create*"}]}', '{"a": "CreateRole"}', true),
('wildcard: trailing star, other start', '{"a": [{"wildcard": "Create*"}]}', '{"a": "XCreate"}', false),
('wildcard: a lone star matches the empty string', '{"a": [{"wildcard": "*"}]}', '{"a": ""}', true),
('wildcard: a lone star does not match a number', '{"a": [{"wildcard": "*"}]}', '{"a": 1}', false),
('wildcard: several stars', '{"a": [{"wildcard": "*Create*Role*"}]}', '{"a": "xCreateyRolez"}', true),
('wildcard: several stars, in order', '{"a": [{"wildcard": "*Create*Role*"}]}', '{"a": "RoleCreate"}', false),
('wildcard: prefix and suffix may not overlap', '{"a": [{"wildcard": "a*ab"}]}', '{"a": "ab"}', false),
('wildcard: prefix and suffix side by side', '{"a": [{"wildcard": "a*ab"}]}', '{"a": "aab"}', true),
('wildcard: repeated segments', '{"a": [{"wildcard": "*ab*ab*"}]}', '{"a": "abab"}', true),
('wildcard: repeated segments, one short', '{"a": [{"wildcard": "*ab*ab*"}]}', '{"a": "aba"}', false),
('wildcard: an escaped star is a star', '{"a": [{"wildcard": "10\\*"}]}', '{"a": "10*"}', true),
('wildcard: an escaped star is not a wildcard', '{"a": [{"wildcard": "10\\*"}]}', '{"a": "100"}', false),
('wildcard: an escaped star then a star', '{"a": [{"wildcard": "\\**"}]}', '{"a": "*foo"}', true),
('wildcard: an escaped star then a star, no star', '{"a": [{"wildcard": "\\**"}]}', '{"a": "foo"}', false),
('wildcard: an escaped backslash', '{"a": [{"wildcard": "a\\\\*"}]}', '{"a": "a\\b"}', true),
('wildcard without a star is an exact match', '{"a": [{"wildcard": "abc"}]}', '{"a": "abcd"}', false),
('wildcard with multibyte characters', '{"a": [{"wildcard": "é*ü"}]}', '{"a": "éaü"}', true),
('wildcard in an array', '{"a": [{"wildcard": "/usr/*"}]}', '{"a": ["x", "/usr/lib"]}', true),
-- anything-but
('anything-but a string', '{"detail": {"eventName": [{"anything-but": "DropRole"}]}}', pg_temp.ct(), true),
('anything-but a string, that string', '{"detail": {"eventName": [{"anything-but": "CreateRole"}]}}', pg_temp.ct(), false),
('anything-but strings', '{"detail": {"eventName": [{"anything-but": ["DropRole", "AlterRole"]}]}}', pg_temp.ct(), true),
('anything-but strings, one of them', '{"detail": {"eventName": [{"anything-but": ["DropRole", "CreateRole"]}]}}', pg_temp.ct(), false),
('anything-but a number', '{"n": [{"anything-but": 5}]}', '{"n": 6}', true),
('anything-but a number, numerically equal', '{"n": [{"anything-but": 5}]}', '{"n": 5.00}', false),
('anything-but a number, a string', '{"n": [{"anything-but": 5}]}', '{"n": "5"}', true),
('anything-but numbers', '{"n": [{"anything-but": [1, 2, 3]}]}', '{"n": 4}', true),
('anything-but numbers, one of them', '{"n": [{"anything-but": [1, 2, 3]}]}', '{"n": 2}', false),
('anything-but does not match a missing field', '{"detail": {"errorCode": [{"anything-but": "x"}]}}', pg_temp.ct(), false),
('anything-but matches null', '{"a": [{"anything-but": "x"}]}', '{"a": null}', true),
('anything-but on an array: another element', '{"a": [{"anything-but": "x"}]}', '{"a": ["x", "y"]}', true),
('anything-but on an array: only that value', '{"a": [{"anything-but": "x"}]}', '{"a": ["x", "x"]}', false),
('anything-but prefix', '{"region": [{"anything-but": {"prefix": "us-"}}]}', pg_temp.ct(), true),
('anything-but prefix, that prefix', '{"region": [{"anything-but": {"prefix": "us-"}}]}', '{"region": "us-east-1"}', false),
('anything-but suffix', '{"a": [{"anything-but": {"suffix": ".png"}}]}', '{"a": "x.jpg"}', true),
('anything-but suffix, that suffix', '{"a": [{"anything-but": {"suffix": ".png"}}]}', '{"a": "x.png"}', false),
('anything-but equals-ignore-case', '{"a": [{"anything-but": {"equals-ignore-case": "alice"}}]}', '{"a": "bob"}', true),
('anything-but equals-ignore-case, that value', '{"a": [{"anything-but": {"equals-ignore-case": "alice"}}]}', '{"a": "ALICE"}', false),
('anything-but equals-ignore-case list', '{"a": [{"anything-but": {"equals-ignore-case": ["alice", "bob"]}}]}', '{"a": "carol"}', true),
('anything-but equals-ignore-case list, one of them', '{"a": [{"anything-but": {"equals-ignore-case": ["alice", "bob"]}}]}', '{"a": "BoB"}', false),
('anything-but wildcard', '{"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}', '{"a": "/usr/bin/x"}', true),
('anything-but wildcard, matching', '{"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}', '{"a": "/usr/lib/x"}', false),
('anything-but wildcard list, one of them', '{"a": [{"anything-but": {"wildcard": ["*.png", "*.jpg"]}}]}', '{"a": "x.jpg"}', false),
('anything-but and an exact value: either', '{"a": ["x", {"anything-but": {"prefix": "x"}}]}', '{"a": "x"}', true),
-- exists
('exists true, present', '{"detail": {"eventName": [{"exists": true}]}}', pg_temp.ct(), true),
('exists true, missing', '{"detail": {"errorCode": [{"exists": true}]}}', pg_temp.ct(), false),
('exists true, null exists', '{"detail": {"responseElements": [{"exists": true}]}}', pg_temp.ct(), true),
('exists true, an empty array has no value', '{"resources": [{"exists": true}]}', pg_temp.ct(), false),
('exists true, an array of values', '{"resources": [{"exists": true}]}', '{"resources": ["arn:a"]}', true),
('exists true, an object is not a leaf', '{"detail": {"userIdentity": [{"exists": true}]}}', pg_temp.ct(), false),
('exists false, missing', '{"detail": {"errorCode": [{"exists": false}]}}', pg_temp.ct(), true),
('exists false, present', '{"detail": {"eventName": [{"exists": false}]}}', pg_temp.ct(), false),
('exists false, null exists', '{"detail": {"responseElements": [{"exists": false}]}}', pg_temp.ct(), false),
('exists false, an empty array', '{"resources": [{"exists": false}]}', pg_temp.ct(), true),
('exists false, an object is not a leaf', '{"detail": {"userIdentity": [{"exists": false}]}}', pg_temp.ct(), true),
('exists false under a missing object', '{"nope": {"x": [{"exists": false}]}}', pg_temp.ct(), true),
('exists true under a missing object', '{"nope": {"x": [{"exists": true}]}}', pg_temp.ct(), false),
('exists false or a value: missing', '{"a": ["x", {"exists": false}]}', '{}', true),
('exists false or a value: the value', '{"a": ["x", {"exists": false}]}', '{"a": "x"}', true),
('exists false or a value: another value', '{"a": ["x", {"exists": false}]}', '{"a": "y"}', false),
('exists false in an array of objects: one lacks it', '{"r": {"a": [{"exists": false}]}}', '{"r": [{"a": 1}, {"b": 2}]}', true),
('exists false in an array of objects: all have it', '{"r": {"a": [{"exists": false}]}}', '{"r": [{"a": 1}]}', false),
('exists false on an event that is not an object', '{"a": [{"exists": false}]}', '[1]', true),
-- numeric
('numeric range, upper bound included', '{"n": [{"numeric": [">", 0, "<=", 5]}]}', '{"n": 5}', true),
('numeric range, lower bound excluded', '{"n": [{"numeric": [">", 0, "<=", 5]}]}', '{"n": 0}', false),
('numeric range, a small float inside', '{"n": [{"numeric": [">", 0, "<=", 5]}]}', '{"n": 0.0001}', true),
('numeric range, a float just above', '{"n": [{"numeric": [">", 0, "<=", 5]}]}', '{"n": 5.0000001}', false),
('numeric range, bounds in either order', '{"n": [{"numeric": ["<", 5, ">", 0]}]}', '{"n": 3}', true),
('numeric <', '{"n": [{"numeric": ["<", 10]}]}', '{"n": 9.99}', true),
('numeric <, the bound', '{"n": [{"numeric": ["<", 10]}]}', '{"n": 10}', false),
('numeric <=, the bound', '{"n": [{"numeric": ["<=", 10]}]}', '{"n": 10.0}', true),
('numeric >=, the bound', '{"n": [{"numeric": [">=", 1.5]}]}', '{"n": 1.5}', true),
('numeric >=, below', '{"n": [{"numeric": [">=", 1.5]}]}', '{"n": 1.49}', false),
('numeric =, exponent', '{"n": [{"numeric": ["=", 3.018e2]}]}', '{"n": 301.8}', true),
('numeric =, int and float', '{"n": [{"numeric": ["=", 300]}]}', '{"n": 300.0}', true),
('numeric =, other', '{"n": [{"numeric": ["=", 300]}]}', '{"n": 301}', false),
('numeric, negative range', '{"n": [{"numeric": [">", -10, "<", -1]}]}', '{"n": -5}', true),
('numeric, one point range', '{"n": [{"numeric": [">=", 7, "<=", 7]}]}', '{"n": 7}', true),
('numeric, large integers exactly', '{"n": [{"numeric": ["=", 12345678901234567890]}]}', '{"n": 12345678901234567891}', false),
('numeric, large integers equal', '{"n": [{"numeric": ["=", 12345678901234567890]}]}', '{"n": 12345678901234567890}', true),
('numeric does not match a string', '{"n": [{"numeric": [">", 0]}]}', '{"n": "3"}', false),
('numeric does not match null', '{"n": [{"numeric": [">", 0]}]}', '{"n": null}', false),
('numeric does not match a missing field', '{"n": [{"numeric": [">", 0]}]}', '{}', false),
('numeric in an array', '{"n": [{"numeric": [">", 10]}]}', '{"n": [1, 20]}', true),
-- cidr
('cidr', '{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}', pg_temp.ct(), true),
('cidr, outside', '{"ip": [{"cidr": "10.1.0.0/16"}]}', '{"ip": "10.2.0.1"}', false),
('cidr, bits within a byte', '{"ip": [{"cidr": "10.0.0.128/25"}]}', '{"ip": "10.0.0.200"}', true),
('cidr, bits within a byte, outside', '{"ip": [{"cidr": "10.0.0.128/25"}]}', '{"ip": "10.0.0.100"}', false),
('cidr, a bare address', '{"ip": [{"cidr": "10.1.2.3"}]}', '{"ip": "10.1.2.3"}', true),
('cidr /0', '{"ip": [{"cidr": "0.0.0.0/0"}]}', '{"ip": "192.168.1.1"}', true),
('cidr, not an address', '{"detail": {"sourceIPAddress": [{"cidr": "0.0.0.0/0"}]}}', '{"detail": {"sourceIPAddress": "local"}}', false),
('cidr IPv6', '{"ip": [{"cidr": "2001:db8::/32"}]}', '{"ip": "2001:db8::1"}', true),
('cidr IPv6, outside', '{"ip": [{"cidr": "2001:db8::/32"}]}', '{"ip": "2001:db9::1"}', false),
('cidr IPv4 does not match IPv6', '{"ip": [{"cidr": "0.0.0.0/0"}]}', '{"ip": "::1"}', false),
-- $or
('$or: the second', '{"$or": [{"source": ["aws.ec2"]}, {"detail": {"eventName": ["CreateRole"]}}]}', pg_temp.ct(), true),
('$or: neither', '{"$or": [{"source": ["aws.ec2"]}, {"region": ["x"]}]}', pg_temp.ct(), false),
('$or beside a field', '{"source": ["aws.cloudtrail"], "$or": [{"account": ["1"]}, {"region": ["postgres"]}]}', pg_temp.ct(), true),
('$or beside a field that does not match', '{"source": ["aws.ec2"], "$or": [{"account": ["1"]}, {"region": ["postgres"]}]}', pg_temp.ct(), false),
('$or in a nested object', '{"detail": {"$or": [{"eventName": ["X"]}, {"eventSource": ["iam.postgresql"]}]}}', pg_temp.ct(), true),
('$or at two levels', '{"$or": [{"source": ["x"]}, {"region": ["postgres"]}], "detail": {"$or": [{"eventName": ["X"]}, {"readOnly": [false]}]}}', pg_temp.ct(), true),
('$or at two levels, the nested one fails', '{"$or": [{"source": ["x"]}, {"region": ["postgres"]}], "detail": {"$or": [{"eventName": ["X"]}, {"readOnly": [true]}]}}', pg_temp.ct(), false),
('$or nested in $or', '{"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}', '{"c": "3"}', true),
('$or nested in $or, none', '{"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}', '{"d": "4"}', false),
('$or alternatives are conjunctions', '{"$or": [{"a": ["1"], "b": ["2"]}, {"c": ["3"]}]}', '{"a": "1", "b": "9"}', false),
('$or alternatives are conjunctions, all there', '{"$or": [{"a": ["1"], "b": ["2"]}, {"c": ["3"]}]}', '{"a": "1", "b": "2"}', true),
('$or with exists false: missing', '{"$or": [{"a": [{"exists": false}]}, {"a": ["x"]}]}', '{}', true),
('$or with exists false: another value', '{"$or": [{"a": [{"exists": false}]}, {"a": ["x"]}]}', '{"a": "y"}', false),
('$or in an array of objects: one element', '{"r": {"v": ["1"], "$or": [{"t": ["A"]}, {"u": ["B"]}]}}', '{"r": [{"t": "A", "v": "2"}, {"u": "B", "v": "1"}]}', true),
('$or in an array of objects: no single element', '{"r": {"v": ["1"], "$or": [{"t": ["A"]}, {"u": ["B"]}]}}', '{"r": [{"t": "A", "v": "2"}, {"u": "C", "v": "1"}]}', false),
-- all together, on a CloudTrail record
('a rule on CloudTrail records', '{"source": ["aws.cloudtrail"], "detail-type": ["AWS API Call via CloudTrail"],
  "detail": {"eventSource": ["iam.postgresql"], "eventName": [{"prefix": "Create"}, {"prefix": "Drop"}],
             "errorCode": [{"exists": false}], "userIdentity": {"type": [{"anything-but": "AssumedRole"}]},
             "requestParameters": {"roleName": [{"wildcard": "al*"}]}}}', pg_temp.ct(), true),
('a rule on CloudTrail records, another role', '{"source": ["aws.cloudtrail"], "detail-type": ["AWS API Call via CloudTrail"],
  "detail": {"eventSource": ["iam.postgresql"], "eventName": [{"prefix": "Create"}, {"prefix": "Drop"}],
             "errorCode": [{"exists": false}], "userIdentity": {"type": [{"anything-but": "AssumedRole"}]},
             "requestParameters": {"roleName": [{"wildcard": "bo*"}]}}}', pg_temp.ct(), false),
-- limits (the refusals are below)
('10 objects deep', pg_temp.nest(10, '["x"]'), pg_temp.nest(10, '"x"'), true),
('1000 values', jsonb_build_object('a', pg_temp.numbers(1000)), '{"a": 999}', true);

SELECT is(trail.test_event_pattern(pattern, event), expected, format('%s: %s', n, what))
  FROM cases ORDER BY n;

------------------------------------------------------------------------------
-- Invalid patterns: refused whatever the event, naming the offending part
------------------------------------------------------------------------------
CREATE TEMP TABLE invalid (n serial, what text, pattern jsonb, message text);
INSERT INTO invalid (what, pattern, message) VALUES
('an array', '[{"source": ["x"]}]', 'event pattern: must be a JSON object, not an array'),
('a string', '"x"', 'event pattern: must be a JSON object, not a string'),
('a number', '1', 'event pattern: must be a JSON object, not a number'),
('null', 'null', 'event pattern: must be a JSON object, not null'),
('an empty pattern', '{}', 'event pattern: an object in a pattern must name at least one field'),
('an empty nested object', '{"detail": {}}', 'detail: an object in a pattern must name at least one field'),
('a string leaf', '{"source": "aws.cloudtrail"}', 'source: a pattern''s leaves must be arrays, not a string'),
('a number leaf', '{"detail": {"n": 5}}', 'detail.n: a pattern''s leaves must be arrays, not a number'),
('a null leaf', '{"detail": {"n": null}}', 'detail.n: a pattern''s leaves must be arrays, not null'),
('a key that needs quoting', '{"a.b": {"c d": "x"}}', '"a.b"."c d": a pattern''s leaves must be arrays, not a string'),
('an empty array', '{"source": []}', 'source: an array of matchers must not be empty'),
('an array in an array', '{"source": [["a"]]}', 'source[0]: a matcher is a string, a number, true, false, null or an object with one operator, not an array'),
('an unknown operator', '{"detail": {"eventName": ["a", {"prefx": "b"}]}}', 'detail.eventName[1]: unknown operator "prefx"'),
('anything_but', '{"a": [{"anything_but": "x"}]}', 'a[0]: unknown operator "anything_but"'),
('an empty matcher object', '{"a": [{}]}', 'a[0]: a matcher object has exactly one operator, not 0'),
('two operators in one object', '{"a": [{"prefix": "x", "suffix": "y"}]}', 'a[0]: a matcher object has exactly one operator, not 2'),
('prefix: a number', '{"a": [{"prefix": 1}]}', 'a[0].prefix: must be a string or {"equals-ignore-case": string}, not a number'),
('prefix: equals-ignore-case of a number', '{"a": [{"prefix": {"equals-ignore-case": 1}}]}', 'a[0].prefix: must be a string or {"equals-ignore-case": string}, not an object'),
('suffix: an unknown option', '{"a": [{"suffix": {"ignore-case": "x"}}]}', 'a[0].suffix: must be a string or {"equals-ignore-case": string}, not an object'),
('equals-ignore-case: an array', '{"a": [{"equals-ignore-case": ["x"]}]}', 'a[0].equals-ignore-case: must be a string, not an array'),
('wildcard: a number', '{"a": [{"wildcard": 1}]}', 'a[0].wildcard: must be a string, not a number'),
('wildcard: empty', '{"a": [{"wildcard": ""}]}', 'a[0].wildcard: must not be empty'),
('wildcard: two stars', '{"a": [{"wildcard": "a**b"}]}', 'a[0].wildcard: consecutive wildcard characters at character 3'),
('wildcard: a backslash before a letter', '{"a": [{"wildcard": "a\\b"}]}', 'a[0].wildcard: a backslash must escape * or \ (character 2)'),
('wildcard: a trailing backslash', '{"a": [{"wildcard": "ab\\"}]}', 'a[0].wildcard: a backslash must escape * or \ (character 3)'),
('exists: a string', '{"a": [{"exists": "true"}]}', 'a[0].exists: must be true or false, not a string'),
('numeric: a number', '{"a": [{"numeric": 5}]}', 'a[0].numeric: must be an array of one or two comparisons, like [">", 0, "<=", 5]'),
('numeric: three elements', '{"a": [{"numeric": [">", 0, "<"]}]}', 'a[0].numeric: must be an array of one or two comparisons, like [">", 0, "<=", 5]'),
('numeric: =>', '{"n": [{"numeric": ["=>", 5]}]}', 'n[0].numeric[0]: operator "=>" is not one of = < <= > >='),
('numeric: =< second', '{"n": [{"numeric": [">", 0, "=<", 5]}]}', 'n[0].numeric[2]: operator "=<" is not one of = < <= > >='),
('numeric: a string operand', '{"n": [{"numeric": [">", "5"]}]}', 'n[0].numeric[1]: must be a number, not a string'),
('numeric: a number for an operator', '{"n": [{"numeric": [5, ">"]}]}', 'n[0].numeric[0]: must be an operator (= < <= > >=), not a number'),
('numeric: = and another', '{"n": [{"numeric": ["=", 1, "<", 5]}]}', 'n[0].numeric: "=" cannot be combined with another comparison'),
('numeric: two lower bounds', '{"n": [{"numeric": [">", 1, ">=", 5]}]}', 'n[0].numeric: a range has one lower bound (> or >=) and one upper bound (< or <=)'),
('numeric: two upper bounds', '{"n": [{"numeric": ["<", 1, "<", 5]}]}', 'n[0].numeric: a range has one lower bound (> or >=) and one upper bound (< or <=)'),
('numeric: an empty range', '{"n": [{"numeric": [">", 5, "<", 5]}]}', 'n[0].numeric: the range is empty'),
('numeric: a reversed range', '{"n": [{"numeric": [">=", 6, "<=", 5]}]}', 'n[0].numeric: the range is empty'),
('anything-but: a boolean', '{"a": [{"anything-but": true}]}', 'a[0].anything-but: must be a string, a number, an array of strings or of numbers, or an object with prefix, suffix, equals-ignore-case or wildcard, not a boolean'),
('anything-but: an empty list', '{"a": [{"anything-but": []}]}', 'a[0].anything-but: must not be an empty array'),
('anything-but: strings and numbers', '{"a": [{"anything-but": ["x", 1]}]}', 'a[0].anything-but[1]: the values of an anything-but list must be all strings or all numbers'),
('anything-but: null in a list', '{"a": [{"anything-but": [null]}]}', 'a[0].anything-but[0]: must be a string or a number, not null'),
('anything-but: numeric', '{"a": [{"anything-but": {"numeric": [">", 1]}}]}', 'a[0].anything-but: unknown operator "numeric" (anything-but takes prefix, suffix, equals-ignore-case or wildcard)'),
('anything-but: two operators', '{"a": [{"anything-but": {"prefix": "x", "suffix": "y"}}]}', 'a[0].anything-but: an anything-but object has exactly one operator, not 2'),
('anything-but: prefix of a number', '{"a": [{"anything-but": {"prefix": 1}}]}', 'a[0].anything-but.prefix: must be a string, not a number'),
('anything-but: equals-ignore-case of a number', '{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}', 'a[0].anything-but.equals-ignore-case[0]: must be a string, not a number'),
('anything-but: a bad wildcard in a list', '{"a": [{"anything-but": {"wildcard": ["x*", "**"]}}]}', 'a[0].anything-but.wildcard[1]: consecutive wildcard characters at character 2'),
('cidr: not an address', '{"ip": [{"cidr": "not-an-ip"}]}', 'ip[0].cidr: must be an IPv4 or IPv6 network like "10.0.0.0/24", not "not-an-ip"'),
('cidr: /33', '{"ip": [{"cidr": "10.0.0.0/33"}]}', 'ip[0].cidr: the prefix length must be 0 to 32'),
('cidr: /129', '{"ip": [{"cidr": "::/129"}]}', 'ip[0].cidr: the prefix length must be 0 to 128'),
('cidr: no length after the slash', '{"ip": [{"cidr": "10.0.0.0/"}]}', 'ip[0].cidr: the prefix length must be 0 to 32'),
('cidr: a number', '{"ip": [{"cidr": 10}]}', 'ip[0].cidr: must be a string, not a number'),
('$or: an object', '{"$or": {"a": ["x"]}}', '$or: must be an array of at least two objects'),
('$or: one pattern', '{"$or": [{"a": ["x"]}]}', '$or: must be an array of at least two objects'),
('$or: an array in it', '{"detail": {"$or": [{"a": ["x"]}, ["b"]]}}', 'detail.$or[1]: must be a JSON object, not an array'),
('$or: an empty pattern in it', '{"$or": [{"a": ["x"]}, {}]}', '$or[1]: an object in a pattern must name at least one field'),
('$or: an error inside', '{"$or": [{"a": ["x"]}, {"b": [{"exists": 1}]}]}', '$or[1].b[0].exists: must be true or false, not a number'),
('11 objects deep', pg_temp.nest(11, '["x"]'), 'a.a.a.a.a.a.a.a.a.a: a pattern nests at most 10 objects deep'),
('$or counts as a level', pg_temp.nest(9, '{"$or": [{"b": ["x"]}, {"c": ["y"]}]}'), 'a.a.a.a.a.a.a.a.a.$or[0]: a pattern nests at most 10 objects deep'),
('1001 values in a leaf', jsonb_build_object('a', pg_temp.numbers(1001)), 'a[1000]: a pattern has at most 1000 values'),
('1001 values in all', jsonb_build_object('a', pg_temp.numbers(500), 'b', pg_temp.numbers(501)), 'b[500]: a pattern has at most 1000 values'),
('anything-but lists count', jsonb_build_object('a', pg_temp.numbers(999), 'b', '[{"anything-but": ["x", "y"]}]'::jsonb), 'b[0].anything-but[1]: a pattern has at most 1000 values'),
('an invalid part no event reaches', '{"source": ["nothing"], "detail": {"y": [{"numeric": [">"]}]}}', 'detail.y[0].numeric: must be an array of one or two comparisons, like [">", 0, "<=", 5]');

SELECT throws_ok(format('SELECT trail.test_event_pattern(%L::jsonb, %L::jsonb)', pattern, pg_temp.ct()),
                 '22023', 'InvalidEventPatternException: ' || message,
                 format('invalid %s: %s', n, what))
  FROM invalid ORDER BY n;

------------------------------------------------------------------------------
-- The function
------------------------------------------------------------------------------
SELECT is(trail.test_event_pattern(NULL, pg_temp.ct()), NULL, 'a NULL pattern gives NULL (STRICT)');
SELECT is(trail.test_event_pattern('{"a": ["x"]}', NULL), NULL, 'a NULL event gives NULL');
SELECT is((SELECT count(*)::int FROM generate_series(1, 1000) i
            WHERE trail.test_event_pattern('{"n": [{"numeric": [">", 500]}]}', jsonb_build_object('n', i))),
          500, 'one pattern over many events (compiled once)');
SELECT is((SELECT count(*)::int FROM generate_series(1, 100) i
            WHERE trail.test_event_pattern(jsonb_build_object('n', jsonb_build_array(i % 10)), '{"n": 3}')),
          10, 'a different pattern on every row');
SELECT volatility_is('trail', 'test_event_pattern', ARRAY['jsonb', 'jsonb'], 'immutable',
	'test_event_pattern is immutable');
SELECT is_strict('trail', 'test_event_pattern', ARRAY['jsonb', 'jsonb'], 'test_event_pattern is strict');
SELECT ok(has_function_privilege('trail_reader', 'trail.test_event_pattern(jsonb, jsonb)', 'EXECUTE'),
	'trail_reader may test event patterns');
SELECT ok(NOT has_function_privilege('public', 'trail.test_event_pattern(jsonb, jsonb)', 'EXECUTE'),
	'PUBLIC may not');

SELECT * FROM finish();
ROLLBACK;
