#include "dataplane/ratelimit/redis_script.h"

#include <charconv>

#include "common/crypto/token.h"

namespace fwd::dataplane::ratelimit {
namespace {

// Both scripts: `now` (Redis's clock, ms); period(1|2|3) names the UTC day, month or "total" a
// budget counts in now, as common::config::budgetPeriodIndex does (the month from the day by
// the civil-from-days algorithm); budgetKey(kind, period) is where it is counted and
// budgetExpire(period) how long that count is kept (ms; 0: always).
constexpr char kPreamble[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local p = KEYS[1]
local function period(which)
  if which == 3 then return 't' end
  local day = math.floor(now / 86400000)
  if which == 1 then return 'd' .. day end
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return 'm' .. ((y - 1970) * 12 + m - 1)
end
local function budgetKey(kind, which) return p .. ':b:' .. kind .. ':' .. period(which) end
local function budgetExpire(which)
  if which == 1 then return 259200000 elseif which == 2 then return 3456000000 end
  return 0
end
)lua";

constexpr char kAdmitBody[] = R"lua(
local i = 1
local function arg() local v = tonumber(ARGV[i]); i = i + 1; return v end
local rates = {}
for w = 1, arg() do rates[w] = {limit = arg(), ms = arg(), strategy = arg()} end
local tokens = {}
for w = 1, arg() do tokens[w] = {limit = arg(), ms = arg()} end
local budgets = {}
for b = 1, arg() do budgets[b] = {kind = arg(), period = arg(), limit = arg()} end
local amount = arg()
local parallel = arg()
local function num(key) return tonumber(redis.call('GET', key) or '0') end

local refusal = 0
local rl, rw, rr, rs, retry = 0, 0, 0, 0, 0
local tl, tw, tr, ts = 0, 0, 0, 0
-- Look first; count only when every limit admits. A spent budget refuses before anything else.
local bi, bs = 0, 0
for n, b in ipairs(budgets) do
  local spent = num(budgetKey(b.kind, b.period))
  if bi == 0 and spent >= b.limit then
    bi, bs = n, spent
    refusal = 5
  end
end
if refusal == 0 and parallel > 0 and num(p .. ':inflight') >= parallel then
  refusal = 2
  retry = 1000
end
local reported = false
for _, r in ipairs(rates) do
  local k = math.floor(now / r.ms)
  local into = now - k * r.ms
  local used, reset, wait
  if r.strategy == 2 then
    r.key = p .. ':r:' .. r.ms .. ':s:' .. k
    r.expire = 2 * r.ms + 1000
    local cur = num(r.key)
    local prev = num(p .. ':r:' .. r.ms .. ':s:' .. (k - 1))
    used = prev * (r.ms - into) / r.ms + cur
    reset = 2 * r.ms - into
    if cur + 1 > r.limit then
      wait = r.ms - into + math.max(0, math.ceil(r.ms - (r.limit - 1) * r.ms / (cur + 0.0)))
    elseif prev > 0 then
      wait = math.max(1, math.ceil(r.ms - (r.limit - cur - 1) * r.ms / prev) - into)
    else
      wait = 1
    end
  elseif r.strategy == 3 then
    r.key = p .. ':r:' .. r.ms .. ':e'
    r.expire = r.ms
    used = num(r.key)
    reset = r.ms
    wait = r.ms
  else
    r.key = p .. ':r:' .. r.ms .. ':f:' .. k
    r.expire = r.ms + 1000
    used = num(r.key)
    reset = r.ms - into
    wait = reset
  end
  local remaining = math.floor(r.limit - used - 1)
  if used + 1 > r.limit + 1e-9 then
    if refusal == 0 then
      refusal = 1
      rl, rw, rr, rs, retry = r.limit, r.ms, 0, reset, wait
    end
  elseif refusal == 0 and (not reported or remaining < rr) then
    reported = true
    rl, rw, rr, rs = r.limit, r.ms, remaining, reset
  end
end
local treported = false
for _, w in ipairs(tokens) do
  local k = math.floor(now / w.ms)
  w.key = p .. ':t:' .. w.ms .. ':' .. k
  local used = num(w.key)
  local reset = (k + 1) * w.ms - now
  if amount > w.limit then
    if refusal == 0 then refusal = 4; tl, tw, tr, ts = w.limit, w.ms, math.max(0, w.limit - used), reset end
  elseif used + amount > w.limit then
    if refusal == 0 then refusal = 3; tl, tw, tr, ts, retry = w.limit, w.ms, math.max(0, w.limit - used), reset, reset end
  elseif not treported or w.limit - used - amount < tr then
    treported = true
    tl, tw, tr, ts = w.limit, w.ms, w.limit - used - amount, reset
  end
end

if refusal == 0 then
  for _, r in ipairs(rates) do
    redis.call('INCR', r.key)
    redis.call('PEXPIRE', r.key, r.expire)
  end
  for _, w in ipairs(tokens) do
    if amount > 0 then
      redis.call('INCRBY', w.key, amount)
      redis.call('PEXPIRE', w.key, w.ms + 1000)
    end
  end
  if parallel > 0 then
    redis.call('INCR', p .. ':inflight')
    redis.call('PEXPIRE', p .. ':inflight', 600000)
  end
elseif refusal ~= 5 then
  -- Elastic expiry counts refused requests too, and each pushes the window's end.
  for _, r in ipairs(rates) do
    if r.strategy == 3 then
      redis.call('INCR', r.key)
      redis.call('PEXPIRE', r.key, r.expire)
    end
  end
end
local out = {refusal == 0 and 1 or 0, refusal, rl, rw, rr, rs, retry, tl, tw, tr, ts, now, bi, bs}
for k, v in ipairs(out) do out[k] = string.format('%.0f', v) end
return table.concat(out, ' ')
)lua";

constexpr char kSettleBody[] = R"lua(
local admitted = tonumber(ARGV[1])
local reserved = tonumber(ARGV[2])
local used = tonumber(ARGV[3])
local release = tonumber(ARGV[4])
for w = 1, tonumber(ARGV[5]) do
  local ms = tonumber(ARGV[5 + w])
  local then_k = math.floor(admitted / ms)
  local now_k = math.floor(now / ms)
  if then_k == now_k then
    local key = p .. ':t:' .. ms .. ':' .. now_k
    if redis.call('INCRBY', key, used - reserved) < 0 then redis.call('SET', key, 0) end
    redis.call('PEXPIRE', key, ms + 1000)
  elseif used > reserved then
    local key = p .. ':t:' .. ms .. ':' .. now_k
    redis.call('INCRBY', key, used - reserved)
    redis.call('PEXPIRE', key, ms + 1000)
  end
end
local b0 = 6 + tonumber(ARGV[5])
for b = 1, tonumber(ARGV[b0] or '0') do
  local kind = tonumber(ARGV[b0 + 3 * b - 2])
  local which = tonumber(ARGV[b0 + 3 * b - 1])
  local amount = tonumber(ARGV[b0 + 3 * b])
  if amount > 0 then
    local key = budgetKey(kind, which)
    redis.call('INCRBY', key, amount)
    local expire = budgetExpire(which)
    if expire > 0 then redis.call('PEXPIRE', key, expire) end
  end
end
local inflight = tonumber(redis.call('GET', p .. ':inflight') or '0')
if release == 1 and inflight > 0 then
  inflight = redis.call('DECR', p .. ':inflight')
end
return inflight
)lua";

