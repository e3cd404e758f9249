-- POST /api/v1/orders: one unit of a product drawn at random from the ids file (a
-- single line for the hot-product scenario), by the customers' tokens in turn.
-- wrk ... -s order.lua <base-url> -- <tokens-file> <ids-file>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens, ids, n

local address = '"shipping_address":{"name":"Bench Customer","line1":"1 Load Street",' ..
  '"city":"Helsinki","postal_code":"00100","country":"FI"}'

function init(args)
  tokens = read_lines(args[1])
  ids = read_lines(args[2])
  seed_random()
  n = math.random(#tokens)
end

function request()
  n = n % #tokens + 1
  local body = string.format('{"items":[{"product_id":"%s","quantity":1}],%s}',
    ids[math.random(#ids)], address)
  return wrk.format("POST", "/api/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[n],
  }, body)
end
