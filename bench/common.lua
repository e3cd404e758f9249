-- Helpers for the scenario scripts: loaded with dofile(os.getenv("BENCH_LUA_DIR") .. ...).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  assert(#lines > 0, "no lines in " .. path)
  return lines
end

-- Each thread gets its own id (set in the main state), so their random streams differ.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function seed_random()
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end
