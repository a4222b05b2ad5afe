#include "cli/commands/route.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/client/error_kind.h"
#include "cli/commands/edits.h"
#include "cli/commands/limits.h"
#include "common/config/duration.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;
using fwd::common::config::formatDuration;

// FieldMask paths in the order of their fields in config.proto, so a mask never depends on flag
// order.
constexpr const char* kPathOrder[] = {"path_prefix",
                                      "models",
                                      "upstreams",
                                      "strategy",
                                      "fallback_models",
                                      "rewrite_model",
                                      "retry",
                                      "retry.retries",
                                      "retry.retry_on",
                                      "retry.backoff_base",
                                      "retry.backoff_max",
                                      "priority",
                                      "timeouts",
                                      "timeouts.connect",
                                      "timeouts.first_byte",
                                      "timeouts.stream_first_byte",
                                      "timeouts.idle",
                                      "timeouts.total",
                                      "limits",
                                      "limits.rate",
                                      "limits.rate_strategy",
                                      "limits.max_parallel",
                                      "limits.tpm",
                                      "limits.tokens",
                                      "limits_shared",
                                      "log_bodies"};

struct NamedStrategy {
  const char* name;
  fwd::v1::BalanceStrategy value;
};
constexpr NamedStrategy kStrategies[] = {
    {"ordered", fwd::v1::BALANCE_STRATEGY_ORDERED},
    {"weighted", fwd::v1::BALANCE_STRATEGY_WEIGHTED},
    {"least-busy", fwd::v1::BALANCE_STRATEGY_LEAST_BUSY},
    {"latency", fwd::v1::BALANCE_STRATEGY_LATENCY},
};

struct NamedRetryOn {
  const char* name;
  fwd::v1::RetryOn value;
};
constexpr NamedRetryOn kRetryOns[] = {
    {"5xx", fwd::v1::RETRY_ON_5XX},
    {"429", fwd::v1::RETRY_ON_429},
    {"connect", fwd::v1::RETRY_ON_CONNECT},
    {"timeout", fwd::v1::RETRY_ON_TIMEOUT},
};

std::vector<FlagSpec> routeFlags(bool update) {
  std::vector<FlagSpec> flags = {
      {"prefix", FlagKind::kValue, "PATH",
       "path prefix, e.g. /localai: requests to /localai/v1/... match"},
      {"model", FlagKind::kRepeated, "PATTERN",
       "model matched: a glob if it contains '*', else exact; repeatable"},
      {"model-keyword", FlagKind::kRepeated, "WORD",
       "model matched when it contains WORD; repeatable"},
      {"upstream", FlagKind::kRepeated, "NAME", "upstream of the group, in order; repeatable"},
      {"strategy", FlagKind::kValue, "S", "ordered (default), weighted, least-busy or latency"},
      {"fallback", FlagKind::kRepeated, "MODEL", "fallback model, in order; repeatable"},
      {"rewrite-model", FlagKind::kValue, "NAME", "model name sent upstream instead"},
      {"retries", FlagKind::kValue, "N", "further attempts after the first, 0..10"},
      {"retry-on", FlagKind::kValue, "LIST", "comma list of 5xx, 429, connect, timeout"},
      {"retry-backoff", FlagKind::kValue, "DURATION",
       "backoff base before an upstream is tried again (default 25ms)"},
      {"retry-backoff-max", FlagKind::kValue, "DURATION", "longest backoff (default 1s)"},
      {"priority", FlagKind::kValue, "N", "lower is matched first (default 0)"},
      {"timeout", FlagKind::kValue, "DURATION", "whole attempt (default: the upstream's)"},
      {"connect-timeout", FlagKind::kValue, "DURATION",
       "DNS, TCP connect and TLS (default: the upstream's)"},
      {"first-byte-timeout", FlagKind::kValue, "DURATION",
       "request sent to response head (default: the upstream's)"},
      {"stream-first-byte-timeout", FlagKind::kValue, "DURATION",
       "the same for streamed requests (default: the upstream's)"},
      {"idle-timeout", FlagKind::kValue, "DURATION",
       "longest silence between two body reads (default: the upstream's)"},
  };
  for (FlagSpec& f : editsFlags(update)) {
    flags.push_back(std::move(f));
  }
  for (FlagSpec& f : limitsFlags(update, false)) {
    flags.push_back(std::move(f));
  }
  flags.push_back({"shared", FlagKind::kBool, "",
                   "the route's limits count every key's requests together (default: each "
                   "key's apart); --shared=false turns it off"});
  flags.push_back({"log-bodies", FlagKind::kBool, "",
                   "the records of the requests the route matches keep their bodies, cut to "
                   "the data plane's --log-body-max-bytes; --log-bodies=false turns it off"});
  if (update) {
    flags.push_back({"clear-prefix", FlagKind::kBool, "", "remove the path prefix"});
    flags.push_back({"clear-models", FlagKind::kBool, "", "match any model"});
    flags.push_back({"clear-fallbacks", FlagKind::kBool, "", "remove every fallback model"});
    flags.push_back({"clear-rewrite-model", FlagKind::kBool, "", "send the client's model"});
    flags.push_back({"clear-retry", FlagKind::kBool, "", "remove the retry policy"});
    flags.push_back({"clear-timeouts", FlagKind::kBool, "", "use the upstreams' timeouts again"});
  }
  return flags;
}

