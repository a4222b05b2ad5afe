#include "cli/commands/limits.h"

#include <algorithm>
#include <charconv>

#include "cli/client/error_kind.h"
#include "common/config/budget.h"
#include "common/config/rate.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;

constexpr const char* kLimitFlags[] = {"rate",       "rate-strategy", "max-parallel",
                                       "tpm",        "tokens",        "redis-down",
                                       "budget-usd", "budget-tokens", "stream-pace"};

std::vector<common::config::Rate> ratesOf(
    const google::protobuf::RepeatedPtrField<fwd::v1::RateWindow>& windows) {
  std::vector<common::config::Rate> rates;
  for (const fwd::v1::RateWindow& w : windows) {
    rates.push_back({w.count(), std::chrono::seconds(w.seconds())});
  }
  return rates;
}

// --rate and --tokens: RATES into `out`, or a usage error naming the flag.
absl::Status addRates(const std::string& flag, const std::string& text,
                      google::protobuf::RepeatedPtrField<fwd::v1::RateWindow>* out) {
  auto rates = common::config::parseRates(text);
  if (!rates.ok()) {
    return usageError("--" + flag + ": " + std::string(rates.status().message()));
  }
  for (const common::config::Rate& r : *rates) {
    fwd::v1::RateWindow* w = out->Add();
    w->set_count(r.count);
    w->set_seconds(static_cast<std::uint32_t>(r.window.count()));
  }
  return absl::OkStatus();
}

// --budget-usd and --budget-tokens: BUDGETS into `out`, or a usage error naming the flag.
absl::Status addBudgets(const std::string& flag, const std::string& text, bool money,
                        google::protobuf::RepeatedPtrField<fwd::v1::Budget>* out) {
  auto budgets = common::config::parseBudgets(text, money);
  if (!budgets.ok()) {
    return usageError("--" + flag + ": " + std::string(budgets.status().message()));
  }
  for (const common::config::Budget& b : *budgets) {
    fwd::v1::Budget* budget = out->Add();
    budget->set_amount(b.amount);
    budget->set_period(static_cast<fwd::v1::BudgetPeriod>(b.period));
  }
  return absl::OkStatus();
}

std::vector<common::config::Budget> budgetsOf(
    const google::protobuf::RepeatedPtrField<fwd::v1::Budget>& budgets) {
  std::vector<common::config::Budget> out;
  for (const fwd::v1::Budget& b : budgets) {
    out.push_back({b.amount(), static_cast<common::config::BudgetPeriod>(b.period())});
  }
  return out;
}

}  // namespace

std::vector<FlagSpec> limitsFlags(bool update, bool per_key) {
  std::vector<FlagSpec> flags = {
      {"rate", FlagKind::kValue, "RATES",
       "request rate, each window enforced: 60/minute;600/hour, 100/2minutes, 10/second"},
      {"rate-strategy", FlagKind::kValue, "NAME",
       "fixed-window (default), sliding-window or fixed-window-elastic-expiry"},
      {"max-parallel", FlagKind::kValue, "N", "requests in flight at once"},
      {"tpm", FlagKind::kValue, "N", "tokens per minute (prompt + completion, as reported)"},
      {"tokens", FlagKind::kValue, "RATES", "token windows, e.g. 1000000/day;5000000/7days"},
      {"budget-usd", FlagKind::kValue, "BUDGETS",
       "money the key may spend, priced with fwdctl price: 10/month, 1.50/day;40/month, "
       "100/total (UTC days and months)"},
      {"budget-tokens", FlagKind::kValue, "BUDGETS",
       "tokens the key may use: 5000000/month, 100000/day, 1000000000/total"},
      {"stream-pace", FlagKind::kValue, "RATE",
       "deliver a stream's tokens to the client no faster than this: 50/second"},
      {"redis-down", FlagKind::kValue, "MODE",
       "with Redis (settings redis_url), while it is unreachable: fail-open (counted in each "
       "data plane's memory) or fail-closed (503)"},
  };
  if (!per_key) {  // budgets and redis_down are a key's
    std::erase_if(flags, [](const FlagSpec& f) {
      return f.name == "budget-usd" || f.name == "budget-tokens" || f.name == "redis-down" ||
             f.name == "stream-pace";
    });
  }
  if (update) {
    size_t n = flags.size();
    for (size_t i = 0; i < n; ++i) {
      flags.push_back({"clear-" + flags[i].name, FlagKind::kBool, "",
                       "unset --" + flags[i].name + (per_key ? " (the default applies)" : "")});
    }
  }
  return flags;
}

