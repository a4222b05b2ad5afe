#include "cli/commands/upstream.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "cli/client/error_kind.h"
#include "cli/commands/edits.h"
#include "cli/commands/health.h"
#include "common/config/duration.h"
#include "common/config/provider.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;
using fwd::common::config::formatDuration;

// FieldMask paths in the order of their fields in config.proto, so a mask never depends on flag
// order.
constexpr const char* kPathOrder[] = {"base_url",
                                      "api_key",
                                      "api_key_env",
                                      "models",
                                      "priority",
                                      "weight",
                                      "timeout",
                                      "insecure_skip_verify",
                                      "deny_models",
                                      "connect_timeout",
                                      "first_byte_timeout",
                                      "stream_first_byte_timeout",
                                      "idle_timeout",
                                      "outlier_detection.disabled",
                                      "outlier_detection.consecutive_failures",
                                      "outlier_detection.base_ejection_time",
                                      "outlier_detection.max_ejection_time",
                                      "health_check",
                                      "health_check.path",
                                      "health_check.interval",
                                      "health_check.timeout",
                                      "health_check.unhealthy_threshold",
                                      "health_check.healthy_threshold"};
// After the edits' paths (config.proto numbers them after `edits`).
constexpr const char* kProviderPaths[] = {"provider",          "azure",
                                          "azure.deployments", "azure.api_version",
                                          "replicate",         "replicate.prompt_templates"};

// Flags that set one field of the health check; any of them enables the check.
constexpr const char* kHealthFlags[] = {"health-check-path", "health-check-interval",
                                        "health-check-timeout", "unhealthy-threshold",
                                        "healthy-threshold"};

std::vector<FlagSpec> upstreamFlags(bool update) {
  std::vector<FlagSpec> flags = {
      {"base-url", FlagKind::kValue, "URL",
       "http(s)://host[:port][/prefix], e.g. https://api.openai.com/v1"},
      {"api-key", FlagKind::kValue, "KEY", "credential stored by the control plane"},
      {"api-key-env", FlagKind::kValue, "VAR",
       "environment variable holding the credential on each data-plane host"},
      {"model", FlagKind::kRepeated, "PATTERN", "model glob served, repeatable"},
      {"allow-model", FlagKind::kRepeated, "PATTERN", "the same as --model"},
      {"deny-model", FlagKind::kRepeated, "PATTERN",
       "model glob refused even when allowed, repeatable"},
      {"priority", FlagKind::kValue, "N", "lower is tried first (default 0)"},
      {"weight", FlagKind::kValue, "N", "relative share for weighted balancing (default 1)"},
      {"timeout", FlagKind::kValue, "DURATION", "per-attempt timeout, e.g. 30s (default 600s)"},
      {"connect-timeout", FlagKind::kValue, "DURATION", "DNS, TCP connect and TLS (default 10s)"},
      {"first-byte-timeout", FlagKind::kValue, "DURATION",
       "request sent to response head (default: --timeout)"},
      {"stream-first-byte-timeout", FlagKind::kValue, "DURATION",
       "the same for streamed requests (default: --first-byte-timeout)"},
      {"idle-timeout", FlagKind::kValue, "DURATION",
       "longest silence between two body reads (default: none)"},
      {"eject-after", FlagKind::kValue, "N",
       "eject after N consecutive failures, 0 never ejects (default 5)"},
      {"eject-time", FlagKind::kValue, "DURATION",
       "first ejection; the n-th lasts n times longer (default 30s)"},
      {"max-eject-time", FlagKind::kValue, "DURATION", "longest ejection (default 300s)"},
      {"health-check", FlagKind::kBool, "",
       "probe the upstream, with defaults for what is not given"},
      {"health-check-path", FlagKind::kValue, "PATH",
       "probed path, appended to the base URL (default /models)"},
      {"health-check-interval", FlagKind::kValue, "DURATION", "time between probes (default 10s)"},
      {"health-check-timeout", FlagKind::kValue, "DURATION", "probe timeout (default 5s)"},
      {"unhealthy-threshold", FlagKind::kValue, "N",
       "failed probes that take it out of rotation (default 3)"},
      {"healthy-threshold", FlagKind::kValue, "N",
       "successful probes that bring it back (default 2)"},
      {"insecure-skip-verify", FlagKind::kBool, "", "skip TLS certificate verification"},
      {"provider", FlagKind::kValue, "NAME",
       "the API the upstream speaks: openai, azure, dashscope or replicate"},
      {"azure-deployment", FlagKind::kRepeated, "MODEL=DEPLOYMENT",
       "Azure deployment a model goes to, repeatable; replaces the map (default: the model's "
       "name)"},
      {"azure-api-version", FlagKind::kValue, "VERSION",
       "Azure's api-version query parameter, e.g. 2024-10-21"},
      {"prompt-template", FlagKind::kRepeated, "MODEL=TEMPLATE",
       "Replicate: the template a model's messages are rendered with (mistral, llama2, llama3, "
       "chatml, plain; MODEL * for every other model), repeatable; replaces the map (default: "
       "mistral)"},
  };
  for (FlagSpec& f : editsFlags(update)) {
    flags.push_back(std::move(f));
  }
  if (update) {
    flags.push_back({"clear-models", FlagKind::kBool, "", "set the model list to empty"});
    flags.push_back({"clear-deny-models", FlagKind::kBool, "", "set the deny list to empty"});
    flags.push_back({"no-health-check", FlagKind::kBool, "", "remove the health check"});
    flags.push_back(
        {"clear-azure-deployments", FlagKind::kBool, "", "send every model to its own name"});
    flags.push_back({"clear-prompt-templates", FlagKind::kBool, "",
                     "render every model's messages with the default template (mistral)"});
  }
  return flags;
}

