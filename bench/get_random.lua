-- GET <prefix><id> for an id drawn at random from a file of ids.
-- wrk ... -s get_random.lua <base-url> -- <ids-file> <path-prefix>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local ids, prefix

function init(args)
  ids = read_lines(args[1])
  prefix = args[2]
  seed_random()
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
