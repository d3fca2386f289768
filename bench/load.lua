-- load.lua -- wrk script of bench/load.sh and bench/events.sh (run by
-- bench_wrk in bench/lib.sh). Arguments (after --): the
-- route's name, then one or more "PATH AUTH" pairs (AUTH: the value of
-- the Authorization header). Each connection cycles through the pairs,
-- so one route is polled for several jobs and users. done() prints one
-- machine-readable line that the scripts parse:
--   route NAME requests N duration_us D errors E timeouts T non2xx X
--   5xx F p50 A p90 B p99 C max M        (latencies in microseconds)

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local reqs, i = {}, 0
non2xx, fivexx = 0, 0

function init(args)
    route = args[1]
    for k = 2, #args - 1, 2 do
        local hdr = { ["Authorization"] = args[k + 1] }
        table.insert(reqs, wrk.format("GET", args[k], hdr))
    end
    -- connections of one thread start at different pairs
    i = math.random(#reqs) - 1
end

function request()
    i = i % #reqs + 1
    return reqs[i]
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
    if status >= 500 then
        fivexx = fivexx + 1
    end
end

function done(summary, latency, requests)
    local n2, n5 = 0, 0
    for _, t in ipairs(threads) do
        n2 = n2 + t:get("non2xx")
        n5 = n5 + t:get("fivexx")
    end
    local e = summary.errors
    io.write(string.format(
        "route %s requests %d duration_us %d errors %d timeouts %d non2xx %d 5xx %d p50 %d p90 %d p99 %d max %d\n",
        threads[1]:get("route"), summary.requests, summary.duration,
        e.connect + e.read + e.write, e.timeout, n2, n5,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max))
end