// The connect, first byte, stream first byte and idle timeouts.
absl::Status applyTimeoutFlags(const FlagValues& flags, fwd::v1::Upstream& upstream,
                               std::vector<std::string>& paths) {
  using F = DurationFlag<fwd::v1::Upstream>;
  return applyDurationFlags<fwd::v1::Upstream>(
      flags,
      {F{"connect-timeout", "connect_timeout", &fwd::v1::Upstream::mutable_connect_timeout},
       F{"first-byte-timeout", "first_byte_timeout",
         &fwd::v1::Upstream::mutable_first_byte_timeout},
       F{"stream-first-byte-timeout", "stream_first_byte_timeout",
         &fwd::v1::Upstream::mutable_stream_first_byte_timeout},
       F{"idle-timeout", "idle_timeout", &fwd::v1::Upstream::mutable_idle_timeout}},
      [&]() -> fwd::v1::Upstream& { return upstream; }, paths);
}

// --eject-after, --eject-time, --max-eject-time: one path per field, so an update changes only
// what was given. --eject-after 0 means never eject (disabled).
absl::Status applyOutlierFlags(const FlagValues& flags, fwd::v1::Upstream& upstream,
                               std::vector<std::string>& paths) {
  auto after = flags.uint32Value("eject-after");
  if (!after.ok()) {
    return after.status();
  }
  if (after->has_value()) {
    fwd::v1::OutlierDetection& od = *upstream.mutable_outlier_detection();
    od.set_disabled(**after == 0);
    od.set_consecutive_failures(**after);
    paths.push_back("outlier_detection.disabled");
    paths.push_back("outlier_detection.consecutive_failures");
  }
  using F = DurationFlag<fwd::v1::OutlierDetection>;
  return applyDurationFlags<fwd::v1::OutlierDetection>(
      flags,
      {F{"eject-time", "outlier_detection.base_ejection_time",
         &fwd::v1::OutlierDetection::mutable_base_ejection_time},
       F{"max-eject-time", "outlier_detection.max_ejection_time",
         &fwd::v1::OutlierDetection::mutable_max_ejection_time}},
      [&]() -> fwd::v1::OutlierDetection& { return *upstream.mutable_outlier_detection(); }, paths);
}

