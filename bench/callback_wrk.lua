-- wrk load for bench/callback_benchmark.py: each thread posts its share of the pre-encrypted callbacks in the
-- file named after "--" (one "path<TAB>body" per line), each once, and counts answers other than 200 "success".
-- A thread that runs out of callbacks starts over (duplicates, which are cheaper): the benchmark reports it.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  requests, next_index, bad, wrapped, first_bad = {}, 1, 0, 0, ""
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == id then
      local tab = line:find("\t", 1, true)
      requests[#requests + 1] = wrk.format("POST", line:sub(1, tab - 1), {["Content-Type"] = "text/xml"}, line:sub(tab + 1))
    end
    n = n + 1
  end
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then
    next_index, wrapped = 1, wrapped + 1
  end
  return r
end

function response(status, headers, body)
  if status ~= 200 or body ~= "success" then
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. body:sub(1, 80) end
  end
end

function done(summary, latency, requests)
  local bad_total, wrapped_total, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    wrapped_total = wrapped_total + thread:get("wrapped")
    if first == "" then first = thread:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d bad=%d wrapped=%d socket_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, bad_total, wrapped_total, e.connect + e.read + e.write, e.timeout))
  io.write(string.format("LATENCY p50=%d p95=%d p99=%d max=%d mean=%d\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
  if first ~= "" then io.write("FIRST_BAD " .. first .. "\n") end
end
