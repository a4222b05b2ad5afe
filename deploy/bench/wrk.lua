-- The wrk script of deploy/bench.sh: POSTs the JSON body in $FWD_BENCH_BODY (the script sets it
-- per workload; per-target headers such as the fwd key come from wrk -H) and, after the run,
-- prints one machine-readable line. Latencies there are wrk's own, in microseconds: closed-loop
-- numbers, for orientation only (the open-loop ones come from fwd_loadgen).
wrk.method = "POST"
wrk.body = os.getenv("FWD_BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50=%d p99=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
