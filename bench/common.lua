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
threads = {}  -- for done(), in the main state: each thread's failures
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  threads[#threads + 1] = thread
end

-- For the scenarios whose failures must be explained (orders): call from response().
-- Counts each answer with a status above 399 by status and problem type slug.
failures = {}
function count_failure(status, body)
  if status < 400 then return end
  local slug = body and string.match(body, '"type":"[^"]*/([%w%-]+)"') or ""
  local name = tostring(status) .. (slug ~= "" and (" " .. slug) or "")
  failures[name] = (failures[name] or 0) + 1
end

function seed_random()
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end