constexpr char kPeekBody[] = R"lua(
local i = 1
local function arg() local v = tonumber(ARGV[i]); i = i + 1; return v end
local function num(key) return tonumber(redis.call('GET', key) or '0') end
local out = {now}
for w = 1, arg() do
  local limit, ms, strategy = arg(), arg(), arg()
  local k = math.floor(now / ms)
  local into = now - k * ms
  local used, remaining, reset
  if strategy == 2 then
    local cur = num(p .. ':r:' .. ms .. ':s:' .. k)
    local prev = num(p .. ':r:' .. ms .. ':s:' .. (k - 1))
    -- In 1/ms requests, as integers: prev * (ms - into) + cur * ms.
    local weighted = prev * (ms - into) + cur * ms
    used = math.floor((weighted + ms - 1) / ms)
    remaining = math.max(0, math.floor((limit * ms - weighted) / ms))
    reset = cur > 0 and 2 * ms - into or (prev > 0 and ms - into or 0)
  else
    local key
    if strategy == 3 then key = p .. ':r:' .. ms .. ':e' else key = p .. ':r:' .. ms .. ':f:' .. k end
    used = num(key)
    remaining = math.max(0, limit - used)
    if used == 0 then reset = 0
    elseif strategy == 3 then reset = math.max(0, redis.call('PTTL', key))
    else reset = ms - into end
  end
  out[#out + 1] = used
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
for w = 1, arg() do
  local _, ms = arg(), arg()
  local k = math.floor(now / ms)
  local used = num(p .. ':t:' .. ms .. ':' .. k)
  out[#out + 1] = used
  out[#out + 1] = used > 0 and (k + 1) * ms - now or 0
end
local budgets = {}
for b = 1, arg() do budgets[b] = {kind = arg(), period = arg(), limit = arg()} end
out[#out + 1] = num(p .. ':inflight')
for _, b in ipairs(budgets) do
  out[#out + 1] = num(budgetKey(b.kind, b.period))
  out[#out + 1] = b.kind == 1 and num(budgetKey(3, b.period)) or 0
end
for k, v in ipairs(out) do out[k] = string.format('%.0f', v) end
return table.concat(out, ' ')
)lua";

}  // namespace

bool parseAdmitReply(std::string_view text, AdmitReply& out) {
  const char* p = text.data();
  const char* end = p + text.size();
  for (size_t i = 0; i < std::size(out.v); ++i) {
    if (i > 0) {
      if (p == end || *p != ' ') {
        return false;
      }
      ++p;
    }
    auto [next, ec] = std::from_chars(p, end, out.v[i]);
    if (ec != std::errc() || out.v[i] < 0) {
      return false;
    }
    p = next;
  }
  return p == end;
}

const std::string& scriptPreamble() {
  static const std::string preamble = kPreamble;
  return preamble;
}

const std::string& admitScript() {
  static const std::string script = std::string(kPreamble) + kAdmitBody;
  return script;
}

const std::string& settleScript() {
  static const std::string script = std::string(kPreamble) + kSettleBody;
  return script;
}

const std::string& peekScript() {
  static const std::string script = std::string(kPreamble) + kPeekBody;
  return script;
}

const std::string& admitScriptSha() {
  static const std::string sha = common::crypto::sha1Hex(admitScript());
  return sha;
}

const std::string& settleScriptSha() {
  static const std::string sha = common::crypto::sha1Hex(settleScript());
  return sha;
}

}  // namespace fwd::dataplane::ratelimit