// The health check flags. Any of them enables the check. On update, --health-check replaces the
// whole check (defaults for what is not given) and the other flags alone change one field each;
// --no-health-check (or --health-check=false) removes it.
absl::Status applyHealthFlags(const FlagValues& flags, bool update, fwd::v1::Upstream& upstream,
                              std::vector<std::string>& paths) {
  const char* field_flag = nullptr;
  for (const char* name : kHealthFlags) {
    if (flags.has(name)) {
      field_flag = name;
      break;
    }
  }
  std::optional<bool> enable = flags.boolValue("health-check");
  bool remove = flags.boolValue("no-health-check").value_or(false) || enable == false;
  if (remove && field_flag != nullptr) {
    return usageError(
        std::string(flags.has("no-health-check") ? "--no-health-check" : "--health-check=false") +
        " and --" + field_flag + " cannot be used together");
  }
  if (remove && enable == true) {
    return usageError("--no-health-check and --health-check cannot be used together");
  }
  if (remove) {
    if (update) {
      upstream.clear_health_check();
      paths.push_back("health_check");
    }
    return absl::OkStatus();
  }
  if (enable != true && field_flag == nullptr) {
    return absl::OkStatus();
  }
  fwd::v1::HealthCheck& hc = *upstream.mutable_health_check();
  // On update, field flags without --health-check change only their own fields.
  const bool whole = !update || enable == true;
  if (auto v = flags.value("health-check-path")) {
    if (v->empty()) {
      return usageError("--health-check-path is empty");
    }
    hc.set_path(*v);
    paths.push_back("health_check.path");
  }
  using F = DurationFlag<fwd::v1::HealthCheck>;
  absl::Status durations = applyDurationFlags<fwd::v1::HealthCheck>(
      flags,
      {F{"health-check-interval", "health_check.interval", &fwd::v1::HealthCheck::mutable_interval},
       F{"health-check-timeout", "health_check.timeout", &fwd::v1::HealthCheck::mutable_timeout}},
      [&]() -> fwd::v1::HealthCheck& { return hc; }, paths);
  if (!durations.ok()) {
    return durations;
  }
  struct Threshold {
    const char* flag;
    const char* path;
    void (fwd::v1::HealthCheck::*set)(std::uint32_t);
  };
  for (const Threshold& t : {Threshold{"unhealthy-threshold", "health_check.unhealthy_threshold",
                                       &fwd::v1::HealthCheck::set_unhealthy_threshold},
                             Threshold{"healthy-threshold", "health_check.healthy_threshold",
                                       &fwd::v1::HealthCheck::set_healthy_threshold}}) {
    auto n = flags.uint32Value(t.flag);
    if (!n.ok()) {
      return n.status();
    }
    if (n->has_value()) {
      if (**n == 0) {
        return usageError(std::string("--") + t.flag + " must be at least 1");
      }
      (hc.*t.set)(**n);
      paths.push_back(t.path);
    }
  }
  if (whole) {
    paths.erase(
        std::remove_if(paths.begin(), paths.end(),
                       [](const std::string& p) { return p.rfind("health_check.", 0) == 0; }),
        paths.end());
    paths.push_back("health_check");
  }
  return absl::OkStatus();
}

// MODEL=VALUE entries of the repeatable `flag` into `map` (replaced): `what` names VALUE.
absl::Status parseModelMap(const FlagValues& flags, const std::string& flag, const char* what,
                           google::protobuf::Map<std::string, std::string>& map) {
  for (const std::string& entry : flags.values(flag)) {
    size_t eq = entry.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      return usageError("--" + flag + " wants MODEL=" + what + ", got \"" + entry + "\"");
    }
    std::string model = entry.substr(0, eq);
    if (map.contains(model)) {
      return usageError("--" + flag + " names model \"" + model + "\" twice");
    }
    map[model] = entry.substr(eq + 1);
  }
  return absl::OkStatus();
}

// --provider and the providers' options. --provider X also removes the other providers' options.
absl::Status applyProviderFlags(const FlagValues& flags, fwd::v1::Upstream& upstream,
                                std::vector<std::string>& paths) {
  if (auto v = flags.value("provider")) {
    std::optional<int> provider = common::config::parseProvider(*v);
    if (!provider) {
      return usageError("--provider must be openai, azure, dashscope or replicate, got \"" + *v +
                        "\"");
    }
    upstream.set_provider(static_cast<fwd::v1::Provider>(*provider));
    paths.push_back("provider");
    if (*provider != fwd::v1::PROVIDER_AZURE) {
      if (flags.has("azure-deployment") || flags.has("azure-api-version")) {
        return usageError("--azure-deployment and --azure-api-version need --provider azure");
      }
      paths.push_back("azure");
    }
    if (*provider != fwd::v1::PROVIDER_REPLICATE) {
      if (flags.has("prompt-template")) {
        return usageError("--prompt-template needs --provider replicate");
      }
      paths.push_back("replicate");
    }
  }
  bool clear = flags.boolValue("clear-azure-deployments").value_or(false);
  if (clear && flags.has("azure-deployment")) {
    return usageError("--clear-azure-deployments and --azure-deployment cannot be used together");
  }
  if (flags.has("azure-deployment") || clear) {
    if (auto s = parseModelMap(flags, "azure-deployment", "DEPLOYMENT",
                               *upstream.mutable_azure()->mutable_deployments());
        !s.ok()) {
      return s;
    }
    paths.push_back("azure.deployments");
  }
  if (auto v = flags.value("azure-api-version")) {
    if (v->empty()) {
      return usageError("--azure-api-version is empty");
    }
    upstream.mutable_azure()->set_api_version(*v);
    paths.push_back("azure.api_version");
  }
  bool clear_templates = flags.boolValue("clear-prompt-templates").value_or(false);
  if (clear_templates && flags.has("prompt-template")) {
    return usageError("--clear-prompt-templates and --prompt-template cannot be used together");
  }
  if (flags.has("prompt-template") || clear_templates) {
    auto& map = *upstream.mutable_replicate()->mutable_prompt_templates();
    if (auto s = parseModelMap(flags, "prompt-template", "TEMPLATE", map); !s.ok()) {
      return s;
    }
    for (const auto& [model, name] : map) {
      if (!common::config::isPromptTemplate(name)) {
        return usageError("--prompt-template " + model + "=" + name +
                          ": the template must be mistral, llama2, llama3, chatml or plain");
      }
    }
    paths.push_back("replicate.prompt_templates");
  }
  return absl::OkStatus();
}

