#include "controlplane/validate/validate.h"

#include <algorithm>
#include <boost/url.hpp>
#include <cassert>
#include <cctype>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/config/budget.h"
#include "common/config/defaults.h"
#include "common/config/duration.h"
#include "common/config/provider.h"
#include "common/match/glob.h"
#include "common/net/cidr.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/unknown_field_set.h"

namespace fwd::controlplane::validate {
namespace {

constexpr size_t kMaxQuotedValue = 120;
constexpr char kUpdatableRoutePaths[] =
    "path_prefix, models, upstreams, strategy, fallback_models, rewrite_model, limits, "
    "limits.rate, limits.rate_strategy, limits.max_parallel, limits.tpm, limits.tokens, "
    "limits_shared, log_bodies, retry, "
    "retry.retries, retry.retry_on, retry.backoff_base, retry.backoff_max, priority, timeouts, "
    "timeouts.connect, timeouts.first_byte, timeouts.stream_first_byte, timeouts.idle, "
    "timeouts.total, edits, edits.max_tokens_cap, edits.stop, edits.drop_empty_messages, "
    "edits.strip_think, edits.answer_prefix, edits.stream_mode";
constexpr char kUpdatablePaths[] =
    "base_url, api_key, api_key_env, models, priority, weight, timeout, insecure_skip_verify, "
    "deny_models, connect_timeout, first_byte_timeout, stream_first_byte_timeout, idle_timeout, "
    "outlier_detection, outlier_detection.disabled, outlier_detection.consecutive_failures, "
    "outlier_detection.base_ejection_time, outlier_detection.max_ejection_time, health_check, "
    "health_check.path, health_check.interval, health_check.timeout, "
    "health_check.unhealthy_threshold, health_check.healthy_threshold, edits, "
    "edits.max_tokens_cap, edits.stop, edits.drop_empty_messages, edits.strip_think, "
    "edits.answer_prefix, edits.stream_mode, provider, azure, azure.deployments, "
    "azure.api_version, replicate, replicate.prompt_templates";

// Bounds of the finer timeouts, ejection times, health check and retry backoff durations. A
// duration below 1ms would reach data planes as 0 (they count whole milliseconds) and be NACKed.
constexpr std::chrono::milliseconds kMinDuration{1};
constexpr std::chrono::milliseconds kMaxTimeout = kMaxUpstreamTimeout;
constexpr std::chrono::milliseconds kMaxEjectionTime = std::chrono::hours(24);
constexpr std::chrono::milliseconds kMinHealthInterval = std::chrono::seconds(1);

/// `value` in double quotes, non-printable bytes escaped and long values cut, so an error
/// message stays one readable line whatever the client sent.
std::string quote(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < kMaxQuotedValue; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > kMaxQuotedValue) {
    out += "...";
  }
  out += '"';
  return out;
}

absl::Status invalid(std::string_view field, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(std::string(field) + " " + quote(value) + ": " +
                                    std::string(why));
}

bool isNameChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return !first && (c == '.' || c == '_' || c == '-');
}

void collectUnknown(const google::protobuf::Message& message, const std::string& prefix,
                    std::vector<std::string>& out) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    std::string number = prefix + std::to_string(unknown.field(i).number());
    if (std::find(out.begin(), out.end(), number) == out.end()) {
      out.push_back(number);
    }
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    if (field->is_repeated()) {
      int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        collectUnknown(reflection->GetRepeatedMessage(message, field, i),
                       prefix + field->name() + "[" + std::to_string(i) + "].", out);
      }
    } else {
      collectUnknown(reflection->GetMessage(message, field), prefix + field->name() + ".", out);
    }
  }
}

absl::Status checkModels(std::string_view field,
                         const google::protobuf::RepeatedPtrField<std::string>& models) {
  if (models.size() > kMaxModels) {
    return absl::InvalidArgumentError(std::string(field) + ": " + std::to_string(models.size()) +
                                      " patterns, at most " + std::to_string(kMaxModels) +
                                      " allowed");
  }
  for (int i = 0; i < models.size(); ++i) {
    if (!common::match::isValidGlob(models[i])) {
      return invalid(std::string(field) + "[" + std::to_string(i) + "]", models[i],
                     "not a valid pattern: use 1 to 256 printable ASCII characters without "
                     "spaces, '*' matches any run of characters");
    }
  }
  return absl::OkStatus();
}

