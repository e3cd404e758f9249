-- Shared by every scenario: at the end, one machine-readable line with the figures
-- bench/run.py reads (latencies in microseconds). wrk counts a response with a
-- status above 399 in errors.status; scenarios that call count_failure() (common.lua)
-- from response() also say which statuses and problem types those were.
local function failures_json()
  local totals = {}
  for _, thread in ipairs(threads or {}) do
    for name, count in pairs(thread:get("failures") or {}) do
      totals[name] = (totals[name] or 0) + count
    end
  end
  local parts = {}
  for name, count in pairs(totals) do
    parts[#parts + 1] = string.format('"%s":%d', name, count)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH_JSON {"failures":%s,"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    failures_json(), summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
