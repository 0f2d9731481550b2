-- wrk script of benches/run.py: sets the request from the environment and prints the result as
-- one JSON line (prefixed "BENCH_JSON ") so the harness needs no parsing of wrk's text output.
--
--   BENCH_METHOD   GET (default) or POST
--   BENCH_BODY     form body (sent as application/x-www-form-urlencoded)
--   BENCH_AUTH     value of the Authorization header
--   BENCH_REFRESH_TOKENS, BENCH_THREADS
--                  refresh-token mode: refresh tokens rotate and a reused one revokes its whole
--                  family, so each request must present the token the previous one returned.
--                  Each wrk thread keeps a pool of live tokens (one line each in the file, shared
--                  out between threads); a request takes one, its response puts the new one back.
--                  With more tokens than connections per thread the pool never runs dry.

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")
local tokens_file = os.getenv("BENCH_REFRESH_TOKENS")
if body or tokens_file then
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
if body then
  wrk.body = body
end
if auth then
  wrk.headers["Authorization"] = auth
end

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

if tokens_file then
  local pool = {}

  function init(args)
    local n = tonumber(os.getenv("BENCH_THREADS") or "1")
    local i = 0
    for line in io.lines(tokens_file) do
      if i % n == id then
        table.insert(pool, line)
      end
      i = i + 1
    end
  end

  function request()
    -- An empty pool means earlier refreshes failed; the request then fails too (and counts).
    local token = table.remove(pool) or "pool-exhausted"
    -- A fresh header table: wrk.format stores Content-Length in the table it is given.
    local headers = {}
    for k, v in pairs(wrk.headers) do
      headers[k] = v
    end
    return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
  end

  function response(status, headers, resp_body)
    local token = resp_body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      table.insert(pool, token)
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