absl::Status exclusive(const FlagValues& flags, const std::string& clear,
                       std::initializer_list<const char*> setters) {
  if (!flags.boolValue(clear).value_or(false)) {
    return absl::OkStatus();
  }
  for (const char* setter : setters) {
    if (flags.has(setter)) {
      return usageError("--" + clear + " and --" + setter + " cannot be used together");
    }
  }
  return absl::OkStatus();
}

absl::Status nonEmpty(const FlagValues& flags, const std::string& name) {
  for (const std::string& v : flags.values(name)) {
    if (v.empty()) {
      return usageError("--" + name + " is empty");
    }
  }
  return absl::OkStatus();
}

// Copies every given flag into `route` and records its FieldMask path.
absl::Status applyFlags(const FlagValues& flags, fwd::v1::Route& route,
                        std::vector<std::string>& paths) {
  for (const char* name : {"prefix", "model", "model-keyword", "upstream", "strategy", "fallback",
                           "rewrite-model", "retry-on"}) {
    if (absl::Status s = nonEmpty(flags, name); !s.ok()) {
      return s;
    }
  }
  for (absl::Status s : {exclusive(flags, "clear-prefix", {"prefix"}),
                         exclusive(flags, "clear-models", {"model", "model-keyword"}),
                         exclusive(flags, "clear-fallbacks", {"fallback"}),
                         exclusive(flags, "clear-rewrite-model", {"rewrite-model"}),
                         exclusive(flags, "clear-retry",
                                   {"retries", "retry-on", "retry-backoff", "retry-backoff-max"}),
                         exclusive(flags, "clear-timeouts",
                                   {"timeout", "connect-timeout", "first-byte-timeout",
                                    "stream-first-byte-timeout", "idle-timeout"})}) {
    if (!s.ok()) {
      return s;
    }
  }
  auto cleared = [&](const char* name) { return flags.boolValue(name).value_or(false); };

  if (auto v = flags.value("prefix")) {
    route.set_path_prefix(*v);
  }
  if (flags.has("prefix") || cleared("clear-prefix")) {
    paths.push_back("path_prefix");
  }
  if (flags.has("model") || flags.has("model-keyword") || cleared("clear-models")) {
    for (const std::string& m : flags.values("model")) {
      if (m.find('*') != std::string::npos) {
        route.add_models()->set_glob(m);
      } else {
        route.add_models()->set_exact(m);
      }
    }
    for (const std::string& m : flags.values("model-keyword")) {
      route.add_models()->set_keyword(m);
    }
    paths.push_back("models");
  }
  if (flags.has("upstream")) {
    for (const std::string& u : flags.values("upstream")) {
      route.add_upstreams(u);
    }
    paths.push_back("upstreams");
  }
  if (auto v = flags.value("strategy")) {
    std::optional<fwd::v1::BalanceStrategy> strategy = parseStrategy(*v);
    if (!strategy.has_value()) {
      return usageError("invalid value \"" + *v +
                        "\" for --strategy: expected ordered, weighted, least-busy or latency");
    }
    route.set_strategy(*strategy);
    paths.push_back("strategy");
  }
  if (flags.has("fallback") || cleared("clear-fallbacks")) {
    for (const std::string& m : flags.values("fallback")) {
      route.add_fallback_models(m);
    }
    paths.push_back("fallback_models");
  }
  if (auto v = flags.value("rewrite-model")) {
    route.set_rewrite_model(*v);
  }
  if (flags.has("rewrite-model") || cleared("clear-rewrite-model")) {
    paths.push_back("rewrite_model");
  }
  auto retries = flags.uint32Value("retries");
  if (!retries.ok()) {
    return retries.status();
  }
  if (retries->has_value()) {
    route.mutable_retry()->set_retries(**retries);
    paths.push_back("retry.retries");
  }
  if (auto v = flags.value("retry-on")) {
    for (const std::string& part : std::vector<std::string>(absl::StrSplit(*v, ','))) {
      std::optional<fwd::v1::RetryOn> value = parseRetryOn(part);
      if (!value.has_value()) {
        return usageError("invalid value \"" + part +
                          "\" in --retry-on: expected a comma list of 5xx, 429, connect, timeout");
      }
      route.mutable_retry()->add_retry_on(*value);
    }
    paths.push_back("retry.retry_on");
  }
  using B = DurationFlag<fwd::v1::RetryPolicy>;
  absl::Status backoff = applyDurationFlags<fwd::v1::RetryPolicy>(
      flags,
      {B{"retry-backoff", "retry.backoff_base", &fwd::v1::RetryPolicy::mutable_backoff_base},
       B{"retry-backoff-max", "retry.backoff_max", &fwd::v1::RetryPolicy::mutable_backoff_max}},
      [&]() -> fwd::v1::RetryPolicy& { return *route.mutable_retry(); }, paths);
  if (!backoff.ok()) {
    return backoff;
  }
  if (cleared("clear-retry")) {
    route.clear_retry();
    paths.push_back("retry");
  }
  auto priority = flags.int32Value("priority");
  if (!priority.ok()) {
    return priority.status();
  }
  if (priority->has_value()) {
    route.set_priority(**priority);
    paths.push_back("priority");
  }
  using T = DurationFlag<fwd::v1::Timeouts>;
  absl::Status timeouts = applyDurationFlags<fwd::v1::Timeouts>(
      flags,
      {T{"connect-timeout", "timeouts.connect", &fwd::v1::Timeouts::mutable_connect},
       T{"first-byte-timeout", "timeouts.first_byte", &fwd::v1::Timeouts::mutable_first_byte},
       T{"stream-first-byte-timeout", "timeouts.stream_first_byte",
         &fwd::v1::Timeouts::mutable_stream_first_byte},
       T{"idle-timeout", "timeouts.idle", &fwd::v1::Timeouts::mutable_idle},
       T{"timeout", "timeouts.total", &fwd::v1::Timeouts::mutable_total}},
      [&]() -> fwd::v1::Timeouts& { return *route.mutable_timeouts(); }, paths);
  if (!timeouts.ok()) {
    return timeouts;
  }
  if (cleared("clear-timeouts")) {
    route.clear_timeouts();
    paths.push_back("timeouts");
  }
  if (absl::Status s = applyLimitsFlags(
          flags, [&]() -> fwd::v1::Limits& { return *route.mutable_limits(); }, paths);
      !s.ok()) {
    return s;
  }
  if (auto shared = flags.boolValue("shared")) {
    route.set_limits_shared(*shared);
    paths.push_back("limits_shared");
  }
  if (auto log_bodies = flags.boolValue("log-bodies")) {
    route.set_log_bodies(*log_bodies);
    paths.push_back("log_bodies");
  }
  return applyEditsFlags(
      flags, [&]() -> fwd::v1::Edits& { return *route.mutable_edits(); }, paths);
}

