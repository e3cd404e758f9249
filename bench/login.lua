-- POST /api/v1/auth/login as one of the benchmark's customers, in turn.
-- wrk ... -s login.lua <base-url> -- <credentials-file: email TAB password per line>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local bodies, n = {}, 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  for _, line in ipairs(read_lines(args[1])) do
    local address, password = line:match("^([^\t]+)\t(.+)$")
    bodies[#bodies + 1] = string.format('{"email":"%s","password":"%s"}', address, password)
  end
  seed_random()
  n = math.random(#bodies)
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", "/api/v1/auth/login", headers, bodies[n])
end