std::string limitsSynopsis(bool update, bool per_key) {
  std::string out;
  for (const FlagSpec& f : limitsFlags(update, per_key)) {
    out += out.empty() ? "[--" : " [--";
    out += f.name;
    if (f.kind == FlagKind::kValue) {
      out += " " + f.value_name;
    }
    out += "]";
  }
  return out;
}

absl::Status applyLimitsFlags(const FlagValues& flags,
                              const std::function<fwd::v1::Limits&()>& limits,
                              std::vector<std::string>& paths) {
  for (const char* name : kLimitFlags) {
    std::string clear = std::string("clear-") + name;
    if (flags.has(clear) && flags.has(name)) {
      return usageError("--" + clear + " and --" + name + " cannot be used together");
    }
    if (flags.has(clear) && flags.boolValue(clear) == true) {
      limits();  // present, with the field unset: the update unsets it
      std::string field = name;
      std::replace(field.begin(), field.end(), '-', '_');
      paths.push_back("limits." + field);
    }
  }
  if (auto text = flags.value("rate")) {
    if (absl::Status s = addRates("rate", *text, limits().mutable_rate()); !s.ok()) {
      return s;
    }
    paths.push_back("limits.rate");
  }
  if (auto text = flags.value("tokens")) {
    if (absl::Status s = addRates("tokens", *text, limits().mutable_tokens()); !s.ok()) {
      return s;
    }
    paths.push_back("limits.tokens");
  }
  if (auto text = flags.value("budget-usd")) {
    if (absl::Status s = addBudgets("budget-usd", *text, true, limits().mutable_budget_usd());
        !s.ok()) {
      return s;
    }
    paths.push_back("limits.budget_usd");
  }
  if (auto text = flags.value("budget-tokens")) {
    if (absl::Status s =
            addBudgets("budget-tokens", *text, false, limits().mutable_budget_tokens());
        !s.ok()) {
      return s;
    }
    paths.push_back("limits.budget_tokens");
  }
  if (auto text = flags.value("stream-pace")) {
    auto rate = common::config::parseRates(*text);
    if (!rate.ok() || rate->size() != 1) {
      return usageError(
          "--stream-pace \"" + *text + "\": expected one rate of tokens such as 50/second" +
          (rate.ok() ? std::string() : " (" + std::string(rate.status().message()) + ")"));
    }
    fwd::v1::RateWindow* p = limits().mutable_stream_pace();
    p->set_count(rate->front().count);
    p->set_seconds(static_cast<std::uint32_t>(rate->front().window.count()));
    paths.push_back("limits.stream_pace");
  }
  if (auto text = flags.value("tpm")) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size() || n == 0) {
      return usageError("--tpm \"" + *text +
                        "\": expected a whole number of tokens per minute, at least 1 (to "
                        "remove the limit, use --clear-tpm)");
    }
    limits().set_tpm(n);
    paths.push_back("limits.tpm");
  }
  if (auto text = flags.value("rate-strategy")) {
    auto strategy = common::config::parseRateStrategy(*text);
    if (!strategy.ok()) {
      return usageError("--rate-strategy: " + std::string(strategy.status().message()));
    }
    limits().set_rate_strategy(static_cast<fwd::v1::RateStrategy>(*strategy));
    paths.push_back("limits.rate_strategy");
  }
  if (auto text = flags.value("redis-down")) {
    auto mode = common::config::parseRedisDown(*text);
    if (!mode.ok()) {
      return usageError("--redis-down: " + std::string(mode.status().message()));
    }
    limits().set_redis_down(static_cast<fwd::v1::RedisDown>(*mode));
    paths.push_back("limits.redis_down");
  }
  auto parallel = flags.uint32Value("max-parallel");
  if (!parallel.ok()) {
    return parallel.status();
  }
  if (parallel->has_value()) {
    if (**parallel == 0) {
      return usageError(
          "--max-parallel must be at least 1 (to remove the limit, use --clear-max-parallel)");
    }
    limits().set_max_parallel(**parallel);
    paths.push_back("limits.max_parallel");
  }
  return absl::OkStatus();
}