// The model match as shown in tables: exact and glob as written, a keyword as "keyword:WORD".
std::string matchCell(const fwd::v1::ModelMatch& m) {
  switch (m.kind_case()) {
    case fwd::v1::ModelMatch::kExact:
      return m.exact();
    case fwd::v1::ModelMatch::kKeyword:
      return "keyword:" + m.keyword();
    case fwd::v1::ModelMatch::kGlob:
      return m.glob();
    case fwd::v1::ModelMatch::KIND_NOT_SET:
      break;
  }
  return "?";
}

std::string modelsCell(const fwd::v1::Route& route) {
  if (route.models().empty()) {
    return "*";
  }
  std::vector<std::string> cells;
  for (const fwd::v1::ModelMatch& m : route.models()) {
    cells.push_back(matchCell(m));
  }
  return absl::StrJoin(cells, ",");
}

std::string retryCell(const fwd::v1::Route& route) {
  if (!route.has_retry()) {
    // No policy: each upstream of the group once (config.proto), unlike an explicit 0.
    return "failover";
  }
  if (route.retry().retries() == 0) {
    return "0";
  }
  std::vector<std::string> on;
  for (int v : route.retry().retry_on()) {
    on.push_back(retryOnName(static_cast<fwd::v1::RetryOn>(v)));
  }
  return std::to_string(route.retry().retries()) +
         (on.empty() ? "" : " on " + absl::StrJoin(on, ","));
}

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

