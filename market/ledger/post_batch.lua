-- Posts one usage batch: postings, balances, volume counters and the batch id's idempotency
-- record, all or nothing; then acknowledges the stream entry that carried the batch.
--
-- KEYS: 1 batches (hash), 2 order (list), 3 postings (hash), 4 debits (hash), 5 credits (hash),
--       6 totals (hash), 7 volume (hash), 8 periods (hash), 9 lines (string), 10 updated (hash),
--       11 usage stream, 12.. one list per billed period (in ARGV's period order),
--       then (when vouchers are drawn) the vouchers' remaining amounts (hash voucher id -> fen)
-- ARGV: 1 batch id, 2 now ms, 3 posted fen (charged lines + voucher draws), 4 summary (JSON), 5 postings (JSON),
--       6 lines (bytes), 7 consumer group ("" for none), 8 stream entry id,
--       9 n debited accounts, then per account: id, fen; then n credited accounts, then per account: id, fen
--       (the batch's postings summed per account; the postings themselves are in ARGV 5); then n periods, the period names; then n volume fields, per field: name, expected, new;
--       then (optional) n vouchers drawn, per voucher: id, expected remaining fen, new remaining fen, valid until ms;
--       then (optional) n record periods, retention ms, per period: its name, the length its record log must have,
--       and the hashes of the batch's record ids with usage in it (8 bytes each), whose logs are the KEYS after the
--       vouchers' key;
--       then (optional, after "0, 0" when no record periods are sent) n accruals, per posting whose micro-fen are
--       not whole fen: its index in the body's columns, its period's position among the n periods, its pair's field
--       ("kind|debit account|credit account"), micro-fen below a fen (1..999999); their hashes (one
--       per period, field -> micro-fen accrued, 0..999999) are the KEYS after the record sets, in period order
-- Returns {1, seq} posted, {0, summary} already posted, {-1, period} period closed, {-2, field} stale volume,
-- {-3, voucher id} stale voucher (its remaining amount changed since it was read, or it expired),
-- {-4, period} stale record log (another biller appended to it), {-5, period} records of a period forgotten (too late).
local function ack()
  if ARGV[7] ~= '' then redis.call('XACK', KEYS[11], ARGV[7], ARGV[8]) end
end

local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  ack()
  return {0, prior}
end

local at = 9
local n_debits = tonumber(ARGV[at]); at = at + 1
local debits_at = at
at = at + 2 * n_debits
local n_credits = tonumber(ARGV[at]); at = at + 1
local credits_at = at
at = at + 2 * n_credits
local n_periods = tonumber(ARGV[at]); at = at + 1
local periods_at = at
at = at + n_periods
local n_volume = tonumber(ARGV[at]); at = at + 1
local volume_at = at
at = at + 3 * n_volume
local n_vouchers = tonumber(ARGV[at] or '0'); at = at + 1
local vouchers_at = at
local vouchers_key = KEYS[12 + n_periods]
local records_at = vouchers_at + 4 * n_vouchers
local n_record_periods = tonumber(ARGV[records_at] or '0')
local accruals_at = records_at + 2 + 3 * n_record_periods
local n_accruals = tonumber(ARGV[accruals_at] or '0'); accruals_at = accruals_at + 1
local accrual_keys_at = 13 + n_periods + n_record_periods

for i = 0, n_periods - 1 do
  local state = redis.call('HGET', KEYS[8], ARGV[periods_at + i])
  if state and string.sub(state, 1, 6) == 'closed' then return {-1, ARGV[periods_at + i]} end
end
-- A batch holds hundreds of volume counters and accounts: read and write them a chunk per command
-- (HMGET, HSET with many fields), not one command each; a chunk stays well inside Lua's stack.
local CHUNK = 2000
local function each_chunk(n, call)
  for from = 0, n - 1, CHUNK do call(from, math.min(from + CHUNK, n) - 1) end
end
local stale
each_chunk(n_volume, function(from, to)
  if stale then return end
  local fields = {}
  for i = from, to do fields[#fields + 1] = ARGV[volume_at + 3 * i] end
  local current = redis.call('HMGET', KEYS[7], unpack(fields))
  for i = from, to do
    -- Compared as decimal strings: counters reach 2^61, past what a Lua number holds exactly.
    if (current[i - from + 1] or '0') ~= ARGV[volume_at + 3 * i + 1] then
      stale = ARGV[volume_at + 3 * i]
      return
    end
  end
end)
if stale then return {-2, stale} end
-- A voucher draws only what it had when the draw was computed, and never after it expired.
for i = 0, n_vouchers - 1 do
  local voucher = ARGV[vouchers_at + 4 * i]
  local left = redis.call('HGET', vouchers_key, voucher)
  local after = tonumber(ARGV[vouchers_at + 4 * i + 2])
  if left ~= ARGV[vouchers_at + 4 * i + 1] or tonumber(ARGV[2]) >= tonumber(ARGV[vouchers_at + 4 * i + 3])
     or not after or after < 0 or after >= tonumber(left) then
    return {-3, voucher}
  end
end

-- Each record_id is billed once (market/billing/record_index.py): the biller checked the batch's record hashes
-- against each period's log as long as `expected` bytes, so the log must still be that long; a period closed
-- `retention ms` ago or more has forgotten its log: its records come too late.
local record_logs = {}
if n_record_periods > 0 then
  local retention_ms = tonumber(ARGV[records_at + 1])
  for p = 0, n_record_periods - 1 do
    local period, expected = ARGV[records_at + 2 + 3 * p], tonumber(ARGV[records_at + 3 + 3 * p])
    local state = redis.call('HGET', KEYS[8], period)
    if state and string.sub(state, 1, 7) == 'closed:' and tonumber(ARGV[2]) >= tonumber(string.sub(state, 8)) + retention_ms then
      return {-5, period}
    end
    local key = KEYS[12 + n_periods + 1 + p]
    if redis.call('STRLEN', key) ~= expected then return {-4, period} end
    record_logs[#record_logs + 1] = {key, ARGV[records_at + 4 + 3 * p]}
  end
end


-- Refuse a posting set that does not balance: every amount a whole number of fen in 1..2^63-1, debits and credits
-- each adding up to exactly the batch's charged total. Lua numbers are doubles (exact below 2^53) and a batch's
-- total may pass 2^53 fen: each amount is summed as its digits above and below 10^9 apart, both exact.
local INT64_MAX, BILLION = '9223372036854775807', 1000000000
local function digits(text)
  if not text or not string.match(text, '^[1-9]%d*$') or #text > 19 or (#text == 19 and text > INT64_MAX) then return nil end
  return #text > 9 and tonumber(string.sub(text, 1, -10)) or 0, tonumber(string.sub(text, -9))
end
local function normal(high, low) return high + math.floor(low / BILLION), low % BILLION end
local function total(from, n, side)
  local high, low = 0, 0
  for i = 0, n - 1 do
    local h, l = digits(ARGV[from + 2 * i + 1])
    if not h then
      return nil, 'ERR unbalanced posting set: ' .. side .. ' amount ' .. tostring(ARGV[from + 2 * i + 1]) .. ' of ' .. ARGV[from + 2 * i]
        .. '; expected a whole number of fen in 1..' .. INT64_MAX
    end
    high, low = high + h, low + l
  end
  return string.format('%d|%09d', normal(high, low))
end
local charged_high, charged_low = digits(ARGV[3])
if ARGV[3] == '0' then charged_high, charged_low = 0, 0 end
local charged = charged_high and string.format('%d|%09d', charged_high, charged_low)
local debited, err = total(debits_at, n_debits, 'debit')
if not debited then return redis.error_reply(err) end
local credited, err2 = total(credits_at, n_credits, 'credit')
if not credited then return redis.error_reply(err2) end
if not charged or debited ~= charged or credited ~= charged then
  return redis.error_reply('ERR unbalanced posting set: debits ' .. debited .. ', credits ' .. credited .. ', charged ' .. ARGV[3]
    .. ' (fen as digits above|below 10^9; the charged total must be 0..' .. INT64_MAX .. ')')
end
-- Redis counters are int64 and a script is not rolled back when a command fails: refuse, before writing anything,
-- a batch that would take the ledger's totals (which bound every account's debits and credits) past 2^63-1 fen,
-- counting a fen for each accrual that may carry.
for _, side in ipairs({'debits_fen', 'credits_fen'}) do
  local stored = redis.call('HGET', KEYS[6], side) or '0'
  local h, l = digits(stored)
  if stored == '0' then h, l = 0, 0 end
  if h then h, l = normal(h + charged_high, l + charged_low + n_accruals) end
  if not h or h > 9223372036 or (h == 9223372036 and l > 854775807) then
    return redis.error_reply('ERR ledger full: ' .. side .. ' ' .. stored .. ' plus this batch\'s ' .. ARGV[3]
      .. ' fen would pass 2^63-1 fen, the most a Redis counter holds')
  end
end

-- Amounts below a fen (docs/billing.md): each pair's micro-fen accrue in its period's hash; a posting whose
-- pair crosses a fen moves one fen more, on both sides, so debits still equal credits. Read and checked
-- here, written below with the rest.
local accrued, carried, carry_debits, carry_credits, carry_fen = {}, {}, {}, {}, 0
local fields_of = {}  -- accrual key -> its fields in first-seen order: read with HMGET a chunk at a time
for i = 0, n_accruals - 1 do
  local a = accruals_at + 4 * i
  local sub, position = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 1])
  if not sub or sub < 1 or sub > 999999 or sub ~= math.floor(sub) or not position or position < 0 or position >= n_periods then
    return redis.error_reply('ERR bad accrual ' .. tostring(ARGV[a + 2]) .. ': ' .. tostring(ARGV[a + 3]) .. ' micro-fen in period #' .. tostring(ARGV[a + 1]) .. '; expected 1..999999 micro-fen')
  end
  local key = KEYS[accrual_keys_at + position]
  accrued[key] = accrued[key] or {}
  if not accrued[key][ARGV[a + 2]] then
    accrued[key][ARGV[a + 2]] = 0
    fields_of[key] = fields_of[key] or {}
    table.insert(fields_of[key], ARGV[a + 2])
  end
end
for key, fields in pairs(fields_of) do
  each_chunk(#fields, function(from, to)
    local current = redis.call('HMGET', key, unpack(fields, from + 1, to + 1))
    for i = from, to do accrued[key][fields[i + 1]] = tonumber(current[i - from + 1] or '0') end
  end)
end
for i = 0, n_accruals - 1 do
  local a = accruals_at + 4 * i
  local counters = accrued[KEYS[accrual_keys_at + tonumber(ARGV[a + 1])]]
  local total = counters[ARGV[a + 2]] + tonumber(ARGV[a + 3])
  if total >= 1000000 then
    total = total - 1000000
    carried[#carried + 1] = ARGV[a]
    local debit, credit = string.match(ARGV[a + 2], '^%d+|([^|]+)|(.+)$')
    if not debit then return redis.error_reply('ERR accrual field ' .. ARGV[a + 2] .. ' is not kind|debit|credit') end
    carry_debits[debit] = (carry_debits[debit] or 0) + 1
    carry_credits[credit] = (carry_credits[credit] or 0) + 1
    carry_fen = carry_fen + 1
  end
  counters[ARGV[a + 2]] = total
end

local function hset_chunks(key, n, pair)
  each_chunk(n, function(from, to)
    local args = {}
    for i = from, to do
      local field, value = pair(i)
      args[#args + 1] = field
      args[#args + 1] = value
    end
    redis.call('HSET', key, unpack(args))
  end)
end
for i = 0, n_debits - 1 do
  redis.call('HINCRBY', KEYS[4], ARGV[debits_at + 2 * i], ARGV[debits_at + 2 * i + 1])
end
for i = 0, n_credits - 1 do
  redis.call('HINCRBY', KEYS[5], ARGV[credits_at + 2 * i], ARGV[credits_at + 2 * i + 1])
end
hset_chunks(KEYS[10], n_debits, function(i) return ARGV[debits_at + 2 * i], ARGV[2] end)
hset_chunks(KEYS[10], n_credits, function(i) return ARGV[credits_at + 2 * i], ARGV[2] end)
-- Carries: one HINCRBY per account that carried (their `updated` was set above with the rest of the batch's
-- accounts, or is set here); counters written a chunk per command, a counter back at 0 deleted.
for side, carries in pairs({[KEYS[4]] = carry_debits, [KEYS[5]] = carry_credits}) do
  local accounts = {}
  for account, fen in pairs(carries) do
    redis.call('HINCRBY', side, account, fen)
    accounts[#accounts + 1] = account
  end
  hset_chunks(KEYS[10], #accounts, function(i) return accounts[i + 1], ARGV[2] end)
end
for key, fields in pairs(fields_of) do
  local kept, zero = {}, {}
  for _, field in ipairs(fields) do
    if accrued[key][field] == 0 then zero[#zero + 1] = field else kept[#kept + 1] = field end
  end
  hset_chunks(key, #kept, function(i) return kept[i + 1], accrued[key][kept[i + 1]] end)
  each_chunk(#zero, function(from, to) redis.call('HDEL', key, unpack(zero, from + 1, to + 1)) end)
end
redis.call('HINCRBY', KEYS[6], 'debits_fen', ARGV[3])
redis.call('HINCRBY', KEYS[6], 'credits_fen', ARGV[3])
if carry_fen > 0 then  -- apart: a Lua number past 10^14 would be formatted with an exponent
  redis.call('HINCRBY', KEYS[6], 'debits_fen', carry_fen)
  redis.call('HINCRBY', KEYS[6], 'credits_fen', carry_fen)
end
redis.call('HINCRBY', KEYS[6], 'batches', 1)
hset_chunks(KEYS[7], n_volume, function(i) return ARGV[volume_at + 3 * i], ARGV[volume_at + 3 * i + 2] end)
for i = 0, n_periods - 1 do
  redis.call('RPUSH', KEYS[12 + i], ARGV[1])
end
for i = 0, n_vouchers - 1 do
  redis.call('HSET', vouchers_key, ARGV[vouchers_at + 4 * i], ARGV[vouchers_at + 4 * i + 2])
end
for _, log in ipairs(record_logs) do redis.call('APPEND', log[1], log[2]) end
local seq = redis.call('RPUSH', KEYS[2], ARGV[1])
-- The postings that carried are named in the stored body (and their fen in the summary): readers add them.
local body, summary = ARGV[5], ARGV[4]
if carry_fen > 0 then
  body = string.sub(body, 1, -2) .. ',"carry":[' .. table.concat(carried, ',') .. ']}'
  summary = string.sub(summary, 1, -2) .. ', "carry_fen": ' .. carry_fen .. '}'
end
redis.call('HSET', KEYS[3], ARGV[1], body)
if ARGV[6] ~= '' then redis.call('SET', KEYS[9], ARGV[6]) end
redis.call('HSET', KEYS[1], ARGV[1], summary)
ack()
return {1, seq}
