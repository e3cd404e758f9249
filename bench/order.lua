-- POST /api/v1/orders: one unit of a product drawn at random from the ids file (a
-- single line for the hot-product scenario), by the customers' tokens in turn; with
-- "keyed", each request carries an Idempotency-Key of its own, as a careful client's.
-- wrk ... -s order.lua <base-url> -- <tokens-file> <ids-file> [keyed]
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens, ids, n, keyed
local sent = 0

local address = '"shipping_address":{"name":"Bench Customer","line1":"1 Load Street",' ..
  '"city":"Helsinki","postal_code":"00100","country":"FI"}'

function init(args)
  tokens = read_lines(args[1])
  ids = read_lines(args[2])
  keyed = args[3] == "keyed"
  seed_random()
  n = math.random(#tokens)
end

function request()
  n = n % #tokens + 1
  local body = string.format('{"items":[{"product_id":"%s","quantity":1}],%s}',
    ids[math.random(#ids)], address)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[n],
  }
  if keyed then
    sent = sent + 1  -- unique per thread and run: the thread, the start time, a count
    headers["Idempotency-Key"] = string.format("bench-%d-%d-%d-%d",
      thread_id or 0, os.time(), math.random(1000000000), sent)
  end
  return wrk.format("POST", "/api/v1/orders", headers, body)
end

function response(status, headers, body)
  count_failure(status, body)
end