std::string limitsCell(const fwd::v1::Limits& l) {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (l.rate_size() > 0) {
    add("rate " + common::config::formatRates(ratesOf(l.rate())));
  }
  if (l.rate_strategy() != fwd::v1::RATE_STRATEGY_UNSPECIFIED) {
    add(std::string(common::config::rateStrategyName(
        static_cast<common::config::RateStrategy>(l.rate_strategy()))));
  }
  if (l.max_parallel() > 0) {
    add("max_parallel " + std::to_string(l.max_parallel()));
  }
  if (l.tpm() > 0) {
    add("tpm " + std::to_string(l.tpm()));
  }
  if (l.tokens_size() > 0) {
    add("tokens " + common::config::formatRates(ratesOf(l.tokens())));
  }
  if (l.budget_usd_size() > 0) {
    add("budget_usd " + common::config::formatBudgets(budgetsOf(l.budget_usd()), true));
  }
  if (l.budget_tokens_size() > 0) {
    add("budget_tokens " + common::config::formatBudgets(budgetsOf(l.budget_tokens()), false));
  }
  if (l.has_stream_pace()) {
    add("stream_pace " +
        common::config::formatRates(
            {{l.stream_pace().count(), std::chrono::seconds(l.stream_pace().seconds())}}));
  }
  if (l.redis_down() != fwd::v1::REDIS_DOWN_UNSPECIFIED) {
    add("redis_down " + std::string(common::config::redisDownName(
                            static_cast<common::config::RedisDown>(l.redis_down()))));
  }
  return out.empty() ? "-" : out;
}

Json limitsJson(const fwd::v1::Limits& l, bool per_key) {
  Json out{
      {"rate",
       l.rate_size() > 0 ? Json(common::config::formatRates(ratesOf(l.rate()))) : Json(nullptr)},
      {"rate_strategy", l.rate_strategy() != fwd::v1::RATE_STRATEGY_UNSPECIFIED
                            ? Json(common::config::rateStrategyName(
                                  static_cast<common::config::RateStrategy>(l.rate_strategy())))
                            : Json(nullptr)},
      {"max_parallel", l.max_parallel() > 0 ? Json(l.max_parallel()) : Json(nullptr)},
      {"tpm", l.tpm() > 0 ? Json(l.tpm()) : Json(nullptr)},
      {"tokens", l.tokens_size() > 0 ? Json(common::config::formatRates(ratesOf(l.tokens())))
                                     : Json(nullptr)},
      {"budget_usd", l.budget_usd_size() > 0
                         ? Json(common::config::formatBudgets(budgetsOf(l.budget_usd()), true))
                         : Json(nullptr)},
      {"budget_tokens", l.budget_tokens_size() > 0 ? Json(common::config::formatBudgets(
                                                         budgetsOf(l.budget_tokens()), false))
                                                   : Json(nullptr)},
      {"stream_pace",
       l.has_stream_pace()
           ? Json(common::config::formatRates(
                 {{l.stream_pace().count(), std::chrono::seconds(l.stream_pace().seconds())}}))
           : Json(nullptr)},
      {"redis_down", l.redis_down() != fwd::v1::REDIS_DOWN_UNSPECIFIED
                         ? Json(common::config::redisDownName(
                               static_cast<common::config::RedisDown>(l.redis_down())))
                         : Json(nullptr)},
  };
  if (!per_key) {  // a route's: budgets and redis_down are a key's
    out.erase("budget_usd");
    out.erase("budget_tokens");
    out.erase("redis_down");
    out.erase("stream_pace");
  }
  return out;
}

}  // namespace fwd::cli::commands
