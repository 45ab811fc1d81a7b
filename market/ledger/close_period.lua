-- Closes a period: marks it closed and rounds, once, what each (payer, payee) pair accrued below a fen in it
-- (docs/billing.md, "Amounts below a fen"), in one atomic step: no posting can land between the two.
-- A pair holding 500000..999999 micro-fen is paid one fen more (四舍五入, half up), under the batch id
-- "rounding:<period>"; 1..499999 are dropped. Closing a closed period again changes nothing.
--
-- KEYS: 1 periods (hash), 2 the period's accruals (hash "kind|debit|credit" -> micro-fen), 3 batches (hash),
--       4 order (list), 5 postings (hash), 6 debits (hash), 7 credits (hash), 8 totals (hash), 9 updated (hash),
--       10 the period's list of batch ids
-- ARGV: 1 period, 2 now ms, 3 the rounding batch id
-- Returns the unix ms the period was closed at (as a string).
local state = redis.call('HGET', KEYS[1], ARGV[1])
if state and string.sub(state, 1, 7) == 'closed:' then return string.sub(state, 8) end
redis.call('HSET', KEYS[1], ARGV[1], 'closed:' .. ARGV[2])

local flat = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
local fields = {}
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) >= 500000 then fields[#fields + 1] = flat[i] end
end
if #fields == 0 or redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return ARGV[2] end
table.sort(fields)  -- one order, whoever closes: the stored body is the same bytes

local rows, debits, credits = {}, {}, {}
for _, field in ipairs(fields) do
  local kind, debit, credit = string.match(field, '^(%d+)|([^|]+)|(.+)$')
  if not kind then return redis.error_reply('ERR accrual field ' .. field .. ' is not kind|debit|credit') end
  rows[#rows + 1] = {tonumber(kind), debit, credit, 1, ARGV[1], ''}
  debits[debit] = (debits[debit] or 0) + 1
  credits[credit] = (credits[credit] or 0) + 1
end
for account, fen in pairs(debits) do
  redis.call('HINCRBY', KEYS[6], account, fen)
  redis.call('HSET', KEYS[9], account, ARGV[2])
end
for account, fen in pairs(credits) do
  redis.call('HINCRBY', KEYS[7], account, fen)
  redis.call('HSET', KEYS[9], account, ARGV[2])
end
redis.call('HINCRBY', KEYS[8], 'debits_fen', #rows)
redis.call('HINCRBY', KEYS[8], 'credits_fen', #rows)
redis.call('HINCRBY', KEYS[8], 'batches', 1)
redis.call('RPUSH', KEYS[10], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[3], '{"postings":' .. cjson.encode(rows) .. ',"plans":{},"posted_unix_ms":' .. ARGV[2] .. '}')
redis.call('HSET', KEYS[3], ARGV[3], '{"records": 0, "charged_fen": ' .. #rows .. ', "periods": ["' .. ARGV[1]
  .. '"], "rounding": true, "posted_unix_ms": ' .. ARGV[2] .. '}')
return ARGV[2]
