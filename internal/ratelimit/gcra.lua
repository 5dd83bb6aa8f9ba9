-- GCRA, one key. KEYS[1]: the key. ARGV: burst, emission interval in
-- microseconds, cost. Answers {allowed, remaining, retry_after_us,
-- reset_after_us}. The clock is Redis's own (TIME), so instances agree.
local burst = tonumber(ARGV[1])
local emission = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

-- TIME before a write needs effects replication (the default since 5.0).
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call("GET", KEYS[1]))
if tat == nil or tat < now then
  tat = now
end

local new_tat = tat + emission * cost
local allow_at = new_tat - emission * burst
local diff = now - allow_at
if diff < 0 then
  return {0, 0, -diff, tat - now}
end

local reset_after = new_tat - now
redis.call("SET", KEYS[1], string.format("%d", new_tat), "PX", math.ceil(reset_after / 1000))
return {1, math.floor(diff / emission), 0, reset_after}