// Copies every given flag into `upstream` and records its FieldMask path.
absl::Status applyFlags(const FlagValues& flags, bool update, fwd::v1::Upstream& upstream,
                        std::vector<std::string>& paths) {
  if (flags.has("api-key") && flags.has("api-key-env")) {
    return usageError("--api-key and --api-key-env cannot be used together");
  }
  if (auto v = flags.value("base-url")) {
    if (v->empty()) {
      return usageError("--base-url is empty");
    }
    upstream.set_base_url(*v);
    paths.push_back("base_url");
  }
  if (auto v = flags.value("api-key")) {
    if (v->empty()) {
      return usageError("--api-key is empty");
    }
    upstream.set_api_key(*v);
    paths.push_back("api_key");
  }
  if (auto v = flags.value("api-key-env")) {
    if (v->empty()) {
      return usageError("--api-key-env is empty");
    }
    upstream.set_api_key_env(*v);
    paths.push_back("api_key_env");
  }
  bool clear_models = flags.boolValue("clear-models").value_or(false);
  for (const char* name : {"model", "allow-model"}) {
    if (clear_models && flags.has(name)) {
      return usageError(std::string("--clear-models and --") + name + " cannot be used together");
    }
  }
  if (flags.has("model") || flags.has("allow-model") || clear_models) {
    // --allow-model is a synonym: its patterns join --model's (the list is a set of globs).
    for (const char* name : {"model", "allow-model"}) {
      for (const std::string& model : flags.values(name)) {
        if (model.empty()) {
          return usageError(std::string("--") + name + " is empty");
        }
        upstream.add_models(model);
      }
    }
    paths.push_back("models");
  }
  bool clear_deny = flags.boolValue("clear-deny-models").value_or(false);
  if (clear_deny && flags.has("deny-model")) {
    return usageError("--clear-deny-models and --deny-model cannot be used together");
  }
  if (flags.has("deny-model") || clear_deny) {
    for (const std::string& model : flags.values("deny-model")) {
      if (model.empty()) {
        return usageError("--deny-model is empty");
      }
      upstream.add_deny_models(model);
    }
    paths.push_back("deny_models");
  }
  auto priority = flags.int32Value("priority");
  if (!priority.ok()) {
    return priority.status();
  }
  if (priority->has_value()) {
    upstream.set_priority(**priority);
    paths.push_back("priority");
  }
  auto weight = flags.uint32Value("weight");
  if (!weight.ok()) {
    return weight.status();
  }
  if (weight->has_value()) {
    upstream.set_weight(**weight);
    paths.push_back("weight");
  }
  auto timeout = flags.durationValue("timeout");
  if (!timeout.ok()) {
    return timeout.status();
  }
  if (timeout->has_value()) {
    if ((*timeout)->count() <= 0) {
      return usageError("--timeout must be positive");
    }
    *upstream.mutable_timeout() = toProtoDuration(**timeout);
    paths.push_back("timeout");
  }
  if (auto v = flags.boolValue("insecure-skip-verify")) {
    upstream.set_insecure_skip_verify(*v);
    paths.push_back("insecure_skip_verify");
  }
  for (absl::Status s :
       {applyTimeoutFlags(flags, upstream, paths), applyOutlierFlags(flags, upstream, paths),
        applyHealthFlags(flags, update, upstream, paths),
        applyProviderFlags(flags, upstream, paths),
        applyEditsFlags(
            flags, [&]() -> fwd::v1::Edits& { return *upstream.mutable_edits(); }, paths)}) {
    if (!s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::vector<fwd::v1::Upstream> asVector(
    const google::protobuf::RepeatedPtrField<fwd::v1::Upstream>& upstreams) {
  return {upstreams.begin(), upstreams.end()};
}

std::chrono::milliseconds effectiveTimeout(const fwd::v1::Upstream& upstream) {
  return upstream.has_timeout() ? toMillis(upstream.timeout()) : kDefaultUpstreamTimeout;
}

// The finer timeouts as data planes apply them (config.proto): unset first-byte limits follow
// the total, the stream one follows the first-byte one.
std::chrono::milliseconds effectiveConnect(const fwd::v1::Upstream& u) {
  return u.has_connect_timeout() ? toMillis(u.connect_timeout()) : kDefaultConnectTimeout;
}

std::chrono::milliseconds effectiveFirstByte(const fwd::v1::Upstream& u) {
  return u.has_first_byte_timeout() ? toMillis(u.first_byte_timeout()) : effectiveTimeout(u);
}

std::chrono::milliseconds effectiveStreamFirstByte(const fwd::v1::Upstream& u) {
  return u.has_stream_first_byte_timeout() ? toMillis(u.stream_first_byte_timeout())
                                           : effectiveFirstByte(u);
}

// Outlier detection and health check with defaults applied, for display.
struct Outlier {
  bool enabled = true;
  std::uint32_t consecutive_failures = kDefaultConsecutiveFailures;
  std::chrono::milliseconds base = kDefaultBaseEjection;
  std::chrono::milliseconds max = kDefaultMaxEjection;
  bool failures_default = true, base_default = true, max_default = true;
};

Outlier effectiveOutlier(const fwd::v1::Upstream& u) {
  Outlier o;
  if (!u.has_outlier_detection()) {
    return o;
  }
  const fwd::v1::OutlierDetection& od = u.outlier_detection();
  o.enabled = !od.disabled();
  if (od.consecutive_failures() != 0) {
    o.consecutive_failures = od.consecutive_failures();
    o.failures_default = false;
  }
  if (od.has_base_ejection_time()) {
    o.base = toMillis(od.base_ejection_time());
    o.base_default = false;
  }
  if (od.has_max_ejection_time()) {
    o.max = toMillis(od.max_ejection_time());
    o.max_default = false;
  }
  return o;
}

struct Health {
  std::string path = std::string(kDefaultHealthCheckPath);
  std::chrono::milliseconds interval = kDefaultHealthCheckInterval;
  std::chrono::milliseconds timeout = kDefaultHealthCheckTimeout;
  std::uint32_t unhealthy = kDefaultUnhealthyThreshold;
  std::uint32_t healthy = kDefaultHealthyThreshold;
  bool path_default = true, interval_default = true, timeout_default = true;
  bool unhealthy_default = true, healthy_default = true;
};

Health effectiveHealth(const fwd::v1::HealthCheck& hc) {
  Health h;
  if (!hc.path().empty()) {
    h.path = hc.path();
    h.path_default = false;
  }
  if (hc.has_interval()) {
    h.interval = toMillis(hc.interval());
    h.interval_default = false;
  }
  if (hc.has_timeout()) {
    h.timeout = toMillis(hc.timeout());
    h.timeout_default = false;
  }
  if (hc.unhealthy_threshold() != 0) {
    h.unhealthy = hc.unhealthy_threshold();
    h.unhealthy_default = false;
  }
  if (hc.healthy_threshold() != 0) {
    h.healthy = hc.healthy_threshold();
    h.healthy_default = false;
  }
  return h;
}

// "1 failure", "3 failures".
std::string counted(std::uint32_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "5s" or "10s (default)".
std::string withDefault(const std::string& value, bool is_default) {
  return is_default ? value + " (default)" : value;
}

// Parts of a one-line summary, each marked "(default)" when it is; when every part is a
// default, one "(defaults)" at the end instead.
std::string summary(const std::vector<std::pair<std::string, bool>>& parts,
                    const std::string& separator) {
  bool all_default =
      std::all_of(parts.begin(), parts.end(), [](const auto& p) { return p.second; });
  std::string out;
  for (const auto& [text, is_default] : parts) {
    out += (out.empty() ? "" : separator) + (all_default ? text : withDefault(text, is_default));
  }
  return all_default ? out + " (defaults)" : out;
}

std::string outlierCell(const fwd::v1::Upstream& u) {
  Outlier o = effectiveOutlier(u);
  if (!o.enabled) {
    return "never eject (disabled)";
  }
  return summary({{"eject after " + counted(o.consecutive_failures, "failure", "failures"),
                   o.failures_default},
                  {"for " + formatDuration(o.base), o.base_default},
                  {"at most " + formatDuration(o.max), o.max_default}},
                 ", ");
}

std::string healthCheckCell(const fwd::v1::Upstream& u) {
  if (!u.has_health_check()) {
    return "off (default)";
  }
  Health h = effectiveHealth(u.health_check());
  return summary({{"GET " + h.path, h.path_default},
                  {"every " + formatDuration(h.interval), h.interval_default},
                  {"timeout " + formatDuration(h.timeout), h.timeout_default},
                  {"out after " + counted(h.unhealthy, "failure", "failures"), h.unhealthy_default},
                  {"back after " + counted(h.healthy, "success", "successes"), h.healthy_default}},
                 ", ");
}

Json outlierJson(const fwd::v1::Upstream& u) {
  Outlier o = effectiveOutlier(u);
  return Json{{"enabled", o.enabled},
              {"consecutive_failures", o.consecutive_failures},
              {"base_ejection_time", formatDuration(o.base)},
              {"max_ejection_time", formatDuration(o.max)}};
}

Json healthCheckJson(const fwd::v1::Upstream& u) {
  if (!u.has_health_check()) {
    return nullptr;
  }
  Health h = effectiveHealth(u.health_check());
  return Json{{"path", h.path},
              {"interval", formatDuration(h.interval)},
              {"timeout", formatDuration(h.timeout)},
              {"unhealthy_threshold", h.unhealthy},
              {"healthy_threshold", h.healthy}};
}

std::uint32_t effectiveWeight(const fwd::v1::Upstream& upstream) {
  return upstream.weight() == 0 ? 1 : upstream.weight();
}

// "…abcd" as the server reports it; should a server ever echo the key, only its tail is shown.
std::string keyHint(const fwd::v1::Upstream& upstream) {
  if (!upstream.api_key_hint().empty()) {
    return upstream.api_key_hint();
  }
  const std::string& key = upstream.api_key();
  return "…" + key.substr(key.size() > 4 ? key.size() - 4 : key.size());
}

bool hasStoredKey(const fwd::v1::Upstream& upstream) {
  return upstream.credential_case() == fwd::v1::Upstream::kApiKey ||
         (upstream.credential_case() == fwd::v1::Upstream::CREDENTIAL_NOT_SET &&
          !upstream.api_key_hint().empty());
}

absl::StatusOr<Action> prepareAdd(const Invocation& inv) {
  auto request = buildCreateUpstreamRequest(inv);
  if (!request.ok()) {
    return request.status();
  }
  OutputFormat format = inv.global.output;
  return Action([request = *std::move(request), format](client::AdminApi* api,
                                                        std::ostream& out) -> absl::Status {
    auto upstream = api->createUpstream(request);
    if (!upstream.ok()) {
      return upstream.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, upstreamJson(*upstream));
    } else {
      out << "upstream " << quoted(upstream->name()) << " created\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareUpdate(const Invocation& inv) {
  auto request = buildUpdateUpstreamRequest(inv);
  if (!request.ok()) {
    return request.status();
  }
  OutputFormat format = inv.global.output;
  return Action([request = *std::move(request), format](client::AdminApi* api,
                                                        std::ostream& out) -> absl::Status {
    auto upstream = api->updateUpstream(request);
    if (!upstream.ok()) {
      return upstream.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, upstreamJson(*upstream));
    } else {
      out << "upstream " << quoted(upstream->name()) << " updated\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listUpstreams(fwd::v1::ListUpstreamsRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json list = Json::array();
      for (const fwd::v1::Upstream& u : response->upstreams()) {
        list.push_back(upstreamJson(u));
      }
      writeJson(out, Json{{"upstreams", std::move(list)}});
    } else {
      out << upstreamTable(asVector(response->upstreams()));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareGet(const Invocation& inv) {
  fwd::v1::GetUpstreamRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto upstream = api->getUpstream(request);
    if (!upstream.ok()) {
      return upstream.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, upstreamJson(*upstream));
    } else {
      out << upstreamDetail(*upstream);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRemove(const Invocation& inv) {
  fwd::v1::DeleteUpstreamRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->deleteUpstream(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"removed", request.name()}, {"version", response->version()}});
    } else {
      out << "upstream " << quoted(request.name()) << " removed (config version "
          << response->version() << ")\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> upstreamCommands() {
  const std::string flags_synopsis =
      "[--api-key KEY | --api-key-env VAR] [--model|--allow-model PATTERN]... "
      "[--deny-model PATTERN]... [--priority N] [--weight N] [--timeout DURATION] "
      "[--connect-timeout DURATION] [--first-byte-timeout DURATION] "
      "[--stream-first-byte-timeout DURATION] [--idle-timeout DURATION] [--eject-after N] "
      "[--eject-time DURATION] [--max-eject-time DURATION] [--health-check] "
      "[--health-check-path PATH] [--health-check-interval DURATION] "
      "[--health-check-timeout DURATION] [--unhealthy-threshold N] [--healthy-threshold N] "
      "[--insecure-skip-verify] [--provider openai|azure|dashscope|replicate] "
      "[--azure-deployment MODEL=DEPLOYMENT]... [--azure-api-version VERSION] "
      "[--prompt-template MODEL=TEMPLATE]...";
  return {
      {"upstream", "add", "NAME", "--base-url URL " + flags_synopsis + " " + editsSynopsis(false),
       "create an upstream", upstreamFlags(false), prepareAdd},
      {"upstream", "list", "", "", "list upstreams in the order they are tried", {}, prepareList},
      {"upstream", "get", "NAME", "", "show one upstream", {}, prepareGet},
      {"upstream", "update", "NAME",
       "[--base-url URL] " + flags_synopsis + " " + editsSynopsis(true) +
           " [--clear-models] [--clear-deny-models] [--no-health-check] "
           "[--clear-azure-deployments] [--clear-prompt-templates]",
       "change the given fields of an upstream", upstreamFlags(true), prepareUpdate},
      {"upstream", "remove", "NAME", "", "delete an upstream", {}, prepareRemove},
  };
}

absl::StatusOr<fwd::v1::CreateUpstreamRequest> buildCreateUpstreamRequest(const Invocation& inv) {
  if (!inv.flags.has("base-url")) {
    return usageError("upstream add needs --base-url URL");
  }
  fwd::v1::CreateUpstreamRequest request;
  fwd::v1::Upstream& upstream = *request.mutable_upstream();
  upstream.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  absl::Status status = applyFlags(inv.flags, /*update=*/false, upstream, paths);
  if (!status.ok()) {
    return status;
  }
  return request;
}

absl::StatusOr<fwd::v1::UpdateUpstreamRequest> buildUpdateUpstreamRequest(const Invocation& inv) {
  fwd::v1::UpdateUpstreamRequest request;
  fwd::v1::Upstream& upstream = *request.mutable_upstream();
  upstream.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  absl::Status status = applyFlags(inv.flags, /*update=*/true, upstream, paths);
  if (!status.ok()) {
    return status;
  }
  if (paths.empty()) {
    return usageError(
        "nothing to update: pass at least one field flag, e.g. --timeout 30s (see fwdctl "
        "upstream --help)");
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
  for (const char* path : kProviderPaths) {
    if (std::find(paths.begin(), paths.end(), path) != paths.end()) {
      request.mutable_update_mask()->add_paths(path);
    }
  }
  return request;
}

Json credentialJson(const fwd::v1::Upstream& upstream) {
  if (upstream.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
    return Json{{"type", "env"}, {"env", upstream.api_key_env()}};
  }
  if (hasStoredKey(upstream)) {
    return Json{{"type", "api_key"}, {"hint", keyHint(upstream)}};
  }
  return Json{{"type", "none"}};
}

std::string credentialCell(const fwd::v1::Upstream& upstream) {
  if (upstream.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
    return "env:" + upstream.api_key_env();
  }
  if (hasStoredKey(upstream)) {
    return "key " + keyHint(upstream);
  }
  return "-";
}

Json providerJson(const fwd::v1::Upstream& upstream) {
  Json out{{"name", std::string(common::config::providerName(upstream.provider()))}};
  if (upstream.provider() == fwd::v1::PROVIDER_AZURE) {
    // Sorted by model: protobuf's map order is unspecified.
    std::map<std::string, std::string> sorted(upstream.azure().deployments().begin(),
                                              upstream.azure().deployments().end());
    Json deployments = Json::object();
    for (const auto& [model, deployment] : sorted) {
      deployments[model] = deployment;
    }
    out["api_version"] = upstream.azure().api_version().empty()
                             ? Json(nullptr)
                             : Json(upstream.azure().api_version());
    out["deployments"] = std::move(deployments);
  }
  if (upstream.provider() == fwd::v1::PROVIDER_REPLICATE) {
    std::map<std::string, std::string> sorted(upstream.replicate().prompt_templates().begin(),
                                              upstream.replicate().prompt_templates().end());
    Json templates = Json::object();
    for (const auto& [model, name] : sorted) {
      templates[model] = name;
    }
    out["prompt_templates"] = std::move(templates);
  }
  return out;
}

std::string providerCell(const fwd::v1::Upstream& upstream) {
  std::string out(common::config::providerName(upstream.provider()));
  if (upstream.provider() == fwd::v1::PROVIDER_AZURE) {
    const std::string& version = upstream.azure().api_version();
    out += version.empty() ? " (no api-version)" : " (api-version " + version + ")";
  }
  return out;
}

std::string azureDeploymentsCell(const fwd::v1::Upstream& upstream) {
  std::map<std::string, std::string> sorted(upstream.azure().deployments().begin(),
                                            upstream.azure().deployments().end());
  std::string out;
  for (const auto& [model, deployment] : sorted) {
    out += (out.empty() ? "" : ", ") + model + "=" + deployment;
  }
  return out.empty() ? "- (each model goes to the deployment of its name)" : out;
}

std::string promptTemplatesCell(const fwd::v1::Upstream& upstream) {
  std::map<std::string, std::string> sorted(upstream.replicate().prompt_templates().begin(),
                                            upstream.replicate().prompt_templates().end());
  std::string out;
  for (const auto& [model, name] : sorted) {
    out += (out.empty() ? "" : ", ") + model + "=" + name;
  }
  return out.empty() ? "- (mistral for every model)" : out;
}

Json upstreamJson(const fwd::v1::Upstream& upstream) {
  Json models = Json::array();
  for (const std::string& m : upstream.models()) {
    models.push_back(m);
  }
  Json deny_models = Json::array();
  for (const std::string& m : upstream.deny_models()) {
    deny_models.push_back(m);
  }
  return Json{
      {"name", upstream.name()},
      {"base_url", upstream.base_url()},
      {"provider", providerJson(upstream)},
      {"models", std::move(models)},
      {"deny_models", std::move(deny_models)},
      {"priority", upstream.priority()},
      {"weight", effectiveWeight(upstream)},
      {"timeout", formatDuration(effectiveTimeout(upstream))},
      {"connect_timeout", formatDuration(effectiveConnect(upstream))},
      {"first_byte_timeout", formatDuration(effectiveFirstByte(upstream))},
      {"stream_first_byte_timeout", formatDuration(effectiveStreamFirstByte(upstream))},
      {"idle_timeout", upstream.has_idle_timeout()
                           ? Json(formatDuration(toMillis(upstream.idle_timeout())))
                           : Json(nullptr)},
      {"outlier_detection", outlierJson(upstream)},
      {"health_check", healthCheckJson(upstream)},
      {"insecure_skip_verify", upstream.insecure_skip_verify()},
      {"edits", editsJson(upstream.edits())},
      {"credential", credentialJson(upstream)},
      {"id", upstream.id()},
      {"created", timestampJson(upstream.create_time())},
      {"updated", timestampJson(upstream.update_time())},
      {"health", healthJson(upstream)},
  };
}

std::string upstreamTable(const std::vector<fwd::v1::Upstream>& upstreams) {
  Table table({"NAME", "BASE_URL", "PROVIDER", "MODELS", "PRIORITY", "WEIGHT", "TIMEOUT",
               "CREDENTIAL", "HEALTH"});
  for (const fwd::v1::Upstream& u : upstreams) {
    table.addRow({u.name(), u.base_url(), std::string(common::config::providerName(u.provider())),
                  joinedOr(u.models(), "-"), std::to_string(u.priority()),
                  std::to_string(effectiveWeight(u)), formatDuration(effectiveTimeout(u)),
                  credentialCell(u), healthCell(u)});
  }
  return table.render();
}

std::string upstreamDetail(const fwd::v1::Upstream& u) {
  Table table({"name:", u.name()});
  table.addRow({"base_url:", u.base_url()});
  table.addRow({"provider:", providerCell(u)});
  if (u.provider() == fwd::v1::PROVIDER_AZURE) {
    table.addRow({"azure_deployments:", azureDeploymentsCell(u)});
  }
  if (u.provider() == fwd::v1::PROVIDER_REPLICATE) {
    table.addRow({"prompt_templates:", promptTemplatesCell(u)});
  }
  table.addRow({"models:", joinedOr(u.models(), "-")});
  table.addRow({"deny_models:", joinedOr(u.deny_models(), "-")});
  table.addRow({"priority:", std::to_string(u.priority())});
  table.addRow({"weight:", std::to_string(effectiveWeight(u))});
  table.addRow({"timeout:", formatDuration(effectiveTimeout(u))});
  table.addRow({"connect_timeout:",
                withDefault(formatDuration(effectiveConnect(u)), !u.has_connect_timeout())});
  table.addRow(
      {"first_byte_timeout:", u.has_first_byte_timeout()
                                  ? formatDuration(effectiveFirstByte(u))
                                  : formatDuration(effectiveFirstByte(u)) + " (default: timeout)"});
  table.addRow({"stream_first_byte_timeout:", u.has_stream_first_byte_timeout()
                                                  ? formatDuration(effectiveStreamFirstByte(u))
                                                  : formatDuration(effectiveStreamFirstByte(u)) +
                                                        " (default: first_byte_timeout)"});
  table.addRow({"idle_timeout:", u.has_idle_timeout() ? formatDuration(toMillis(u.idle_timeout()))
                                                      : "none (default)"});
  table.addRow({"outlier_detection:", outlierCell(u)});
  table.addRow({"health_check:", healthCheckCell(u)});
  table.addRow({"insecure_skip_verify:", u.insecure_skip_verify() ? "true" : "false"});
  table.addRow({"edits:", editsCell(u.edits())});
  table.addRow({"credential:", credentialCell(u)});
  table.addRow({"id:", std::to_string(u.id())});
  table.addRow({"created:", timestampCell(u.create_time())});
  table.addRow({"updated:", timestampCell(u.update_time())});
  const bool reported = u.health().nodes_reporting() > 0;
  table.addRow({"health:", healthCell(u)});
  table.addRow({"nodes_reporting:", std::to_string(u.health().nodes_reporting())});
  table.addRow({"ejections:", reported ? std::to_string(u.health().ejections()) : "-"});
  return table.render();
}

}  // namespace fwd::cli::commands