std::chrono::milliseconds effectiveBackoffBase(const fwd::v1::RetryPolicy& retry) {
  return retry.has_backoff_base() ? toMillis(retry.backoff_base()) : kDefaultBackoffBase;
}

std::chrono::milliseconds effectiveBackoffMax(const fwd::v1::RetryPolicy& retry) {
  return retry.has_backoff_max() ? toMillis(retry.backoff_max()) : kDefaultBackoffMax;
}

std::string backoffCell(const fwd::v1::RetryPolicy& retry) {
  std::string base = formatDuration(effectiveBackoffBase(retry));
  std::string max = formatDuration(effectiveBackoffMax(retry));
  return (retry.has_backoff_base() ? base : base + " (default)") + ", at most " +
         (retry.has_backoff_max() ? max : max + " (default)");
}

// The timeout overrides in fwd.v1.Timeouts order, each with its name in output.
struct NamedTimeout {
  const char* name;
  bool has;
  const google::protobuf::Duration& value;
};

std::vector<NamedTimeout> namedTimeouts(const fwd::v1::Timeouts& t) {
  return {{"connect", t.has_connect(), t.connect()},
          {"first_byte", t.has_first_byte(), t.first_byte()},
          {"stream_first_byte", t.has_stream_first_byte(), t.stream_first_byte()},
          {"idle", t.has_idle(), t.idle()},
          {"total", t.has_total(), t.total()}};
}

std::string timeoutsCell(const fwd::v1::Route& route) {
  std::vector<std::string> set;
  for (const NamedTimeout& t : namedTimeouts(route.timeouts())) {
    if (t.has) {
      set.push_back(std::string(t.name) + " " + formatDuration(toMillis(t.value)));
    }
  }
  if (set.empty()) {
    return "the upstreams' (default)";
  }
  return absl::StrJoin(set, ", ") + (set.size() < 5 ? "; the rest the upstreams'" : "");
}

