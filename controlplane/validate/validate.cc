#include "controlplane/validate/validate.h"

#include <algorithm>
#include <boost/url.hpp>
#include <cctype>
#include <string>
#include <vector>

#include "common/match/glob.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/unknown_field_set.h"

namespace fwd::controlplane::validate {
namespace {

constexpr size_t kMaxQuotedValue = 120;
constexpr char kUpdatableRoutePaths[] =
    "path_prefix, models, upstreams, strategy, fallback_models, rewrite_model, retry, "
    "retry.retries, retry.retry_on, priority";
constexpr char kUpdatablePaths[] =
    "base_url, api_key, api_key_env, models, priority, weight, timeout, insecure_skip_verify";

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

}  // namespace

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
  return normalizeTimeout(u);
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
  return applyRouteMask(fwd::v1::Route(), mask, scratch);
}

absl::Status applyRouteMask(const fwd::v1::Route& patch, const google::protobuf::FieldMask& mask,
                            fwd::v1::Route& target) {
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
    } else if (path == "priority") {
      target.set_priority(patch.priority());
    } else {
      return invalid(
          "update_mask path", path,
          std::string("not an updatable route field (use ") + kUpdatableRoutePaths + ")");
    }
  }
  return absl::OkStatus();
}

absl::Status checkCreateKey(const fwd::v1::CreateKeyRequest& request) {
  absl::Status s = checkName("name", request.name());
  if (!s.ok()) {
    return s;
  }
  return checkModels("models", request.models());
}

}  // namespace fwd::controlplane::validate
