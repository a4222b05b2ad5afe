#include "controlplane/validate/settings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>

#include "common/config/budget.h"
#include "common/config/rate.h"
#include "common/net/redis_url.h"
#include "controlplane/validate/validate.h"

namespace fwd::controlplane::validate {
namespace {

// One setting: how its text is checked and brought to its stored form, and how the stored text
// goes into the snapshot's Settings.
struct SettingSpec {
  const char* name;
  const char* default_value;
  const char* description;
  std::function<absl::StatusOr<std::string>(std::string_view)> normalize;
  std::function<void(const std::string&, fwd::v1::Settings&)> apply;
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

absl::Status badValue(std::string_view name, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError("setting " + std::string(name) + ": \"" + std::string(value) +
                                    "\" " + std::string(why));
}

absl::StatusOr<std::string> normalizeBool(std::string_view name, std::string_view value) {
  std::string v = lower(value);
  if (v != "true" && v != "false") {
    return badValue(name, value, "is not true or false");
  }
  return v;
}

// "" or "none" unsets a limit.
bool isNone(std::string_view value) { return value.empty() || lower(value) == "none"; }

// Request windows (`tokens` false) or token windows, checked as a key's are.
absl::StatusOr<std::string> normalizeRates(std::string_view name, std::string_view value,
                                           bool tokens) {
  if (isNone(value)) {
    return std::string();
  }
  auto rates = common::config::parseRates(value);
  if (!rates.ok()) {
    return absl::InvalidArgumentError("setting " + std::string(name) + ": " +
                                      std::string(rates.status().message()));
  }
  fwd::v1::Limits limits;
  for (const common::config::Rate& r : *rates) {
    fwd::v1::RateWindow* w = tokens ? limits.add_tokens() : limits.add_rate();
    w->set_count(r.count);
    w->set_seconds(static_cast<std::uint32_t>(r.window.count()));
  }
  if (absl::Status s = checkLimits(name, limits); !s.ok()) {
    return s;
  }
  return common::config::formatRates(*rates);
}

absl::StatusOr<std::string> normalizeCount(std::string_view name, std::string_view value,
                                           std::uint64_t max) {
  if (isNone(value)) {
    return std::string("0");
  }
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n > max) {
    return badValue(name, value, "is not a whole number from 0 (none) to " + std::to_string(max));
  }
  return std::to_string(n);
}

// Stored rates (canonical, or "" for none) into the default request (or token) windows.
void addWindows(const std::string& stored, fwd::v1::Settings& s, bool tokens) {
  auto rates = common::config::parseRates(stored);
  if (stored.empty() || !rates.ok()) {
    return;
  }
  fwd::v1::Limits* limits = s.mutable_default_limits();
  for (const common::config::Rate& r : *rates) {
    fwd::v1::RateWindow* w = tokens ? limits->add_tokens() : limits->add_rate();
    w->set_count(r.count);
    w->set_seconds(static_cast<std::uint32_t>(r.window.count()));
  }
}

absl::StatusOr<std::string> normalizeBudgets(std::string_view name, std::string_view value,
                                             bool money) {
  if (isNone(value)) {
    return std::string();
  }
  auto budgets = common::config::parseBudgets(value, money);
  if (!budgets.ok()) {
    return absl::InvalidArgumentError("setting " + std::string(name) + ": " +
                                      std::string(budgets.status().message()));
  }
  return common::config::formatBudgets(*budgets, money);
}

// Stored budgets (canonical, or "" for none) into the default budgets.
void addBudgets(const std::string& stored, fwd::v1::Settings& s, bool money) {
  auto budgets = common::config::parseBudgets(stored, money);
  if (stored.empty() || !budgets.ok()) {
    return;
  }
  fwd::v1::Limits* limits = s.mutable_default_limits();
  for (const common::config::Budget& b : *budgets) {
    fwd::v1::Budget* out = money ? limits->add_budget_usd() : limits->add_budget_tokens();
    out->set_amount(b.amount);
    out->set_period(static_cast<fwd::v1::BudgetPeriod>(b.period));
  }
}

// A stored count ("0": none) into one field of the default limits.
template <typename T>
void setCount(const std::string& stored, fwd::v1::Settings& s, void (fwd::v1::Limits::*set)(T)) {
  T n = 0;
  std::from_chars(stored.data(), stored.data() + stored.size(), n);
  if (n > 0) {
    (s.mutable_default_limits()->*set)(n);
  }
}

const std::vector<SettingSpec>& specs() {
  static const std::vector<SettingSpec> kSpecs = {
      {"errors_as_200", "false",
       "answer every error with status 200 and the real status in x-fwd-status, for every key "
       "and before a key is known",
       [](std::string_view v) { return normalizeBool("errors_as_200", v); },
       [](const std::string& v, fwd::v1::Settings& s) { s.set_errors_as_200(v == "true"); }},
      {"default_rate", "",
       "request rate of each key that sets none (fwdctl key --rate), e.g. 1000/minute;10000/hour",
       [](std::string_view v) { return normalizeRates("default_rate", v, false); },
       [](const std::string& v, fwd::v1::Settings& s) { addWindows(v, s, false); }},
      {"default_rate_strategy", "fixed-window",
       "how the rate windows of a key that sets no --rate-strategy count: fixed-window, "
       "sliding-window or fixed-window-elastic-expiry",
       [](std::string_view v) -> absl::StatusOr<std::string> {
         auto strategy = common::config::parseRateStrategy(v);
         if (!strategy.ok()) {
           return absl::InvalidArgumentError("setting default_rate_strategy: " +
                                             std::string(strategy.status().message()));
         }
         return std::string(common::config::rateStrategyName(*strategy));
       },
       [](const std::string& v, fwd::v1::Settings& s) {
         if (auto strategy = common::config::parseRateStrategy(v); strategy.ok()) {
           s.mutable_default_limits()->set_rate_strategy(
               static_cast<fwd::v1::RateStrategy>(*strategy));
         }
       }},
      {"default_max_parallel", "0",
       "requests in flight at once for each key that sets no --max-parallel (0: no limit)",
       [](std::string_view v) { return normalizeCount("default_max_parallel", v, kMaxParallel); },
       [](const std::string& v, fwd::v1::Settings& s) {
         setCount(v, s, &fwd::v1::Limits::set_max_parallel);
       }},
      {"default_tpm", "0",
       "tokens per minute of each key that sets no --tpm or --tokens (0: no limit)",
       [](std::string_view v) { return normalizeCount("default_tpm", v, kMaxTokenRate); },
       [](const std::string& v, fwd::v1::Settings& s) {
         setCount(v, s, &fwd::v1::Limits::set_tpm);
       }},
      {"default_tokens", "",
       "token windows of each key that sets no --tpm or --tokens, e.g. 1000000/day",
       [](std::string_view v) { return normalizeRates("default_tokens", v, true); },
       [](const std::string& v, fwd::v1::Settings& s) { addWindows(v, s, true); }},
      {"default_budget_usd", "",
       "money budget of each key that sets no --budget-usd (each key spends its own), e.g. "
       "10/month or 1/day;20/month",
       [](std::string_view v) { return normalizeBudgets("default_budget_usd", v, true); },
       [](const std::string& v, fwd::v1::Settings& s) { addBudgets(v, s, true); }},
      {"default_budget_tokens", "",
       "token budget of each key that sets no --budget-tokens, e.g. 5000000/month",
       [](std::string_view v) { return normalizeBudgets("default_budget_tokens", v, false); },
       [](const std::string& v, fwd::v1::Settings& s) { addBudgets(v, s, false); }},
      {"default_stream_pace", "",
       "stream pacing of each key that sets no --stream-pace: tokens per second a stream is "
       "delivered at, at most, e.g. 50/second",
       [](std::string_view v) -> absl::StatusOr<std::string> {
         if (isNone(v)) {
           return std::string();
         }
         auto rate = common::config::parseRates(v);
         if (!rate.ok() || rate->size() != 1) {
           return absl::InvalidArgumentError(
               "setting default_stream_pace: expected one rate such as 50/second" +
               (rate.ok() ? std::string() : ": " + std::string(rate.status().message())));
         }
         fwd::v1::Limits limits;
         limits.mutable_stream_pace()->set_count(rate->front().count);
         limits.mutable_stream_pace()->set_seconds(
             static_cast<std::uint32_t>(rate->front().window.count()));
         if (absl::Status s = checkLimits("default_stream_pace", limits); !s.ok()) {
           return s;
         }
         return common::config::formatRates(*rate);
       },
       [](const std::string& v, fwd::v1::Settings& s) {
         auto rate = common::config::parseRates(v);
         if (!v.empty() && rate.ok() && rate->size() == 1) {
           fwd::v1::RateWindow* p = s.mutable_default_limits()->mutable_stream_pace();
           p->set_count(rate->front().count);
           p->set_seconds(static_cast<std::uint32_t>(rate->front().window.count()));
         }
       }},
      {"redis_down", "fail-open",
       "what a limited key's requests get while Redis is unreachable, for each key that sets no "
       "--redis-down: fail-open (counted in each data plane's memory meanwhile) or fail-closed "
       "(503)",
       [](std::string_view v) -> absl::StatusOr<std::string> {
         auto mode = common::config::parseRedisDown(v);
         if (!mode.ok()) {
           return absl::InvalidArgumentError("setting redis_down: " +
                                             std::string(mode.status().message()));
         }
         return std::string(common::config::redisDownName(*mode));
       },
       [](const std::string& v, fwd::v1::Settings& s) {
         if (auto mode = common::config::parseRedisDown(v); mode.ok()) {
           s.mutable_default_limits()->set_redis_down(static_cast<fwd::v1::RedisDown>(*mode));
         }
       }},
      {"redis_url", "",
       "count limits in this Redis, exact across every data plane: "
       "redis://[[user]:password@]host[:port][/db] (empty: each data plane counts in memory)",
       [](std::string_view v) -> absl::StatusOr<std::string> {
         if (isNone(v)) {
           return std::string();
         }
         if (auto e = common::net::parseRedisUrl(v); !e.ok()) {
           return absl::InvalidArgumentError("setting redis_url: " +
                                             std::string(e.status().message()));
         }
         return std::string(v);
       },
       [](const std::string& v, fwd::v1::Settings& s) { s.set_redis_url(v); }},
      {"redis_url_env", "",
       "the environment variable on each data-plane host that holds the Redis URL, so its "
       "password stays there (beats redis_url)",
       [](std::string_view v) -> absl::StatusOr<std::string> {
         if (isNone(v)) {
           return std::string();
         }
         if (!isEnvName(v)) {
           return badValue("redis_url_env", v,
                           "is not an environment variable name (letters, digits and _, not "
                           "starting with a digit)");
         }
         return std::string(v);
       },
       [](const std::string& v, fwd::v1::Settings& s) { s.set_redis_url_env(v); }},
  };
  return kSpecs;
}

std::string names() {
  std::string out;
  for (const SettingSpec& s : specs()) {
    out += (out.empty() ? "" : ", ") + std::string(s.name);
  }
  return out;
}

}  // namespace

std::vector<fwd::v1::Setting> knownSettings() {
  std::vector<fwd::v1::Setting> out;
  for (const SettingSpec& s : specs()) {
    fwd::v1::Setting setting;
    setting.set_name(s.name);
    setting.set_default_value(s.default_value);
    setting.set_description(s.description);
    out.push_back(std::move(setting));
  }
  return out;
}

absl::StatusOr<std::string> checkSetting(std::string_view name, std::string_view value) {
  for (const SettingSpec& s : specs()) {
    if (name == s.name) {
      return s.normalize(value);
    }
  }
  return absl::InvalidArgumentError("no setting named \"" + std::string(name) +
                                    "\"; the settings are: " + names());
}

std::string displaySetting(std::string_view name, const std::string& stored) {
  return name == "redis_url" ? common::net::redactRedisUrl(stored) : stored;
}

void applySettings(const std::map<std::string, std::string>& stored, fwd::v1::Settings& out) {
  for (const SettingSpec& s : specs()) {
    auto it = stored.find(s.name);
    if (it != stored.end()) {
      s.apply(it->second, out);
    }
  }
}

}  // namespace fwd::controlplane::validate