template <typename Request>
absl::StatusOr<Action> routeAction(
    absl::StatusOr<Request> request, OutputFormat format, const char* verb,
    absl::StatusOr<fwd::v1::Route> (client::AdminApi::*method)(const Request&)) {
  if (!request.ok()) {
    return request.status();
  }
  return Action([request = *std::move(request), format, verb, method](
                    client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto route = (api->*method)(request);
    if (!route.ok()) {
      return route.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, routeJson(*route));
    } else {
      out << "route " << quoted(route->name()) << " " << verb << "\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareAdd(const Invocation& inv) {
  return routeAction(buildCreateRouteRequest(inv), inv.global.output, "created",
                     &client::AdminApi::createRoute);
}

absl::StatusOr<Action> prepareUpdate(const Invocation& inv) {
  return routeAction(buildUpdateRouteRequest(inv), inv.global.output, "updated",
                     &client::AdminApi::updateRoute);
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listRoutes(fwd::v1::ListRoutesRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json list = Json::array();
      for (const fwd::v1::Route& r : response->routes()) {
        list.push_back(routeJson(r));
      }
      writeJson(out, Json{{"routes", std::move(list)}});
    } else {
      out << routeTable({response->routes().begin(), response->routes().end()});
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareGet(const Invocation& inv) {
  fwd::v1::GetRouteRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto route = api->getRoute(request);
    if (!route.ok()) {
      return route.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, routeJson(*route));
    } else {
      out << routeDetail(*route);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRemove(const Invocation& inv) {
  fwd::v1::DeleteRouteRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->deleteRoute(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"removed", request.name()}, {"version", response->version()}});
    } else {
      out << "route " << quoted(request.name()) << " removed (config version "
          << response->version() << ")\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> routeCommands() {
  const std::string flags_synopsis =
      "[--model PATTERN]... [--model-keyword WORD]... [--strategy S] [--fallback MODEL]... "
      "[--rewrite-model NAME] [--retries N] [--retry-on LIST] [--retry-backoff DURATION] "
      "[--retry-backoff-max DURATION] [--priority N] [--timeout DURATION] "
      "[--connect-timeout DURATION] [--first-byte-timeout DURATION] "
      "[--stream-first-byte-timeout DURATION] [--idle-timeout DURATION]";
  return {
      {"route", "add", "NAME",
       "[--prefix PATH] --upstream NAME [--upstream NAME]... " + flags_synopsis + " " +
           editsSynopsis(false) + " " + limitsSynopsis(false, false) + " [--shared] [--log-bodies]",
       "create a route (needs --prefix or --model/--model-keyword)", routeFlags(false), prepareAdd},
      {"route", "list", "", "", "list routes in the order they are matched", {}, prepareList},
      {"route", "get", "NAME", "", "show one route", {}, prepareGet},
      {"route", "update", "NAME",
       "[--prefix PATH] [--upstream NAME]... " + flags_synopsis + " " + editsSynopsis(true) + " " +
           limitsSynopsis(true, false) +
           " [--shared[=false]] [--log-bodies[=false]] [--clear-prefix] [--clear-models] "
           "[--clear-fallbacks] "
           "[--clear-rewrite-model] "
           "[--clear-retry] [--clear-timeouts]",
       "change the given fields of a route", routeFlags(true), prepareUpdate},
      {"route", "remove", "NAME", "", "delete a route", {}, prepareRemove},
  };
}

absl::StatusOr<fwd::v1::CreateRouteRequest> buildCreateRouteRequest(const Invocation& inv) {
  if (!inv.flags.has("upstream")) {
    return usageError("route add needs at least one --upstream NAME");
  }
  if (!inv.flags.has("prefix") && !inv.flags.has("model") && !inv.flags.has("model-keyword")) {
    return usageError(
        "route add needs --prefix or --model/--model-keyword: a route without either would "
        "capture every request");
  }
  // A policy with 0 retries turns failover off: never create one by accident.
  for (const char* flag : {"retry-on", "retry-backoff", "retry-backoff-max"}) {
    if (inv.flags.has(flag) && !inv.flags.has("retries")) {
      return usageError(std::string("--") + flag +
                        " needs --retries N (a retry policy without retries turns failover off)");
    }
  }
  fwd::v1::CreateRouteRequest request;
  fwd::v1::Route& route = *request.mutable_route();
  route.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  absl::Status status = applyFlags(inv.flags, route, paths);
  if (!status.ok()) {
    return status;
  }
  return request;
}

absl::StatusOr<fwd::v1::UpdateRouteRequest> buildUpdateRouteRequest(const Invocation& inv) {
  fwd::v1::UpdateRouteRequest request;
  fwd::v1::Route& route = *request.mutable_route();
  route.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  absl::Status status = applyFlags(inv.flags, route, paths);
  if (!status.ok()) {
    return status;
  }
  if (paths.empty()) {
    return usageError(
        "nothing to update: pass at least one of --prefix, --model, --model-keyword, "
        "--upstream, --strategy, --fallback, --rewrite-model, --retries, --retry-on, "
        "--retry-backoff, --retry-backoff-max, --priority, a timeout flag, an edit flag, a "
        "limit flag, --shared, --log-bodies or a --clear-... flag");
  }
  for (const char* path : kPathOrder) {
    if (std::find(paths.begin(), paths.end(), path) != paths.end()) {
      request.mutable_update_mask()->add_paths(path);
    }
  }
  for (const std::string& path : editsPaths()) {
    if (std::find(paths.begin(), paths.end(), path) != paths.end()) {
      request.mutable_update_mask()->add_paths(path);
    }
  }
  return request;
}

std::string strategyName(fwd::v1::BalanceStrategy strategy) {
  for (const NamedStrategy& s : kStrategies) {
    if (s.value == strategy) {
      return s.name;
    }
  }
  return strategy == fwd::v1::BALANCE_STRATEGY_UNSPECIFIED ? "ordered" : std::to_string(strategy);
}

std::optional<fwd::v1::BalanceStrategy> parseStrategy(const std::string& name) {
  for (const NamedStrategy& s : kStrategies) {
    if (name == s.name) {
      return s.value;
    }
  }
  return std::nullopt;
}

std::string retryOnName(fwd::v1::RetryOn value) {
  for (const NamedRetryOn& r : kRetryOns) {
    if (r.value == value) {
      return r.name;
    }
  }
  return std::to_string(value);
}

std::optional<fwd::v1::RetryOn> parseRetryOn(const std::string& name) {
  for (const NamedRetryOn& r : kRetryOns) {
    if (name == r.name) {
      return r.value;
    }
  }
  return std::nullopt;
}

Json routeJson(const fwd::v1::Route& route) {
  Json models = Json::array();
  for (const fwd::v1::ModelMatch& m : route.models()) {
    switch (m.kind_case()) {
      case fwd::v1::ModelMatch::kExact:
        models.push_back(Json{{"exact", m.exact()}});
        break;
      case fwd::v1::ModelMatch::kKeyword:
        models.push_back(Json{{"keyword", m.keyword()}});
        break;
      case fwd::v1::ModelMatch::kGlob:
        models.push_back(Json{{"glob", m.glob()}});
        break;
      case fwd::v1::ModelMatch::KIND_NOT_SET:
        models.push_back(Json::object());
        break;
    }
  }
  Json retry_on = Json::array();
  for (int v : route.retry().retry_on()) {
    retry_on.push_back(retryOnName(static_cast<fwd::v1::RetryOn>(v)));
  }
  Json timeouts = Json::object();
  for (const NamedTimeout& t : namedTimeouts(route.timeouts())) {
    timeouts[t.name] = t.has ? Json(formatDuration(toMillis(t.value))) : Json(nullptr);
  }
  return Json{
      {"name", route.name()},
      {"path_prefix", route.path_prefix()},
      {"models", std::move(models)},
      {"upstreams",
       Json(std::vector<std::string>(route.upstreams().begin(), route.upstreams().end()))},
      {"strategy", strategyName(route.strategy())},
      {"fallback_models", Json(std::vector<std::string>(route.fallback_models().begin(),
                                                        route.fallback_models().end()))},
      {"rewrite_model", route.rewrite_model()},
      {"retry", Json{{"retries", route.retry().retries()},
                     {"retry_on", std::move(retry_on)},
                     {"backoff_base", formatDuration(effectiveBackoffBase(route.retry()))},
                     {"backoff_max", formatDuration(effectiveBackoffMax(route.retry()))},
                     {"explicit", route.has_retry()}}},
      {"priority", route.priority()},
      {"timeouts", std::move(timeouts)},
      {"edits", editsJson(route.edits())},
      {"limits", limitsJson(route.limits(), false)},
      {"limits_shared", route.limits_shared()},
      {"log_bodies", route.log_bodies()},
      {"id", route.id()},
      {"created", timestampJson(route.create_time())},
      {"updated", timestampJson(route.update_time())},
  };
}

std::string routeTable(const std::vector<fwd::v1::Route>& routes) {
  Table table(
      {"NAME", "PREFIX", "MODELS", "UPSTREAMS", "STRATEGY", "FALLBACKS", "RETRIES", "PRIORITY"});
  for (const fwd::v1::Route& r : routes) {
    table.addRow({r.name(), orDash(r.path_prefix()), modelsCell(r), joinedOr(r.upstreams(), "-"),
                  strategyName(r.strategy()), joinedOr(r.fallback_models(), "-"), retryCell(r),
                  std::to_string(r.priority())});
  }
  return table.render();
}

std::string routeDetail(const fwd::v1::Route& r) {
  Table table({"name:", r.name()});
  table.addRow({"path_prefix:", orDash(r.path_prefix())});
  table.addRow({"models:", modelsCell(r)});
  table.addRow({"upstreams:", joinedOr(r.upstreams(), "-")});
  table.addRow({"strategy:", strategyName(r.strategy())});
  table.addRow({"fallback_models:", joinedOr(r.fallback_models(), "-")});
  table.addRow({"rewrite_model:", orDash(r.rewrite_model())});
  table.addRow({"retries:", r.has_retry() ? retryCell(r) : "failover (default)"});
  table.addRow({"retry_backoff:", backoffCell(r.retry())});
  table.addRow({"priority:", std::to_string(r.priority())});
  table.addRow({"timeouts:", timeoutsCell(r)});
  table.addRow({"edits:", editsCell(r.edits())});
  std::string limits = limitsCell(r.limits());
  if (limits != "-") {
    limits += r.limits_shared() ? " (shared by every key)" : " (per key)";
  }
  table.addRow({"limits:", limits});
  table.addRow({"log_bodies:", r.log_bodies() ? "yes" : "no"});
  table.addRow({"id:", std::to_string(r.id())});
  table.addRow({"created:", timestampCell(r.create_time())});
  table.addRow({"updated:", timestampCell(r.update_time())});
  return table.render();
}

}  // namespace fwd::cli::commands