std::string indexed(std::string_view field, int i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

/// A model name as a client sends it: 1..256 printable ASCII characters, no spaces.
bool isModelName(std::string_view s) {
  if (s.empty() || s.size() > kMaxModelName) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

constexpr char kModelNameRule[] = "use 1 to 256 printable ASCII characters without spaces";

absl::Status checkPathPrefix(std::string_view prefix) {
  constexpr char kField[] = "route.path_prefix";
  if (prefix.empty()) {
    return absl::OkStatus();
  }
  constexpr char kShape[] =
      "must be empty or /segment[/segment...] of letters, digits, '.', '_' and '-', with no "
      "trailing '/', e.g. /localai";
  if (prefix.size() > kMaxPathPrefix) {
    return invalid(kField, prefix, "longer than 256 characters");
  }
  if (prefix.front() != '/' || prefix.back() == '/') {
    return invalid(kField, prefix, kShape);
  }
  size_t start = 1;
  bool first = true;
  while (start <= prefix.size()) {
    size_t end = prefix.find('/', start);
    if (end == std::string_view::npos) {
      end = prefix.size();
    }
    std::string_view segment = prefix.substr(start, end - start);
    bool ok =
        !segment.empty() && segment != "." && segment != ".." &&
        std::all_of(segment.begin(), segment.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
        });
    if (!ok) {
      return invalid(kField, prefix, kShape);
    }
    if (first && segment == "v1") {
      return invalid(kField, prefix,
                     "must not be /v1 or start with /v1/: the prefix comes before the API's "
                     "own /v1 (requests to <prefix>/v1/... match)");
    }
    first = false;
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status checkModelMatches(const fwd::v1::Route& route) {
  constexpr char kField[] = "route.models";
  if (route.models_size() > kMaxModels) {
    return absl::InvalidArgumentError(std::string(kField) + ": " +
                                      std::to_string(route.models_size()) + " matches, at most " +
                                      std::to_string(kMaxModels) + " allowed");
  }
  for (int i = 0; i < route.models_size(); ++i) {
    const fwd::v1::ModelMatch& m = route.models(i);
    switch (m.kind_case()) {
      case fwd::v1::ModelMatch::kExact:
        if (!isModelName(m.exact())) {
          return invalid(indexed(kField, i) + ".exact", m.exact(), kModelNameRule);
        }
        break;
      case fwd::v1::ModelMatch::kKeyword:
        if (!isModelName(m.keyword())) {
          return invalid(indexed(kField, i) + ".keyword", m.keyword(), kModelNameRule);
        }
        break;
      case fwd::v1::ModelMatch::kGlob:
        if (!common::match::isValidGlob(m.glob())) {
          return invalid(indexed(kField, i) + ".glob", m.glob(),
                         "not a valid pattern: use 1 to 256 printable ASCII characters without "
                         "spaces, '*' matches any run of characters");
        }
        break;
      case fwd::v1::ModelMatch::KIND_NOT_SET:
        return absl::InvalidArgumentError(indexed(kField, i) +
                                          " is empty: set one of exact, keyword or glob");
    }
  }
  return absl::OkStatus();
}

absl::Status checkRouteUpstreamNames(const fwd::v1::Route& route) {
  constexpr char kField[] = "route.upstreams";
  if (route.upstreams_size() == 0) {
    return absl::InvalidArgumentError(
        "route.upstreams is empty: a route needs at least one upstream");
  }
  if (route.upstreams_size() > kMaxRouteUpstreams) {
    return absl::InvalidArgumentError(
        std::string(kField) + ": " + std::to_string(route.upstreams_size()) +
        " upstreams, at most " + std::to_string(kMaxRouteUpstreams) + " allowed");
  }
  for (int i = 0; i < route.upstreams_size(); ++i) {
    absl::Status s = checkName(indexed(kField, i), route.upstreams(i));
    if (!s.ok()) {
      return s;
    }
    for (int j = 0; j < i; ++j) {
      if (route.upstreams(j) == route.upstreams(i)) {
        return invalid(indexed(kField, i), route.upstreams(i),
                       "listed twice (it is already " + indexed(kField, j) + ")");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status checkFallbacks(const fwd::v1::Route& route) {
  constexpr char kField[] = "route.fallback_models";
  if (route.fallback_models_size() > kMaxRouteUpstreams) {
    return absl::InvalidArgumentError(
        std::string(kField) + ": " + std::to_string(route.fallback_models_size()) +
        " models, at most " + std::to_string(kMaxRouteUpstreams) + " allowed");
  }
  for (int i = 0; i < route.fallback_models_size(); ++i) {
    const std::string& model = route.fallback_models(i);
    if (!isModelName(model)) {
      return invalid(indexed(kField, i), model, kModelNameRule);
    }
    for (int j = 0; j < i; ++j) {
      if (route.fallback_models(j) == model) {
        return invalid(indexed(kField, i), model,
                       "listed twice (it is already " + indexed(kField, j) + ")");
      }
    }
    for (const fwd::v1::ModelMatch& m : route.models()) {
      if (m.kind_case() == fwd::v1::ModelMatch::kExact && m.exact() == model) {
        return invalid(indexed(kField, i), model,
                       "is also an exact model of this route: falling back to it would retry "
                       "the same model");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status checkRetry(const fwd::v1::RetryPolicy& retry) {
  if (retry.retries() > kMaxRetries) {
    return absl::InvalidArgumentError("route.retry.retries " + std::to_string(retry.retries()) +
                                      ": must be 0..10");
  }
  for (int i = 0; i < retry.retry_on_size(); ++i) {
    int value = retry.retry_on(i);
    if (value == fwd::v1::RETRY_ON_UNSPECIFIED || !fwd::v1::RetryOn_IsValid(value)) {
      return absl::InvalidArgumentError("route.retry.retry_on[" + std::to_string(i) + "] " +
                                        std::to_string(value) +
                                        ": not a known condition (use 5XX, 429, CONNECT or "
                                        "TIMEOUT)");
    }
    for (int j = 0; j < i; ++j) {
      if (retry.retry_on(j) == value) {
        return absl::InvalidArgumentError(
            "route.retry.retry_on[" + std::to_string(i) + "] " +
            fwd::v1::RetryOn_Name(static_cast<fwd::v1::RetryOn>(value)) + ": listed twice");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status checkPort(std::string_view url, std::string_view port) {
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
    return invalid("upstream.base_url", url, "port must be 1..65535");
  }
  return absl::OkStatus();
}

absl::Status normalizeBaseUrl(std::string& url) {
  constexpr char kField[] = "upstream.base_url";
  constexpr char kShape[] =
      " (write http(s)://host[:port][/prefix], e.g. https://api.openai.com/v1)";
  if (url.empty()) {
    return absl::InvalidArgumentError(std::string(kField) + " is required" + kShape);
  }
  boost::urls::result<boost::urls::url_view> parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    // An absolute URI has no fragment, so parse_absolute_uri fails on one: say so precisely.
    boost::urls::result<boost::urls::url_view> with_fragment = boost::urls::parse_uri(url);
    if (with_fragment && with_fragment->has_fragment()) {
      return invalid(kField, url, "a fragment ('#...') is not allowed");
    }
    return invalid(kField, url, std::string("not an absolute URL") + kShape);
  }
  const boost::urls::url_view& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::http && u.scheme_id() != boost::urls::scheme::https) {
    return invalid(kField, url, "scheme must be http or https");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return invalid(kField, url, std::string("host is missing") + kShape);
  }
  if (u.has_userinfo()) {
    return invalid(kField, url,
                   "user info (user:password@) is not allowed: put the credential in api_key");
  }
  if (u.has_query()) {
    return invalid(kField, url, "a query ('?...') is not allowed");
  }
  if (u.has_fragment()) {
    return invalid(kField, url, "a fragment ('#...') is not allowed");
  }
  if (u.has_port()) {
    auto port = u.port();
    absl::Status s = checkPort(url, std::string_view(port.data(), port.size()));
    if (!s.ok()) {
      return s;
    }
  }
  size_t colon = url.find(':');
  std::transform(url.begin(), url.begin() + static_cast<std::ptrdiff_t>(colon), url.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return absl::OkStatus();
}

absl::Status checkCredential(const fwd::v1::Upstream& u) {
  if (u.credential_case() == fwd::v1::Upstream::kApiKey) {
    // The value is a secret: never echo it.
    const std::string& key = u.api_key();
    if (key.empty()) {
      return absl::InvalidArgumentError(
          "upstream.api_key is empty: omit it for an upstream that needs no credential");
    }
    if (key.size() > kMaxApiKeyBytes) {
      return absl::InvalidArgumentError("upstream.api_key is " + std::to_string(key.size()) +
                                        " bytes long, at most " + std::to_string(kMaxApiKeyBytes) +
                                        " allowed");
    }
    for (char c : key) {
      auto b = static_cast<unsigned char>(c);
      if (b <= 0x20 || b == 0x7f) {
        return absl::InvalidArgumentError(
            "upstream.api_key contains whitespace or control characters (value not shown): "
            "check for a stray newline or space");
      }
    }
  } else if (u.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
    if (!isEnvName(u.api_key_env())) {
      return invalid("upstream.api_key_env", u.api_key_env(),
                     "not an environment variable name: use letters, digits and '_', not "
                     "starting with a digit, e.g. OPENAI_API_KEY");
    }
  }
  return absl::OkStatus();
}

absl::Status normalizeTimeout(fwd::v1::Upstream& u) {
  if (!u.has_timeout()) {
    u.mutable_timeout()->set_seconds(kDefaultUpstreamTimeout.count());
    u.mutable_timeout()->set_nanos(0);
    return absl::OkStatus();
  }
  const google::protobuf::Duration& d = u.timeout();
  std::string shown = std::to_string(d.seconds()) + "s";
  if (d.nanos() != 0) {
    // Appended piecewise: `" " + std::to_string(...)` trips GCC 12's bogus -Wrestrict.
    shown += ' ';
    shown += std::to_string(d.nanos());
    shown += "ns";
  }
  bool well_formed = d.nanos() > -1000000000 && d.nanos() < 1000000000 &&
                     !(d.seconds() > 0 && d.nanos() < 0) && !(d.seconds() < 0 && d.nanos() > 0);
  if (!well_formed) {
    return absl::InvalidArgumentError("upstream.timeout " + shown +
                                      ": not a valid duration (seconds and nanos disagree)");
  }
  bool positive = d.seconds() > 0 || (d.seconds() == 0 && d.nanos() > 0);
  bool within = d.seconds() < kMaxUpstreamTimeout.count() ||
                (d.seconds() == kMaxUpstreamTimeout.count() && d.nanos() == 0);
  if (!positive || !within) {
    return absl::InvalidArgumentError("upstream.timeout " + shown +
                                      ": must be more than 0 and at most 1h (unset means 600s)");
  }
  return absl::OkStatus();
}

bool wellFormed(const google::protobuf::Duration& d) {
  return d.nanos() > -1000000000 && d.nanos() < 1000000000 && !(d.seconds() > 0 && d.nanos() < 0) &&
         !(d.seconds() < 0 && d.nanos() > 0);
}

/// Whole milliseconds, or nullopt when the duration is not a whole number of them or is too far
/// out to count in them.
std::optional<std::chrono::milliseconds> exactMillis(const google::protobuf::Duration& d) {
  constexpr std::int64_t kFar = 1'000'000'000'000;  // seconds, ~31,700 years
  if (d.nanos() % 1'000'000 != 0 || d.seconds() > kFar || d.seconds() < -kFar) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1'000'000);
}

/// A duration as operators write it ("1500ms", "2m"); seconds and nanos when that is not exact.
std::string shownDuration(const google::protobuf::Duration& d) {
  if (std::optional<std::chrono::milliseconds> ms = exactMillis(d); ms && wellFormed(d)) {
    return common::config::formatDuration(*ms);
  }
  std::string shown = std::to_string(d.seconds()) + "s";
  if (d.nanos() != 0) {
    shown += ' ';
    shown += std::to_string(d.nanos());
    shown += "ns";
  }
  return shown;
}

std::string shown(std::chrono::milliseconds d) { return common::config::formatDuration(d); }

/// Compares two durations without overflow: <0, 0 or >0.
int compare(const google::protobuf::Duration& a, const google::protobuf::Duration& b) {
  if (a.seconds() != b.seconds()) {
    return a.seconds() < b.seconds() ? -1 : 1;
  }
  return a.nanos() < b.nanos() ? -1 : (a.nanos() > b.nanos() ? 1 : 0);
}

google::protobuf::Duration protoDuration(std::chrono::milliseconds d) {
  google::protobuf::Duration out;
  out.set_seconds(d.count() / 1000);
  out.set_nanos(static_cast<std::int32_t>((d.count() % 1000) * 1'000'000));
  return out;
}

int compare(const google::protobuf::Duration& d, std::chrono::milliseconds bound) {
  return compare(d, protoDuration(bound));
}

/// A set duration `field` is well formed and within [min, max]; `unset` says what leaving it
/// out means, so the message offers that way out too.
absl::Status checkDuration(const std::string& field, const google::protobuf::Duration& d,
                           std::chrono::milliseconds min, std::chrono::milliseconds max,
                           std::string_view unset) {
  if (!wellFormed(d)) {
    return absl::InvalidArgumentError(field + " " + shownDuration(d) +
                                      ": not a valid duration (seconds and nanos disagree)");
  }
  if (compare(d, min) < 0 || compare(d, max) > 0) {
    return absl::InvalidArgumentError(field + " " + shownDuration(d) + ": must be at least " +
                                      shown(min) + " and at most " + shown(max) + " (unset means " +
                                      std::string(unset) + ")");
  }
  return absl::OkStatus();
}

/// How a duration must relate to another one.
enum class Order { kAtMost, kBelow, kAtLeast, kAbove };

/// `field` = `d` must stand in `order` to `other_field` = `other`; `other_default` says the
/// other one is not set and its default applies, and the message says so.
absl::Status checkOrder(const std::string& field, const google::protobuf::Duration& d, Order order,
                        const std::string& other_field, const google::protobuf::Duration& other,
                        bool other_default) {
  int c = compare(d, other);
  const char* rule = "";
  bool ok = true;
  switch (order) {
    case Order::kAtMost:
      ok = c <= 0;
      rule = "must not be longer than ";
      break;
    case Order::kBelow:
      ok = c < 0;
      rule = "must be shorter than ";
      break;
    case Order::kAtLeast:
      ok = c >= 0;
      rule = "must not be shorter than ";
      break;
    case Order::kAbove:
      ok = c > 0;
      rule = "must be longer than ";
      break;
  }
  if (ok) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(field + " " + shownDuration(d) + ": " + rule + other_field +
                                    " (" + shownDuration(other) +
                                    (other_default ? ", the default" : "") + ")");
}

/// The set duration, or `fallback` (flagged as a default) when unset.
std::pair<google::protobuf::Duration, bool> effective(bool has, const google::protobuf::Duration& d,
                                                      std::chrono::milliseconds fallback) {
  if (has) {
    return {d, false};
  }
  return {protoDuration(fallback), true};
}

/// connect, first byte, stream first byte and idle timeouts of an upstream. Call after
/// normalizeTimeout: the total is always set then; `total_default` says it was not given.
absl::Status checkUpstreamTimeouts(const fwd::v1::Upstream& u, bool total_default) {
  struct Timeout {
    bool has;
    const google::protobuf::Duration& value;
    const char* field;
    const char* unset;
  };
  const Timeout timeouts[] = {
      {u.has_connect_timeout(), u.connect_timeout(), "upstream.connect_timeout", "10s"},
      {u.has_first_byte_timeout(), u.first_byte_timeout(), "upstream.first_byte_timeout",
       "upstream.timeout"},
      {u.has_stream_first_byte_timeout(), u.stream_first_byte_timeout(),
       "upstream.stream_first_byte_timeout", "upstream.first_byte_timeout"},
      {u.has_idle_timeout(), u.idle_timeout(), "upstream.idle_timeout", "no idle limit"},
  };
  for (const Timeout& t : timeouts) {
    if (!t.has) {
      continue;
    }
    absl::Status s = checkDuration(t.field, t.value, kMinDuration, kMaxTimeout, t.unset);
    if (s.ok()) {
      s = checkOrder(t.field, t.value, Order::kAtMost, "upstream.timeout", u.timeout(),
                     total_default);
    }
    if (!s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status checkOutlierDetection(const fwd::v1::OutlierDetection& od) {
  constexpr char kField[] = "upstream.outlier_detection";
  if (od.consecutive_failures() > kMaxConsecutiveFailures) {
    return absl::InvalidArgumentError(std::string(kField) + ".consecutive_failures " +
                                      std::to_string(od.consecutive_failures()) +
                                      ": must be 0..1000 (0 means 5; to never eject, set "
                                      "disabled)");
  }
  const std::string base_field = std::string(kField) + ".base_ejection_time";
  const std::string max_field = std::string(kField) + ".max_ejection_time";
  absl::Status s;
  if (od.has_base_ejection_time()) {
    s = checkDuration(base_field, od.base_ejection_time(), kMinDuration, kMaxEjectionTime, "30s");
  }
  if (s.ok() && od.has_max_ejection_time()) {
    s = checkDuration(max_field, od.max_ejection_time(), kMinDuration, kMaxEjectionTime, "300s");
  }
  if (!s.ok()) {
    return s;
  }
  auto [base, base_default] = effective(od.has_base_ejection_time(), od.base_ejection_time(),
                                        common::config::defaults::kBaseEjectionTime);
  auto [max, max_default] = effective(od.has_max_ejection_time(), od.max_ejection_time(),
                                      common::config::defaults::kMaxEjectionTime);
  if (base_default) {
    // Only a set max can be shorter than the default base: name the field that was given.
    return checkOrder(max_field, max, Order::kAtLeast, base_field, base, true);
  }
  return checkOrder(base_field, base, Order::kAtMost, max_field, max, max_default);
}

absl::Status checkHealthCheck(const fwd::v1::HealthCheck& hc) {
  constexpr char kField[] = "upstream.health_check";
  const std::string& path = hc.path();
  if (!path.empty()) {
    const std::string field = std::string(kField) + ".path";
    if (path.size() > kMaxHealthCheckPath) {
      return invalid(field, path, "longer than 256 characters");
    }
    if (path.front() != '/') {
      return invalid(field, path, "must start with '/', e.g. /models (it is appended to base_url)");
    }
    bool printable = std::all_of(path.begin(), path.end(), [](char c) {
      auto b = static_cast<unsigned char>(c);
      return b > 0x20 && b < 0x7f;
    });
    if (!printable) {
      return invalid(field, path,
                     "must be printable ASCII without spaces or control characters (percent-"
                     "encode anything else)");
    }
  }
  const std::string interval_field = std::string(kField) + ".interval";
  const std::string timeout_field = std::string(kField) + ".timeout";
  absl::Status s;
  if (hc.has_interval()) {
    s = checkDuration(interval_field, hc.interval(), kMinHealthInterval, kMaxTimeout, "10s");
  }
  if (s.ok() && hc.has_timeout()) {
    s = checkDuration(timeout_field, hc.timeout(), kMinDuration, kMaxTimeout, "5s");
  }
  if (!s.ok()) {
    return s;
  }
  for (auto [value, name, default_value] :
       {std::tuple{hc.unhealthy_threshold(), "unhealthy_threshold", "3"},
        std::tuple{hc.healthy_threshold(), "healthy_threshold", "2"}}) {
    if (value > kMaxHealthThreshold) {
      return absl::InvalidArgumentError(std::string(kField) + "." + name + " " +
                                        std::to_string(value) + ": must be 0..100 (0 means " +
                                        default_value + ")");
    }
  }
  auto [interval, interval_default] =
      effective(hc.has_interval(), hc.interval(), common::config::defaults::kHealthCheckInterval);
  auto [timeout, timeout_default] =
      effective(hc.has_timeout(), hc.timeout(), common::config::defaults::kHealthCheckTimeout);
  if (timeout_default) {
    // Only a set interval can be too short for the default timeout: name the field given.
    return checkOrder(interval_field, interval, Order::kAbove, timeout_field, timeout, true);
  }
  return checkOrder(timeout_field, timeout, Order::kBelow, interval_field, interval,
                    interval_default);
}

absl::Status checkBackoff(const fwd::v1::RetryPolicy& retry) {
  const std::string base_field = "route.retry.backoff_base";
  const std::string max_field = "route.retry.backoff_max";
  absl::Status s;
  if (retry.has_backoff_base()) {
    s = checkDuration(base_field, retry.backoff_base(), kMinDuration, kMaxTimeout, "25ms");
  }
  if (s.ok() && retry.has_backoff_max()) {
    s = checkDuration(max_field, retry.backoff_max(), kMinDuration, kMaxTimeout, "1s");
  }
  if (!s.ok()) {
    return s;
  }
  auto [base, base_default] = effective(retry.has_backoff_base(), retry.backoff_base(),
                                        common::config::defaults::kRetryBackoffBase);
  auto [max, max_default] = effective(retry.has_backoff_max(), retry.backoff_max(),
                                      common::config::defaults::kRetryBackoffMax);
  if (base_default) {
    return checkOrder(max_field, max, Order::kAtLeast, base_field, base, true);
  }
  return checkOrder(base_field, base, Order::kAtMost, max_field, max, max_default);
}

absl::Status checkRouteTimeouts(const fwd::v1::Timeouts& t) {
  struct Timeout {
    bool has;
    const google::protobuf::Duration& value;
    const char* field;
  };
  const Timeout timeouts[] = {
      {t.has_total(), t.total(), "route.timeouts.total"},
      {t.has_connect(), t.connect(), "route.timeouts.connect"},
      {t.has_first_byte(), t.first_byte(), "route.timeouts.first_byte"},
      {t.has_stream_first_byte(), t.stream_first_byte(), "route.timeouts.stream_first_byte"},
      {t.has_idle(), t.idle(), "route.timeouts.idle"},
  };
  for (const Timeout& o : timeouts) {
    if (!o.has) {
      continue;
    }
    absl::Status s = checkDuration(o.field, o.value, kMinDuration, kMaxTimeout,
                                   "the upstream's, for each upstream of the group");
    if (s.ok() && t.has_total() && &o.value != &t.total()) {
      s = checkOrder(o.field, o.value, Order::kAtMost, "route.timeouts.total", t.total(), false);
    }
    if (!s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status checkEdits(std::string_view object, const fwd::v1::Edits& e) {
  std::string field = std::string(object) + ".edits.";
  if (e.has_max_tokens_cap() && (e.max_tokens_cap() == 0 || e.max_tokens_cap() > kMaxTokensCap)) {
    return absl::InvalidArgumentError(
        field + "max_tokens_cap " + std::to_string(e.max_tokens_cap()) + ": must be 1.." +
        std::to_string(kMaxTokensCap) + " (the most tokens an answer may ask for)");
  }
  if (e.stop_size() > static_cast<int>(kMaxStopWords)) {
    return absl::InvalidArgumentError(field + "stop: at most " + std::to_string(kMaxStopWords) +
                                      " words (OpenAI refuses more stop sequences), got " +
                                      std::to_string(e.stop_size()));
  }
  for (int i = 0; i < e.stop_size(); ++i) {
    const std::string& word = e.stop(i);
    if (word.empty() || word.size() > kMaxStopWordBytes) {
      return invalid(field + "stop", word,
                     "a stop word must be 1.." + std::to_string(kMaxStopWordBytes) + " bytes");
    }
    if (std::find(e.stop().begin(), e.stop().begin() + i, word) != e.stop().begin() + i) {
      return invalid(field + "stop", word, "given twice");
    }
  }
  if (e.has_answer_prefix() && e.answer_prefix().size() > kMaxAnswerPrefixBytes) {
    return absl::InvalidArgumentError(
        field + "answer_prefix: " + std::to_string(e.answer_prefix().size()) + " bytes, at most " +
        std::to_string(kMaxAnswerPrefixBytes) + " allowed");
  }
  if (e.has_stream_mode() && (e.stream_mode() == fwd::v1::STREAM_MODE_UNSPECIFIED ||
                              !fwd::v1::StreamMode_IsValid(e.stream_mode()))) {
    return absl::InvalidArgumentError(field + "stream_mode " + std::to_string(e.stream_mode()) +
                                      ": must be passthrough, stream or non-stream");
  }
  return absl::OkStatus();
}

constexpr size_t kMaxAzureDeployments = 256;
constexpr size_t kMaxAzureModelBytes = 256;

// Azure's deployment names and api-version values: 1..`max` of [A-Za-z0-9._-].
bool isAzureToken(std::string_view s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Whether `base_url` (normalized) is Azure's v1 API: its path ends in "/openai/v1".
bool isAzureV1(std::string_view base_url) {
  while (base_url.ends_with('/')) {
    base_url.remove_suffix(1);
  }
  return base_url.ends_with("/openai/v1");
}

constexpr size_t kMaxPromptTemplates = 256;

absl::Status checkReplicate(const fwd::v1::ReplicateOptions& replicate) {
  if (replicate.prompt_templates().size() > kMaxPromptTemplates) {
    return absl::InvalidArgumentError("upstream.replicate.prompt_templates: at most " +
                                      std::to_string(kMaxPromptTemplates) + " entries, got " +
                                      std::to_string(replicate.prompt_templates().size()));
  }
  for (const auto& [model, name] : replicate.prompt_templates()) {
    bool control = std::any_of(model.begin(), model.end(),
                               [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (model.empty() || model.size() > kMaxAzureModelBytes || control) {
      return invalid("upstream.replicate.prompt_templates", model,
                     "a model must be 1..256 bytes without control characters (\"*\": every "
                     "other model)");
    }
    if (!common::config::isPromptTemplate(name)) {
      return invalid("upstream.replicate.prompt_templates", model + "=" + name,
                     "the template must be mistral, llama2, llama3, chatml or plain");
    }
  }
  return absl::OkStatus();
}

absl::Status checkProvider(const fwd::v1::Upstream& u) {
  if (!fwd::v1::Provider_IsValid(u.provider())) {
    return absl::InvalidArgumentError("upstream.provider " + std::to_string(u.provider()) +
                                      ": must be openai, azure, dashscope or replicate");
  }
  if (u.provider() != fwd::v1::PROVIDER_REPLICATE && u.has_replicate()) {
    return absl::InvalidArgumentError(
        "upstream.replicate: Replicate options need provider replicate (fwdctl --provider "
        "replicate)");
  }
  if (u.provider() == fwd::v1::PROVIDER_REPLICATE) {
    if (u.has_azure()) {
      return absl::InvalidArgumentError(
          "upstream.azure: Azure options need provider azure (fwdctl --provider azure)");
    }
    return checkReplicate(u.replicate());
  }
  if (u.provider() != fwd::v1::PROVIDER_AZURE) {
    if (u.has_azure()) {
      return absl::InvalidArgumentError(
          "upstream.azure: Azure options need provider azure (fwdctl --provider azure)");
    }
    return absl::OkStatus();
  }
  const fwd::v1::AzureOptions& azure = u.azure();
  const bool v1 = isAzureV1(u.base_url());
  if (!azure.api_version().empty() && !isAzureToken(azure.api_version(), 32)) {
    return invalid("upstream.azure.api_version", azure.api_version(),
                   "must be 1..32 letters, digits, '.', '_' or '-', e.g. 2024-10-21");
  }
  if (!v1 && azure.api_version().empty()) {
    return absl::InvalidArgumentError(
        "upstream.azure.api_version is required by Azure's classic API (a base URL not ending in "
        "/openai/v1), e.g. --azure-api-version 2024-10-21");
  }
  if (v1 && !azure.deployments().empty()) {
    return absl::InvalidArgumentError(
        "upstream.azure.deployments: Azure's v1 API (a base URL ending in /openai/v1) takes the "
        "deployment name as the model; rename models with a route's --rewrite-model, or use the "
        "classic base URL https://RESOURCE.openai.azure.com");
  }
  if (azure.deployments().size() > kMaxAzureDeployments) {
    return absl::InvalidArgumentError("upstream.azure.deployments: at most " +
                                      std::to_string(kMaxAzureDeployments) + " entries, got " +
                                      std::to_string(azure.deployments().size()));
  }
  for (const auto& [model, deployment] : azure.deployments()) {
    bool control = std::any_of(model.begin(), model.end(),
                               [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (model.empty() || model.size() > kMaxAzureModelBytes || control) {
      return invalid("upstream.azure.deployments", model,
                     "a model must be 1..256 bytes without control characters");
    }
    if (!isAzureToken(deployment, 64)) {
      return invalid("upstream.azure.deployments", model + "=" + deployment,
                     "a deployment name must be 1..64 letters, digits, '.', '_' or '-'");
    }
  }
  return absl::OkStatus();
}

bool isOneOf(std::string_view path, std::initializer_list<std::string_view> paths) {
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

/// "health_check.interval" -> "interval".
std::string leaf(std::string_view path) { return std::string(path.substr(path.rfind('.') + 1)); }

/// Applies the mask path "edits" or "edits.<field>" from `patch` to `target`, presence
/// included: a field unset in the patch is unset in the target.
void applyEditsPath(const fwd::v1::Edits& patch, bool patch_has, std::string_view path,
                    fwd::v1::Edits& target, bool& target_has) {
  if (path == "edits") {
    target = patch;
    target_has = patch_has;
    return;
  }
  target_has = true;
  if (path == "edits.stop") {
    *target.mutable_stop() = patch.stop();
  } else if (path == "edits.max_tokens_cap") {
    patch.has_max_tokens_cap() ? target.set_max_tokens_cap(patch.max_tokens_cap())
                               : target.clear_max_tokens_cap();
  } else if (path == "edits.drop_empty_messages") {
    patch.has_drop_empty_messages() ? target.set_drop_empty_messages(patch.drop_empty_messages())
                                    : target.clear_drop_empty_messages();
  } else if (path == "edits.strip_think") {
    patch.has_strip_think() ? target.set_strip_think(patch.strip_think())
                            : target.clear_strip_think();
  } else if (path == "edits.answer_prefix") {
    patch.has_answer_prefix() ? target.set_answer_prefix(patch.answer_prefix())
                              : target.clear_answer_prefix();
  } else if (path == "edits.stream_mode") {
    patch.has_stream_mode() ? target.set_stream_mode(patch.stream_mode())
                            : target.clear_stream_mode();
  }
}

bool isEditsPath(std::string_view path) {
  return isOneOf(path, {"edits", "edits.max_tokens_cap", "edits.stop", "edits.drop_empty_messages",
                        "edits.strip_think", "edits.answer_prefix", "edits.stream_mode"});
}

/// Copies the singular message field `name` (a Duration or a sub-message) from `from` to `to`
/// with its presence: unset in `from` unsets it in `to`, so its default applies again.
void copyMessageField(const google::protobuf::Message& from, google::protobuf::Message& to,
                      const std::string& name) {
  const google::protobuf::FieldDescriptor* field = to.GetDescriptor()->FindFieldByName(name);
  // Callers pass names of this build's own message fields; anything else is a bug here.
  assert(field != nullptr && !field->is_repeated() &&
         field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE);
  const google::protobuf::Reflection* from_reflection = from.GetReflection();
  const google::protobuf::Reflection* to_reflection = to.GetReflection();
  if (from_reflection->HasField(from, field)) {
    to_reflection->MutableMessage(&to, field)->CopyFrom(from_reflection->GetMessage(from, field));
  } else {
    to_reflection->ClearField(&to, field);
  }
}

}  // namespace

bool isEnvName(std::string_view s) {
  if (s.empty() || s.size() > 256) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

absl::Status checkName(std::string_view field, std::string_view value) {
  bool ok = !value.empty() && value.size() <= 63;
  for (size_t i = 0; ok && i < value.size(); ++i) {
    ok = isNameChar(value[i], i == 0);
  }
  if (!ok) {
    return invalid(field, value,
                   "must be 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a "
                   "letter or digit");
  }
  return absl::OkStatus();
}

absl::Status checkNoUnknownFields(const google::protobuf::Message& message) {
  std::vector<std::string> numbers;
  collectUnknown(message, "", numbers);
  if (numbers.empty()) {
    return absl::OkStatus();
  }
  std::string list;
  for (const std::string& n : numbers) {
    list += (list.empty() ? "" : ", ") + n;
  }
  return absl::InvalidArgumentError(
      "request has fields this control plane does not know (field numbers " + list +
      "): upgrade fwd-controlplane");
}

void clearOutputOnly(fwd::v1::Upstream& upstream) {
  upstream.clear_id();
  upstream.clear_create_time();
  upstream.clear_update_time();
  upstream.clear_api_key_hint();
}

absl::Status normalizeUpstream(fwd::v1::Upstream& u) {
  absl::Status s = checkName("upstream.name", u.name());
  if (s.ok()) {
    s = normalizeBaseUrl(*u.mutable_base_url());
  }
  if (s.ok()) {
    s = checkCredential(u);
  }
  if (s.ok()) {
    s = checkModels("upstream.models", u.models());
  }
  if (s.ok()) {
    s = checkModels("upstream.deny_models", u.deny_models());
  }
  if (!s.ok()) {
    return s;
  }
  if (u.priority() < -kMaxPriority || u.priority() > kMaxPriority) {
    return absl::InvalidArgumentError("upstream.priority " + std::to_string(u.priority()) +
                                      ": must be -1000..1000 (lower is tried first)");
  }
  if (u.weight() > kMaxWeight) {
    return absl::InvalidArgumentError("upstream.weight " + std::to_string(u.weight()) +
                                      ": must be 0..1000 (0 means 1)");
  }
  if (u.weight() == 0) {
    u.set_weight(1);
  }
  const bool timeout_default = !u.has_timeout();
  s = normalizeTimeout(u);
  if (s.ok()) {
    s = checkUpstreamTimeouts(u, timeout_default);
  }
  if (s.ok() && u.has_outlier_detection()) {
    s = checkOutlierDetection(u.outlier_detection());
  }
  if (s.ok() && u.has_health_check()) {
    s = checkHealthCheck(u.health_check());
  }
  if (s.ok() && u.has_edits()) {
    s = checkEdits("upstream", u.edits());
  }
  if (s.ok()) {
    s = checkProvider(u);
  }
  return s;
}

absl::Status checkUpstreamMask(const google::protobuf::FieldMask& mask) {
  if (mask.paths_size() == 0) {
    return absl::InvalidArgumentError(std::string("nothing to update: update_mask names no "
                                                  "field (use ") +
                                      kUpdatablePaths + ")");
  }
  fwd::v1::Upstream scratch;
  return applyUpstreamMask(fwd::v1::Upstream(), mask, scratch);
}

absl::Status applyUpstreamMask(const fwd::v1::Upstream& patch,
                               const google::protobuf::FieldMask& mask, fwd::v1::Upstream& target) {
  for (const std::string& path : mask.paths()) {
    if (path == "base_url") {
      target.set_base_url(patch.base_url());
    } else if (path == "api_key" || path == "api_key_env") {
      target.clear_credential();
      if (patch.credential_case() == fwd::v1::Upstream::kApiKey) {
        target.set_api_key(patch.api_key());
      } else if (patch.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
        target.set_api_key_env(patch.api_key_env());
      }
    } else if (path == "models") {
      *target.mutable_models() = patch.models();
    } else if (path == "priority") {
      target.set_priority(patch.priority());
    } else if (path == "weight") {
      target.set_weight(patch.weight());
    } else if (path == "timeout") {
      if (patch.has_timeout()) {
        *target.mutable_timeout() = patch.timeout();
      } else {
        target.clear_timeout();
      }
    } else if (path == "insecure_skip_verify") {
      target.set_insecure_skip_verify(patch.insecure_skip_verify());
    } else if (path == "deny_models") {
      *target.mutable_deny_models() = patch.deny_models();
    } else if (isOneOf(path, {"connect_timeout", "first_byte_timeout", "stream_first_byte_timeout",
                              "idle_timeout", "outlier_detection", "health_check"})) {
      copyMessageField(patch, target, path);
    } else if (path == "outlier_detection.disabled") {
      target.mutable_outlier_detection()->set_disabled(patch.outlier_detection().disabled());
    } else if (path == "outlier_detection.consecutive_failures") {
      target.mutable_outlier_detection()->set_consecutive_failures(
          patch.outlier_detection().consecutive_failures());
    } else if (isOneOf(path, {"outlier_detection.base_ejection_time",
                              "outlier_detection.max_ejection_time"})) {
      copyMessageField(patch.outlier_detection(), *target.mutable_outlier_detection(), leaf(path));
    } else if (path == "health_check.path") {
      target.mutable_health_check()->set_path(patch.health_check().path());
    } else if (isOneOf(path, {"health_check.interval", "health_check.timeout"})) {
      copyMessageField(patch.health_check(), *target.mutable_health_check(), leaf(path));
    } else if (path == "health_check.unhealthy_threshold") {
      target.mutable_health_check()->set_unhealthy_threshold(
          patch.health_check().unhealthy_threshold());
    } else if (path == "health_check.healthy_threshold") {
      target.mutable_health_check()->set_healthy_threshold(
          patch.health_check().healthy_threshold());
    } else if (isEditsPath(path)) {
      bool has = target.has_edits();
      applyEditsPath(patch.edits(), patch.has_edits(), path, *target.mutable_edits(), has);
      if (!has) {
        target.clear_edits();
      }
    } else if (path == "provider") {
      target.set_provider(patch.provider());
    } else if (path == "azure") {
      copyMessageField(patch, target, path);
    } else if (path == "azure.deployments") {
      *target.mutable_azure()->mutable_deployments() = patch.azure().deployments();
    } else if (path == "azure.api_version") {
      target.mutable_azure()->set_api_version(patch.azure().api_version());
    } else if (path == "replicate") {
      copyMessageField(patch, target, path);
    } else if (path == "replicate.prompt_templates") {
      *target.mutable_replicate()->mutable_prompt_templates() =
          patch.replicate().prompt_templates();
    } else {
      return invalid("update_mask path", path,
                     std::string("not an updatable upstream field (use ") + kUpdatablePaths + ")");
    }
  }
  return absl::OkStatus();
}

void clearOutputOnly(fwd::v1::Route& route) {
  route.clear_id();
  route.clear_create_time();
  route.clear_update_time();
}

absl::Status normalizeRoute(fwd::v1::Route& r) {
  absl::Status s = checkName("route.name", r.name());
  if (s.ok()) {
    s = checkPathPrefix(r.path_prefix());
  }
  if (s.ok()) {
    s = checkModelMatches(r);
  }
  if (s.ok() && r.path_prefix().empty() && r.models_size() == 0) {
    s = absl::InvalidArgumentError("route \"" + r.name() +
                                   "\" needs a path_prefix or at least one model match: without "
                                   "either it would capture every request");
  }
  if (s.ok()) {
    s = checkRouteUpstreamNames(r);
  }
  if (s.ok()) {
    int strategy = r.strategy();
    if (!fwd::v1::BalanceStrategy_IsValid(strategy)) {
      s = absl::InvalidArgumentError("route.strategy " + std::to_string(strategy) +
                                     ": not a known strategy (use ORDERED, WEIGHTED, LEAST_BUSY "
                                     "or LATENCY)");
    }
  }
  if (s.ok()) {
    s = checkFallbacks(r);
  }
  if (s.ok() && !r.rewrite_model().empty() && !isModelName(r.rewrite_model())) {
    s = invalid("route.rewrite_model", r.rewrite_model(), kModelNameRule);
  }
  if (s.ok()) {
    s = checkRetry(r.retry());
  }
  if (s.ok() && r.has_retry()) {
    s = checkBackoff(r.retry());
  }
  if (s.ok() && r.has_timeouts()) {
    s = checkRouteTimeouts(r.timeouts());
  }
  if (s.ok() && r.has_edits()) {
    s = checkEdits("route", r.edits());
  }
  if (s.ok()) {
    s = checkLimits("route.limits", r.limits());
  }
  if (s.ok() && (r.limits().budget_usd_size() > 0 || r.limits().budget_tokens_size() > 0 ||
                 r.limits().has_stream_pace())) {
    s = absl::InvalidArgumentError(
        "route.limits: budgets and stream pacing are per key (fwdctl key update --budget-usd, "
        "--budget-tokens, --stream-pace), not per route");
  }
  if (s.ok() && r.limits().redis_down() != fwd::v1::REDIS_DOWN_UNSPECIFIED) {
    s = absl::InvalidArgumentError(
        "route.limits.redis_down: set per key or with fwdctl settings set redis_down");
  }
  if (!s.ok()) {
    return s;
  }
  if (r.priority() < -kMaxPriority || r.priority() > kMaxPriority) {
    return absl::InvalidArgumentError("route.priority " + std::to_string(r.priority()) +
                                      ": must be -1000..1000 (lower is matched first)");
  }
  if (r.strategy() == fwd::v1::BALANCE_STRATEGY_UNSPECIFIED) {
    r.set_strategy(fwd::v1::BALANCE_STRATEGY_ORDERED);
  }
  return absl::OkStatus();
}

absl::Status checkRouteMask(const google::protobuf::FieldMask& mask) {
  if (mask.paths_size() == 0) {
    return absl::InvalidArgumentError(std::string("nothing to update: update_mask names no "
                                                  "field (use ") +
                                      kUpdatableRoutePaths + ")");
  }
  fwd::v1::Route scratch;
  scratch.mutable_retry();  // paths only: whether the stored route has a policy is checked later
  return applyRouteMask(fwd::v1::Route(), mask, scratch);
}

absl::Status applyRouteMask(const fwd::v1::Route& patch, const google::protobuf::FieldMask& mask,
                            fwd::v1::Route& target) {
  // Patching part of a retry policy the route does not have would create one with 0 retries,
  // which turns failover off: ask for the retry count too.
  bool had_retry = target.has_retry();
  bool sets_policy = false;
  bool sets_part = false;
  for (const std::string& path : mask.paths()) {
    sets_policy = sets_policy || path == "retry" || path == "retry.retries";
    sets_part =
        sets_part || isOneOf(path, {"retry.retry_on", "retry.backoff_base", "retry.backoff_max"});
  }
  if (!had_retry && sets_part && !sets_policy) {
    return absl::FailedPreconditionError(
        "route " + target.name() +
        " has no retry policy: set its retries too (fwdctl route update ... --retries N), or a "
        "policy with 0 retries would turn failover off");
  }
  for (const std::string& path : mask.paths()) {
    if (path == "path_prefix") {
      target.set_path_prefix(patch.path_prefix());
    } else if (path == "models") {
      *target.mutable_models() = patch.models();
    } else if (path == "upstreams") {
      *target.mutable_upstreams() = patch.upstreams();
    } else if (path == "strategy") {
      target.set_strategy(patch.strategy());
    } else if (path == "fallback_models") {
      *target.mutable_fallback_models() = patch.fallback_models();
    } else if (path == "rewrite_model") {
      target.set_rewrite_model(patch.rewrite_model());
    } else if (path == "retry") {
      if (patch.has_retry()) {
        *target.mutable_retry() = patch.retry();
      } else {
        target.clear_retry();
      }
    } else if (path == "retry.retries") {
      target.mutable_retry()->set_retries(patch.retry().retries());
    } else if (path == "retry.retry_on") {
      *target.mutable_retry()->mutable_retry_on() = patch.retry().retry_on();
    } else if (isOneOf(path, {"retry.backoff_base", "retry.backoff_max"})) {
      copyMessageField(patch.retry(), *target.mutable_retry(), leaf(path));
    } else if (path == "priority") {
      target.set_priority(patch.priority());
    } else if (path == "timeouts") {
      copyMessageField(patch, target, path);
    } else if (path == "limits_shared") {
      target.set_limits_shared(patch.limits_shared());
    } else if (path == "log_bodies") {
      target.set_log_bodies(patch.log_bodies());
    } else if (path == "limits" || path.starts_with("limits.")) {
      if (!applyLimitsPath(patch.limits(), path, *target.mutable_limits())) {
        return invalid(
            "update_mask path", path,
            std::string("not an updatable route field (use ") + kUpdatableRoutePaths + ")");
      }
    } else if (isOneOf(path, {"timeouts.connect", "timeouts.first_byte",
                              "timeouts.stream_first_byte", "timeouts.idle", "timeouts.total"})) {
      copyMessageField(patch.timeouts(), *target.mutable_timeouts(), leaf(path));
    } else if (isEditsPath(path)) {
      bool has = target.has_edits();
      applyEditsPath(patch.edits(), patch.has_edits(), path, *target.mutable_edits(), has);
      if (!has) {
        target.clear_edits();
      }
    } else {
      return invalid(
          "update_mask path", path,
          std::string("not an updatable route field (use ") + kUpdatableRoutePaths + ")");
    }
  }
  return absl::OkStatus();
}

absl::Status checkLimits(std::string_view field, const fwd::v1::Limits& limits) {
  std::string prefix = std::string(field) + ".";
  if (limits.rate_size() > kMaxRateWindows) {
    return absl::InvalidArgumentError(prefix + "rate: at most " + std::to_string(kMaxRateWindows) +
                                      " windows, got " + std::to_string(limits.rate_size()));
  }
  for (int i = 0; i < limits.rate_size(); ++i) {
    const fwd::v1::RateWindow& w = limits.rate(i);
    std::string at = prefix + "rate[" + std::to_string(i) + "]";
    if (w.count() == 0 || w.count() > kMaxRequestRate) {
      return absl::InvalidArgumentError(at + ": count " + std::to_string(w.count()) +
                                        " must be 1.." + std::to_string(kMaxRequestRate) +
                                        " requests");
    }
    if (w.seconds() == 0 || w.seconds() > kMaxRateWindowSeconds) {
      return absl::InvalidArgumentError(at + ": window of " + std::to_string(w.seconds()) +
                                        " seconds must be 1 second..366 days");
    }
    for (int j = 0; j < i; ++j) {
      if (limits.rate(j).seconds() == w.seconds()) {
        return absl::InvalidArgumentError(at + ": a window of " + std::to_string(w.seconds()) +
                                          " seconds is given twice");
      }
    }
  }
  if (limits.tpm() > kMaxTokenRate) {
    return absl::InvalidArgumentError(prefix + "tpm " + std::to_string(limits.tpm()) +
                                      ": at most " + std::to_string(kMaxTokenRate) +
                                      " tokens per minute");
  }
  int token_windows = limits.tokens_size() + (limits.tpm() > 0 ? 1 : 0);
  if (token_windows > kMaxRateWindows) {
    return absl::InvalidArgumentError(prefix + "tokens: at most " +
                                      std::to_string(kMaxRateWindows) + " windows with tpm, got " +
                                      std::to_string(token_windows));
  }
  for (int i = 0; i < limits.tokens_size(); ++i) {
    const fwd::v1::RateWindow& w = limits.tokens(i);
    std::string at = prefix + "tokens[" + std::to_string(i) + "]";
    if (w.count() == 0 || w.count() > kMaxTokenRate) {
      return absl::InvalidArgumentError(at + ": count " + std::to_string(w.count()) +
                                        " must be 1.." + std::to_string(kMaxTokenRate) + " tokens");
    }
    if (w.seconds() == 0 || w.seconds() > kMaxRateWindowSeconds) {
      return absl::InvalidArgumentError(at + ": window of " + std::to_string(w.seconds()) +
                                        " seconds must be 1 second..366 days");
    }
    if (w.seconds() == 60 && limits.tpm() > 0) {
      return absl::InvalidArgumentError(at +
                                        ": a one-minute window and tpm both limit tokens "
                                        "per minute; keep one");
    }
    for (int j = 0; j < i; ++j) {
      if (limits.tokens(j).seconds() == w.seconds()) {
        return absl::InvalidArgumentError(at + ": a window of " + std::to_string(w.seconds()) +
                                          " seconds is given twice");
      }
    }
  }
  if (!fwd::v1::RateStrategy_IsValid(limits.rate_strategy())) {
    return absl::InvalidArgumentError(prefix + "rate_strategy: unknown value " +
                                      std::to_string(limits.rate_strategy()));
  }
  if (!fwd::v1::RedisDown_IsValid(limits.redis_down())) {
    return absl::InvalidArgumentError(prefix + "redis_down: unknown value " +
                                      std::to_string(limits.redis_down()));
  }
  if (limits.max_parallel() > kMaxParallel) {
    return absl::InvalidArgumentError(prefix + "max_parallel " +
                                      std::to_string(limits.max_parallel()) + ": at most " +
                                      std::to_string(kMaxParallel));
  }
  auto checkBudgets = [&](const char* name,
                          const google::protobuf::RepeatedPtrField<fwd::v1::Budget>& budgets,
                          std::uint64_t max) {
    for (int i = 0; i < budgets.size(); ++i) {
      const fwd::v1::Budget& b = budgets[i];
      std::string at = prefix + name + "[" + std::to_string(i) + "]";
      if (b.period() == fwd::v1::BUDGET_PERIOD_UNSPECIFIED ||
          !fwd::v1::BudgetPeriod_IsValid(b.period())) {
        return absl::InvalidArgumentError(at + ": period must be day, month or total");
      }
      if (b.amount() == 0 || b.amount() > max) {
        return absl::InvalidArgumentError(at + ": amount " + std::to_string(b.amount()) +
                                          " must be 1.." + std::to_string(max));
      }
      for (int j = 0; j < i; ++j) {
        if (budgets[j].period() == b.period()) {
          return absl::InvalidArgumentError(at + ": a second budget for the same period");
        }
      }
    }
    return absl::OkStatus();
  };
  if (limits.has_stream_pace()) {
    const fwd::v1::RateWindow& p = limits.stream_pace();
    if (p.count() == 0 || p.seconds() == 0 || p.seconds() > 3600 ||
        p.count() > 100'000ull * p.seconds()) {
      return absl::InvalidArgumentError(
          prefix + "stream_pace: " + std::to_string(p.count()) + " per " +
          std::to_string(p.seconds()) +
          " seconds must be at least 1 token per at most an hour and at most 100000 per second");
    }
  }
  if (absl::Status s =
          checkBudgets("budget_usd", limits.budget_usd(), common::config::kMaxBudgetMicros);
      !s.ok()) {
    return s;
  }
  return checkBudgets("budget_tokens", limits.budget_tokens(), common::config::kMaxBudgetTokens);
}

bool applyLimitsPath(const fwd::v1::Limits& patch, std::string_view path, fwd::v1::Limits& target) {
  if (path == "limits") {
    target = patch;
  } else if (path == "limits.rate") {
    *target.mutable_rate() = patch.rate();
  } else if (path == "limits.rate_strategy") {
    target.set_rate_strategy(patch.rate_strategy());
  } else if (path == "limits.max_parallel") {
    target.set_max_parallel(patch.max_parallel());
  } else if (path == "limits.tpm") {
    target.set_tpm(patch.tpm());
  } else if (path == "limits.tokens") {
    *target.mutable_tokens() = patch.tokens();
  } else if (path == "limits.redis_down") {
    target.set_redis_down(patch.redis_down());
  } else if (path == "limits.budget_usd") {
    *target.mutable_budget_usd() = patch.budget_usd();
  } else if (path == "limits.budget_tokens") {
    *target.mutable_budget_tokens() = patch.budget_tokens();
  } else if (path == "limits.stream_pace") {
    if (patch.has_stream_pace()) {
      *target.mutable_stream_pace() = patch.stream_pace();
    } else {
      target.clear_stream_pace();
    }
  } else {
    return false;
  }
  return true;
}

absl::Status normalizePrice(fwd::v1::Price& price) {
  if (!common::match::isValidGlob(price.model())) {
    return invalid("price.model", price.model(),
                   "not a valid model name or pattern: use 1 to 256 printable ASCII characters "
                   "without spaces, '*' matches any run of characters");
  }
  auto check = [](const char* field, std::uint64_t micros) {
    if (micros > kMaxPriceMicros) {
      return absl::InvalidArgumentError(std::string("price.") + field + " " +
                                        std::to_string(micros) +
                                        ": at most 1000000000000 (US$1,000,000 per 1M tokens)");
    }
    return absl::OkStatus();
  };
  absl::Status s = check("input_usd_micros", price.input_usd_micros());
  if (s.ok()) {
    s = check("output_usd_micros", price.output_usd_micros());
  }
  if (s.ok() && price.has_cached_input_usd_micros()) {
    s = check("cached_input_usd_micros", price.cached_input_usd_micros());
  }
  price.clear_id();
  price.clear_create_time();
  price.clear_update_time();
  return s;
}

absl::Status normalizeCreateKey(fwd::v1::CreateKeyRequest& request) {
  absl::Status s = checkName("name", request.name());
  if (s.ok()) {
    s = checkModels("models", request.models());
  }
  if (s.ok()) {
    s = checkLimits("limits", request.limits());
  }
  if (s.ok()) {
    s = normalizeCidrs("allow_ips", *request.mutable_allow_ips());
  }
  if (s.ok()) {
    s = normalizeCidrs("deny_ips", *request.mutable_deny_ips());
  }
  return s;
}

absl::Status normalizeCidrs(std::string_view field,
                            google::protobuf::RepeatedPtrField<std::string>& blocks) {
  constexpr int kMaxBlocks = 256;
  if (blocks.size() > kMaxBlocks) {
    return absl::InvalidArgumentError(std::string(field) + ": at most " +
                                      std::to_string(kMaxBlocks) + " blocks");
  }
  for (int i = 0; i < blocks.size(); ++i) {
    absl::StatusOr<common::net::Cidr> cidr = common::net::parseCidr(blocks[i]);
    if (!cidr.ok()) {
      return absl::InvalidArgumentError(std::string(field) + "[" + std::to_string(i) + "] " +
                                        std::string(cidr.status().message()));
    }
    blocks[i] = cidr->toString();
    for (int j = 0; j < i; ++j) {
      if (blocks[j] == blocks[i]) {
        return absl::InvalidArgumentError(std::string(field) + "[" + std::to_string(i) + "] " +
                                          blocks[i] + " is listed twice");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status normalizeIpRule(fwd::v1::IpRule& rule) {
  if (rule.action() == fwd::v1::IpRule::ACTION_UNSPECIFIED ||
      !fwd::v1::IpRule::Action_IsValid(rule.action())) {
    return absl::InvalidArgumentError("rule.action: must be allow, deny or trust");
  }
  absl::StatusOr<common::net::Cidr> cidr = common::net::parseCidr(rule.cidr());
  if (!cidr.ok()) {
    return absl::InvalidArgumentError("rule.cidr " + std::string(cidr.status().message()));
  }
  rule.set_cidr(cidr->toString());
  rule.clear_create_time();
  return absl::OkStatus();
}

namespace {
constexpr char kUpdatableKeyPaths[] =
    "models, errors_as_200, allow_ips, deny_ips, log_bodies, limits, limits.rate, "
    "limits.rate_strategy, "
    "limits.max_parallel, limits.tpm, limits.tokens, limits.redis_down, limits.budget_usd, "
    "limits.budget_tokens, limits.stream_pace";
}  // namespace

absl::Status checkKeyMask(const google::protobuf::FieldMask& mask) {
  if (mask.paths_size() == 0) {
    return absl::InvalidArgumentError(std::string("nothing to update: update_mask names no "
                                                  "field (use ") +
                                      kUpdatableKeyPaths + ")");
  }
  fwd::v1::Key scratch;
  return applyKeyMask(fwd::v1::Key(), mask, scratch);
}

absl::Status applyKeyMask(const fwd::v1::Key& patch, const google::protobuf::FieldMask& mask,
                          fwd::v1::Key& target) {
  for (const std::string& path : mask.paths()) {
    if (path == "models") {
      *target.mutable_models() = patch.models();
    } else if (path == "errors_as_200") {
      target.set_errors_as_200(patch.errors_as_200());
    } else if (path == "allow_ips") {
      *target.mutable_allow_ips() = patch.allow_ips();
    } else if (path == "deny_ips") {
      *target.mutable_deny_ips() = patch.deny_ips();
    } else if (path == "log_bodies") {
      target.set_log_bodies(patch.log_bodies());
    } else if ((path == "limits" || path.starts_with("limits.")) &&
               applyLimitsPath(patch.limits(), path, *target.mutable_limits())) {
      // applied
    } else {
      return absl::InvalidArgumentError("update_mask: \"" + path +
                                        "\" is not an updatable key field (use " +
                                        kUpdatableKeyPaths + ")");
    }
  }
  absl::Status s = checkModels("key.models", target.models());
  if (s.ok()) {
    s = checkLimits("key.limits", target.limits());
  }
  if (s.ok()) {
    s = normalizeCidrs("key.allow_ips", *target.mutable_allow_ips());
  }
  if (s.ok()) {
    s = normalizeCidrs("key.deny_ips", *target.mutable_deny_ips());
  }
  return s;
}

absl::Status checkRotateKey(const fwd::v1::RotateKeyRequest& request) {
  absl::Status s = checkName("name", request.name());
  if (!s.ok()) {
    return s;
  }
  if (!request.has_grace()) {
    return absl::OkStatus();
  }
  const auto& g = request.grace();
  if (g.seconds() < 0 || g.nanos() < 0 || g.nanos() >= 1'000'000'000) {
    return absl::InvalidArgumentError("grace: must be a non-negative duration");
  }
  if (g.seconds() > std::chrono::duration_cast<std::chrono::seconds>(kMaxRotationGrace).count() ||
      (g.seconds() == std::chrono::duration_cast<std::chrono::seconds>(kMaxRotationGrace).count() &&
       g.nanos() > 0)) {
    return absl::InvalidArgumentError("grace: at most 720h (30 days)");
  }
  return absl::OkStatus();
}

}  // namespace fwd::controlplane::validate
