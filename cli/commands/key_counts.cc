#include "cli/commands/key_counts.h"

#include <algorithm>

#include "common/config/budget.h"
#include "common/config/rate.h"

namespace fwd::cli::commands {
namespace {

Json windowJson(const fwd::v1::WindowState& w) {
  return Json{{"limit", w.limit()},
              {"window_ms", toMillis(w.window()).count()},
              {"used", w.used()},
              {"remaining", w.remaining()},
              {"reset_ms", toMillis(w.reset()).count()},
              {"scope", w.scope()}};
}

std::string periodName(fwd::v1::BudgetPeriod period) {
  return std::string(
      common::config::budgetPeriodName(static_cast<common::config::BudgetPeriod>(period)));
}

Json stateJson(const fwd::v1::KeyLimitsState& s) {
  Json requests = Json::array();
  for (const auto& w : s.requests()) {
    requests.push_back(windowJson(w));
  }
  Json tokens = Json::array();
  for (const auto& w : s.tokens()) {
    tokens.push_back(windowJson(w));
  }
  Json budgets = Json::array();
  for (const auto& b : s.budgets()) {
    budgets.push_back(Json{{"kind", b.kind()},
                           {"period", periodName(b.period())},
                           {"limit", b.limit()},
                           {"spent", b.spent()},
                           {"left", b.left()},
                           {"unpriced_tokens", b.unpriced_tokens()},
                           {"reset_ms", b.has_reset() ? Json(toMillis(b.reset()).count()) : Json()},
                           {"scope", b.scope()}});
  }
  Json strategy;
  if (s.rate_strategy() != fwd::v1::RATE_STRATEGY_UNSPECIFIED) {
    strategy = std::string(common::config::rateStrategyName(
        static_cast<common::config::RateStrategy>(s.rate_strategy())));
  }
  return Json{{"source", s.source()},
              {"redis_error", s.redis_error().empty() ? Json() : Json(s.redis_error())},
              {"read_at", timestampJson(s.read_time())},
              {"requests", std::move(requests)},
              {"rate_strategy", std::move(strategy)},
              {"tokens", std::move(tokens)},
              {"in_flight", s.in_flight()},
              {"max_parallel", s.max_parallel()},
              {"budgets", std::move(budgets)}};
}

/// Every node read the same fleet-wide counts from Redis (and at least one answered).
bool allFromRedis(const fwd::v1::GetKeyLimitsResponse& r) {
  bool any = false;
  for (const auto& n : r.nodes()) {
    if (!n.has_state()) {
      continue;
    }
    if (n.state().source() != "redis") {
      return false;
    }
    any = true;
  }
  return any;
}

std::string rateCell(std::uint64_t limit, std::int64_t window_ms) {
  return common::config::formatRates(
      {{limit, std::chrono::seconds(std::max<std::int64_t>(1, window_ms / 1000))}});
}

std::string windowLine(const std::string& what, const fwd::v1::WindowState& w) {
  std::string out = "  " + what + " " + rateCell(w.limit(), toMillis(w.window()).count());
  if (w.scope() == "default") {
    out += " (default)";
  }
  out += ": " + std::to_string(w.used()) + " used, " + std::to_string(w.remaining()) + " left";
  if (toMillis(w.reset()).count() > 0) {
    out += ", resets in " + countdown(toMillis(w.reset()).count());
  }
  return out + "\n";
}

std::string stateLines(const fwd::v1::KeyLimitsState& s) {
  std::string out;
  for (const auto& w : s.requests()) {
    out += windowLine("requests", w);
  }
  for (const auto& w : s.tokens()) {
    out += windowLine("tokens", w);
  }
  if (s.max_parallel() > 0) {
    out += "  in flight: " + std::to_string(s.in_flight()) + " of " +
           std::to_string(s.max_parallel()) + "\n";
  }
  for (const auto& b : s.budgets()) {
    bool usd = b.kind() == "usd";
    auto amount = [usd](std::uint64_t v) { return usd ? usdCell(v) : std::to_string(v); };
    std::string line =
        "  budget " + amount(b.limit()) + (usd ? "" : " tokens") + "/" + periodName(b.period());
    if (b.scope() == "default") {
      line += " (default)";
    }
    line += ": " + amount(b.spent()) + " spent, " + amount(b.left()) + " left";
    if (b.has_reset()) {
      line += ", renews in " + countdown(toMillis(b.reset()).count());
    }
    if (b.unpriced_tokens() > 0) {
      line += ", " + std::to_string(b.unpriced_tokens()) + " unpriced tokens";
    }
    out += line + "\n";
  }
  return out;
}

bool showsSomething(const fwd::v1::KeyLimitsState& s) {
  return s.requests_size() > 0 || s.tokens_size() > 0 || s.max_parallel() > 0 ||
         s.budgets_size() > 0;
}

}  // namespace

std::string countdown(std::int64_t ms) {
  std::int64_t s = std::max<std::int64_t>(0, (ms + 999) / 1000);
  auto part = [](std::int64_t v, const char* unit) { return std::to_string(v) + unit; };
  if (s < 60) {
    return part(s, "s");
  }
  if (s < 3600) {
    return part(s / 60, "m") + (s % 60 ? part(s % 60, "s") : "");
  }
  if (s < 86400) {
    return part(s / 3600, "h") + (s % 3600 / 60 ? part(s % 3600 / 60, "m") : "");
  }
  return part(s / 86400, "d") + (s % 86400 / 3600 ? part(s % 86400 / 3600, "h") : "");
}

std::string usdCell(std::uint64_t micros) {
  std::string frac = std::to_string(micros % 1'000'000);
  frac.insert(0, 6 - frac.size(), '0');
  while (frac.size() > 2 && frac.back() == '0') {
    frac.pop_back();
  }
  return "$" + std::to_string(micros / 1'000'000) + "." + frac;
}

Json keyCountsJson(const absl::StatusOr<fwd::v1::GetKeyLimitsResponse>& counts) {
  if (!counts.ok()) {
    return Json{{"error", std::string(counts.status().message())}};
  }
  Json nodes = Json::array();
  for (const auto& n : counts->nodes()) {
    nodes.push_back(Json{{"node_id", n.node_id()},
                         {"error", n.error().empty() ? Json() : Json(n.error())},
                         {"state", n.has_state() ? stateJson(n.state()) : Json()}});
  }
  return Json{{"nodes", std::move(nodes)}};
}

std::string keyCountsText(const absl::StatusOr<fwd::v1::GetKeyLimitsResponse>& counts) {
  if (!counts.ok()) {
    return "counts:         unavailable: " + std::string(counts.status().message()) + "\n";
  }
  if (counts->nodes().empty()) {
    return "counts:         no data plane is connected\n";
  }
  bool any = std::any_of(counts->nodes().begin(), counts->nodes().end(),
                         [](const auto& n) { return !n.has_state() || showsSomething(n.state()); });
  if (!any) {
    return "";
  }
  std::string out;
  if (allFromRedis(*counts)) {
    int nodes = 0;
    const fwd::v1::KeyLimitsState* state = nullptr;
    for (const auto& n : counts->nodes()) {
      if (n.has_state()) {
        ++nodes;
        state = state != nullptr ? state : &n.state();
      }
    }
    out = "counts:         in Redis, for the fleet (read by " + std::to_string(nodes) +
          (nodes == 1 ? " data plane" : " data planes") + ")\n" + stateLines(*state);
    for (const auto& n : counts->nodes()) {
      if (!n.has_state()) {
        out += "  data plane " + quoted(n.node_id()) + ": " + n.error() + "\n";
      }
    }
    return out;
  }
  for (const auto& n : counts->nodes()) {
    out += "counts on " + quoted(n.node_id()) + ": ";
    if (!n.has_state()) {
      out += n.error() + "\n";
      continue;
    }
    const fwd::v1::KeyLimitsState& s = n.state();
    if (s.source() == "redis") {
      out += "in Redis, for the fleet\n";
    } else if (!s.redis_error().empty()) {
      out += "this data plane's memory (Redis unreachable: " + s.redis_error() + ")\n";
    } else {
      out += "this data plane's memory\n";
    }
    out += stateLines(s);
  }
  return out;
}

}  // namespace fwd::cli::commands
