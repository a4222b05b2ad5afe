#include "dataplane/config/compiled_config.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "common/match/glob.h"
#include "dataplane/access/ip_access.h"
#include "dataplane/compat/errors_as_200.h"
#include "dataplane/provider/provider.h"
#include "dataplane/ratelimit/limit_policy.h"
#include "dataplane/records/record_policy.h"
#include "dataplane/rewrite/answer_prefix.h"
#include "dataplane/rewrite/request_edits.h"
#include "dataplane/stream/stream_policy.h"

namespace fwd::dataplane::config {
namespace {

std::chrono::milliseconds toMillis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1'000'000);
}

// A set duration must be positive; `what` names it in the error.
absl::StatusOr<std::chrono::milliseconds> positive(const google::protobuf::Duration& d,
                                                   const std::string& what) {
  auto ms = toMillis(d);
  if (ms.count() <= 0) {
    return absl::InvalidArgumentError(what + " must be positive");
  }
  return ms;
}

absl::Status upstreamError(const fwd::v1::Upstream& u, const std::string& why) {
  return absl::InvalidArgumentError("upstream \"" + u.name() + "\": " + why);
}

absl::StatusOr<UpstreamTarget> compileUpstream(const fwd::v1::Upstream& u, const EnvLookup& env) {
  UpstreamTarget t;
  t.name = u.name();
  if (t.name.empty()) {
    return absl::InvalidArgumentError("an upstream has no name");
  }
  auto url = boost::urls::parse_absolute_uri(u.base_url());
  if (!url) {
    return upstreamError(u, "base_url \"" + u.base_url() + "\" is not an absolute URL");
  }
  std::string scheme(url->scheme());
  if (scheme != "http" && scheme != "https") {
    return upstreamError(u, "base_url scheme must be http or https, got \"" + scheme + "\"");
  }
  t.tls = scheme == "https";
  t.host = std::string(url->host_address());
  if (t.host.empty()) {
    return upstreamError(u, "base_url has no host");
  }
  std::string default_port = t.tls ? "443" : "80";
  t.port = url->has_port() ? std::string(url->port()) : default_port;
  std::string host_for_header =
      url->host_type() == boost::urls::host_type::ipv6 ? "[" + t.host + "]" : t.host;
  t.host_header = t.port == default_port ? host_for_header : host_for_header + ":" + t.port;
  t.base_path = std::string(url->encoded_path());
  while (!t.base_path.empty() && t.base_path.back() == '/') {
    t.base_path.pop_back();
  }
  const bool azure = u.provider() == fwd::v1::PROVIDER_AZURE;
  const std::string scheme_prefix = azure ? "" : "Bearer ";
  if (azure) {
    t.credential_field = "api-key";
  }
  switch (u.credential_case()) {
    case fwd::v1::Upstream::kApiKey:
      t.credential = scheme_prefix + u.api_key();
      break;
    case fwd::v1::Upstream::kApiKeyEnv: {
      auto value = env(u.api_key_env());
      if (!value || value->empty()) {
        return upstreamError(
            u, "environment variable " + u.api_key_env() + " is not set on this data-plane host");
      }
      t.credential = scheme_prefix + *value;
      break;
    }
    case fwd::v1::Upstream::CREDENTIAL_NOT_SET:
      break;
  }
  for (char c : t.credential) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return upstreamError(u, "credential contains a control character");
    }
  }
  for (const auto& m : u.models()) {
    if (!common::match::isValidGlob(m)) {
      return upstreamError(u, "invalid model pattern \"" + m + "\"");
    }
    t.models.push_back(m);
  }
  t.priority = u.priority();
  t.weight = u.weight() == 0 ? 1 : u.weight();
  for (const auto& m : u.deny_models()) {
    if (!common::match::isValidGlob(m)) {
      return upstreamError(u, "invalid deny_models pattern \"" + m + "\"");
    }
    t.deny_models.push_back(m);
  }
  // Timeouts: unset first-byte limits follow the total (a non-streamed completion sends its
  // head only when the whole answer is ready), the stream one follows the first-byte one.
  struct Field {
    bool set;
    const google::protobuf::Duration& value;
    const char* name;
    std::chrono::milliseconds* out;
  };
  AttemptTimeouts& to = t.timeouts;
  bool first_byte_set = u.has_first_byte_timeout();
  bool stream_set = u.has_stream_first_byte_timeout();
  for (const Field& f :
       {Field{u.has_timeout(), u.timeout(), "timeout", &to.total},
        Field{u.has_connect_timeout(), u.connect_timeout(), "connect_timeout", &to.connect},
        Field{first_byte_set, u.first_byte_timeout(), "first_byte_timeout", &to.first_byte},
        Field{stream_set, u.stream_first_byte_timeout(), "stream_first_byte_timeout",
              &to.stream_first_byte},
        Field{u.has_idle_timeout(), u.idle_timeout(), "idle_timeout", &to.idle}}) {
    if (f.set) {
      auto ms = positive(f.value, f.name);
      if (!ms.ok()) {
        return upstreamError(u, std::string(ms.status().message()));
      }
      *f.out = *ms;
    }
  }
  if (!first_byte_set) {
    to.first_byte = to.total;
  }
  if (!stream_set) {
    to.stream_first_byte = to.first_byte;
  }
  if (u.has_outlier_detection()) {
    const auto& od = u.outlier_detection();
    t.outlier.enabled = !od.disabled();
    if (od.consecutive_failures() != 0) {
      t.outlier.consecutive_failures = od.consecutive_failures();
    }
    if (od.has_base_ejection_time()) {
      auto ms = positive(od.base_ejection_time(), "outlier_detection.base_ejection_time");
      if (!ms.ok()) {
        return upstreamError(u, std::string(ms.status().message()));
      }
      t.outlier.base_ejection = *ms;
    }
    if (od.has_max_ejection_time()) {
      auto ms = positive(od.max_ejection_time(), "outlier_detection.max_ejection_time");
      if (!ms.ok()) {
        return upstreamError(u, std::string(ms.status().message()));
      }
      t.outlier.max_ejection = *ms;
    }
    if (t.outlier.max_ejection < t.outlier.base_ejection) {
      t.outlier.max_ejection = t.outlier.base_ejection;
    }
  }
  if (u.has_health_check()) {
    const auto& hc = u.health_check();
    HealthCheckPolicy& p = t.health_check;
    p.enabled = true;
    if (!hc.path().empty()) {
      if (hc.path().front() != '/') {
        return upstreamError(u, "health_check.path must start with '/'");
      }
      p.path = hc.path();
    }
    for (char c : p.path) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        return upstreamError(u, "health_check.path contains a space or control character");
      }
    }
    if (hc.has_interval()) {
      auto ms = positive(hc.interval(), "health_check.interval");
      if (!ms.ok()) {
        return upstreamError(u, std::string(ms.status().message()));
      }
      p.interval = *ms;
    }
    if (hc.has_timeout()) {
      auto ms = positive(hc.timeout(), "health_check.timeout");
      if (!ms.ok()) {
        return upstreamError(u, std::string(ms.status().message()));
      }
      p.timeout = *ms;
    }
    if (hc.unhealthy_threshold() != 0) {
      p.unhealthy_threshold = hc.unhealthy_threshold();
    }
    if (hc.healthy_threshold() != 0) {
      p.healthy_threshold = hc.healthy_threshold();
    }
  }
  t.insecure_skip_verify = u.insecure_skip_verify();
  t.pool_key = scheme + "://" + t.host_header + (t.insecure_skip_verify ? "#insecure" : "");
  if (azure) {
    provider::AzureOptions options;
    options.api_version = u.azure().api_version();
    options.deployments.assign(u.azure().deployments().begin(), u.azure().deployments().end());
    t.provider = provider::azure(std::move(options), t.base_path);
  } else if (u.provider() == fwd::v1::PROVIDER_DASHSCOPE) {
    t.provider = provider::dashscope();
  } else if (u.provider() == fwd::v1::PROVIDER_REPLICATE) {
    provider::ReplicateOptions options;
    options.prompt_templates.assign(u.replicate().prompt_templates().begin(),
                                    u.replicate().prompt_templates().end());
    t.provider = provider::replicate(std::move(options));
  } else {
    t.provider = provider::openAiCompatible();
  }
  t.edits = resolveEdits(u.edits(), nullptr);
  return t;
}

}  // namespace

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

namespace {

RedisSetting redisSetting(const fwd::v1::Settings& settings, const EnvLookup& env) {
  RedisSetting out;
  std::string url = settings.redis_url();
  if (!settings.redis_url_env().empty()) {
    std::optional<std::string> value = env(settings.redis_url_env());
    if (!value || value->empty()) {
      out.enabled = true;
      out.problem =
          "redis_url_env names " + settings.redis_url_env() + ", which is not set on this host";
      return out;
    }
    url = *value;
  }
  if (url.empty()) {
    return out;
  }
  out.enabled = true;
  absl::StatusOr<common::net::RedisEndpoint> endpoint = common::net::parseRedisUrl(url);
  if (!endpoint.ok()) {
    out.problem = std::string(endpoint.status().message());
    return out;
  }
  out.endpoint = std::move(*endpoint);
  return out;
}

}  // namespace

size_t CompiledConfig::DigestHash::operator()(const common::crypto::Sha256Digest& d) const {
  // The digest is uniformly distributed already.
  size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

absl::StatusOr<std::shared_ptr<const CompiledConfig>> CompiledConfig::compile(
    const fwd::v1::Snapshot& snapshot, const EnvLookup& env, UpstreamHealthRegistry* health,
    ratelimit::CounterRegistry* counters, records::Recorder* recorder) {
  ratelimit::CounterRegistry fresh_counters;
  if (counters == nullptr) {
    counters = &fresh_counters;  // the limiters hold their counters; the registry may go
  }
  auto cfg = std::make_shared<CompiledConfig>();
  cfg->version_ = snapshot.version();

  std::vector<std::pair<const fwd::v1::Upstream*, size_t>> order;
  for (int i = 0; i < snapshot.upstreams_size(); ++i) {
    order.emplace_back(&snapshot.upstreams(i), i);
  }
  // Priority first; equal priorities keep creation order (id), then snapshot order.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (a.first->priority() != b.first->priority()) {
      return a.first->priority() < b.first->priority();
    }
    return a.first->id() < b.first->id();
  });
  std::unordered_map<std::string, bool> names;
  for (const auto& [u, index] : order) {
    auto target = compileUpstream(*u, env);
    if (!target.ok()) {
      return target.status();
    }
    if (!names.emplace(target->name, true).second) {
      return absl::InvalidArgumentError("duplicate upstream \"" + target->name + "\"");
    }
    target->health =
        health != nullptr ? health->get(target->name) : std::make_shared<UpstreamHealth>();
    target->index = cfg->upstreams_.size();
    cfg->upstreams_.push_back(std::move(*target));
  }

  std::unordered_map<std::string, const UpstreamTarget*> by_name;
  for (const auto& u : cfg->upstreams_) {
    by_name.emplace(u.name, &u);
  }
  std::unordered_map<std::string_view, const fwd::v1::Edits*> edits_by_name;
  for (const auto& u : snapshot.upstreams()) {
    edits_by_name.emplace(u.name(), &u.edits());
  }
  bool any_body_edits = false;
  bool any_log_bodies = false;  // a key or route whose records carry bodies
  bool any_answer_prefix = false;
  bool any_stream_mode = false;
  for (const auto& u : cfg->upstreams_) {
    any_body_edits = any_body_edits || !u.edits.body.empty();
    any_answer_prefix = any_answer_prefix || !u.edits.answer_prefix.empty();
    any_stream_mode = any_stream_mode || u.edits.upstream_stream.has_value();
  }
  for (const auto& r : snapshot.routes()) {
    CompiledRoute route;
    route.name = r.name();
    route.path_prefix = r.path_prefix();
    switch (r.strategy()) {
      case fwd::v1::BALANCE_STRATEGY_WEIGHTED:
        route.strategy = CompiledRoute::Strategy::kWeighted;
        break;
      case fwd::v1::BALANCE_STRATEGY_LEAST_BUSY:
        route.strategy = CompiledRoute::Strategy::kLeastBusy;
        break;
      case fwd::v1::BALANCE_STRATEGY_LATENCY:
        route.strategy = CompiledRoute::Strategy::kLatency;
        break;
      default:
        route.strategy = CompiledRoute::Strategy::kOrdered;
        break;
    }
    route.rewrite_model = r.rewrite_model();
    route.fallback_models.assign(r.fallback_models().begin(), r.fallback_models().end());
    route.priority = r.priority();
    route.id = r.id();
    route.log_bodies = r.log_bodies();
    any_log_bodies = any_log_bodies || r.log_bodies();
    auto routeError = [&](const std::string& why) {
      return absl::InvalidArgumentError("route \"" + r.name() + "\": " + why);
    };
    if (r.has_retry()) {
      const auto& rp = r.retry();
      CompiledRoute::Retry& retry = route.retry;
      retry.explicit_policy = true;
      retry.retries = std::min<std::uint32_t>(rp.retries(), 10);
      if (rp.retry_on_size() > 0) {
        retry.on_5xx = retry.on_429 = retry.on_connect = retry.on_timeout = false;
        for (int on : rp.retry_on()) {
          switch (on) {
            case fwd::v1::RETRY_ON_5XX:
              retry.on_5xx = true;
              break;
            case fwd::v1::RETRY_ON_429:
              retry.on_429 = true;
              break;
            case fwd::v1::RETRY_ON_CONNECT:
              retry.on_connect = true;
              break;
            case fwd::v1::RETRY_ON_TIMEOUT:
              retry.on_timeout = true;
              break;
            default:
              return routeError("unknown retry_on value " + std::to_string(on));
          }
        }
      }
      if (rp.has_backoff_base()) {
        auto ms = positive(rp.backoff_base(), "retry.backoff_base");
        if (!ms.ok()) {
          return routeError(std::string(ms.status().message()));
        }
        retry.backoff_base = *ms;
      }
      if (rp.has_backoff_max()) {
        auto ms = positive(rp.backoff_max(), "retry.backoff_max");
        if (!ms.ok()) {
          return routeError(std::string(ms.status().message()));
        }
        retry.backoff_max = *ms;
      }
    }
    if (r.has_timeouts()) {
      const auto& rt = r.timeouts();
      auto& o = route.timeouts;
      struct Override {
        bool set;
        const google::protobuf::Duration& value;
        const char* name;
        std::optional<std::chrono::milliseconds>* out;
      };
      for (const Override& f :
           {Override{rt.has_connect(), rt.connect(), "timeouts.connect", &o.connect},
            Override{rt.has_first_byte(), rt.first_byte(), "timeouts.first_byte", &o.first_byte},
            Override{rt.has_stream_first_byte(), rt.stream_first_byte(),
                     "timeouts.stream_first_byte", &o.stream_first_byte},
            Override{rt.has_idle(), rt.idle(), "timeouts.idle", &o.idle},
            Override{rt.has_total(), rt.total(), "timeouts.total", &o.total}}) {
        if (f.set) {
          auto ms = positive(f.value, f.name);
          if (!ms.ok()) {
            return routeError(std::string(ms.status().message()));
          }
          *f.out = *ms;
        }
      }
    }
    if (!route.path_prefix.empty() &&
        (route.path_prefix.front() != '/' || route.path_prefix.back() == '/')) {
      return routeError("path_prefix \"" + route.path_prefix +
                        "\" must start with '/' and not end with one");
    }
    int specificity = 0;
    for (const auto& m : r.models()) {
      ModelMatcher matcher;
      switch (m.kind_case()) {
        case fwd::v1::ModelMatch::kExact:
          matcher = {ModelMatcher::Kind::kExact, m.exact()};
          specificity = std::max(specificity, 3);
          break;
        case fwd::v1::ModelMatch::kKeyword:
          matcher = {ModelMatcher::Kind::kKeyword, m.keyword()};
          specificity = std::max(specificity, 2);
          break;
        case fwd::v1::ModelMatch::kGlob:
          if (!common::match::isValidGlob(m.glob())) {
            return routeError("invalid glob \"" + m.glob() + "\"");
          }
          matcher = {ModelMatcher::Kind::kGlob, m.glob()};
          specificity = std::max(specificity, 1);
          break;
        case fwd::v1::ModelMatch::KIND_NOT_SET:
          return routeError("a model match has no kind");
      }
      if (matcher.text.empty()) {
        return routeError("an empty model match");
      }
      route.models.push_back(std::move(matcher));
    }
    route.specificity = specificity;
    for (const auto& name : r.upstreams()) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return routeError("upstream \"" + name + "\" is not in the snapshot");
      }
      route.upstreams.push_back(it->second);
      route.member_timeouts.push_back(applyOverrides(it->second->timeouts, route.timeouts));
      AttemptEdits edits =
          resolveEdits(*edits_by_name.at(name), r.has_edits() ? &r.edits() : nullptr);
      any_body_edits = any_body_edits || !edits.body.empty();
      any_answer_prefix = any_answer_prefix || !edits.answer_prefix.empty();
      any_stream_mode = any_stream_mode || edits.upstream_stream.has_value();
      route.member_edits.push_back(std::move(edits));
    }
    if (route.upstreams.empty()) {
      return routeError("no upstreams");
    }
    cfg->routes_.push_back(std::move(route));
  }
  std::stable_sort(cfg->routes_.begin(), cfg->routes_.end(),
                   [](const CompiledRoute& a, const CompiledRoute& b) {
                     if (a.priority != b.priority) {
                       return a.priority < b.priority;
                     }
                     if (a.specificity != b.specificity) {
                       return a.specificity > b.specificity;
                     }
                     return a.id < b.id;
                   });

  bool any_errors_as_200 = snapshot.settings().errors_as_200();
  bool any_key_ip_rules = false;
  IpRules ip_rules;
  for (const auto& rule : snapshot.ip_rules()) {
    absl::StatusOr<common::net::Cidr> cidr = common::net::parseCidr(rule.cidr());
    if (!cidr.ok()) {
      return absl::InvalidArgumentError("ip rule: " + std::string(cidr.status().message()));
    }
    switch (rule.action()) {
      case fwd::v1::IpRule::ACTION_ALLOW:
        ip_rules.allow.push_back(*cidr);
        break;
      case fwd::v1::IpRule::ACTION_DENY:
        ip_rules.deny.push_back(*cidr);
        break;
      case fwd::v1::IpRule::ACTION_TRUST:
        ip_rules.trust.push_back(*cidr);
        break;
      default:
        return absl::InvalidArgumentError("ip rule " + rule.cidr() + ": no action");
    }
  }
  bool any_limits = false;
  bool any_token_limits = false;
  for (const auto& k : snapshot.keys()) {
    KeyEntry e;
    e.id = k.id();
    e.name = k.name();
    e.display_prefix = k.display_prefix();
    if (!common::crypto::parseSha256Hex(k.secret_sha256(), e.digest)) {
      return absl::InvalidArgumentError("key \"" + k.name() +
                                        "\": secret_sha256 is not 64 hex digits");
    }
    for (const auto& m : k.models()) {
      if (!common::match::isValidGlob(m)) {
        return absl::InvalidArgumentError("key \"" + k.name() + "\": invalid model pattern \"" + m +
                                          "\"");
      }
      e.models.push_back(m);
    }
    if (!cfg->key_index_.emplace(e.digest, cfg->keys_.size()).second) {
      return absl::InvalidArgumentError("key \"" + k.name() + "\": duplicate secret");
    }
    if (!k.previous_secret_sha256().empty()) {
      common::crypto::Sha256Digest previous{};
      if (!common::crypto::parseSha256Hex(k.previous_secret_sha256(), previous)) {
        return absl::InvalidArgumentError("key \"" + k.name() +
                                          "\": previous_secret_sha256 is not 64 hex digits");
      }
      const auto& t = k.previous_secret_expire_time();
      auto expires = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
      cfg->previous_index_.emplace(previous, PreviousSecret{cfg->keys_.size(), expires});
    }
    e.errors_as_200 = k.errors_as_200();
    e.log_bodies = k.log_bodies();
    any_log_bodies = any_log_bodies || e.log_bodies;
    for (auto [from, to] :
         {std::pair{&k.allow_ips(), &e.allow_ips}, {&k.deny_ips(), &e.deny_ips}}) {
      for (const std::string& text : *from) {
        absl::StatusOr<common::net::Cidr> cidr = common::net::parseCidr(text);
        if (!cidr.ok()) {
          return absl::InvalidArgumentError("key \"" + k.name() +
                                            "\": " + std::string(cidr.status().message()));
        }
        to->push_back(*cidr);
      }
    }
    any_key_ip_rules = any_key_ip_rules || !e.allow_ips.empty() || !e.deny_ips.empty();
    any_errors_as_200 = any_errors_as_200 || e.errors_as_200;
    e.limiter = ratelimit::KeyLimiter::compile(k.id(), k.limits(),
                                               snapshot.settings().default_limits(), *counters);
    e.index = cfg->keys_.size();
    any_limits = any_limits || e.limiter != nullptr;
    any_token_limits =
        any_token_limits ||
        (e.limiter != nullptr &&
         (e.limiter->limitsTokens() || e.limiter->hasBudgets() || e.limiter->paceNs() > 0));
    cfg->keys_.push_back(std::move(e));
  }
  // Route limits, after the keys they count per key. A route counts under its own id, apart
  // from the key's own limits; with Redis under "fwd:{r<route>}" or "fwd:{r<route>k<key>}".
  fwd::v1::Limits route_defaults;
  route_defaults.set_redis_down(snapshot.settings().default_limits().redis_down());
  bool any_route_limits = false;
  for (const auto& r : snapshot.routes()) {
    if (r.limits().rate_size() == 0 && r.limits().tpm() == 0 && r.limits().tokens_size() == 0 &&
        r.limits().max_parallel() == 0) {
      continue;
    }
    auto route = std::find_if(cfg->routes_.begin(), cfg->routes_.end(),
                              [&](const CompiledRoute& cr) { return cr.id == r.id(); });
    if (route == cfg->routes_.end()) {
      continue;
    }
    any_route_limits = true;
    route->limits_shared = r.limits_shared();
    std::string rid = std::to_string(r.id());
    auto compileFor = [&](const std::string& counter_prefix, const std::string& redis_prefix) {
      auto limiter =
          ratelimit::KeyLimiter::compile(counter_prefix, redis_prefix, r.limits(), route_defaults,
                                         *counters, ratelimit::Scope::kRoute);
      any_token_limits = any_token_limits || limiter->limitsTokens();
      return limiter;
    };
    if (r.limits_shared()) {
      route->shared_limiter = compileFor("route/" + rid + "/", "fwd:{r" + rid + "}");
    } else {
      for (const KeyEntry& key : cfg->keys_) {
        std::string kid = std::to_string(key.id);
        route->key_limiters.push_back(
            compileFor("route/" + rid + "/key/" + kid + "/", "fwd:{r" + rid + "k" + kid + "}"));
      }
    }
  }
  any_limits = any_limits || any_route_limits;
  counters->prune();
  // The policies, in the order the pipeline calls them; only those the snapshot configures.
  std::vector<policy::PolicyConstSharedPtr> policies;
  bool any_global_ip_rules =
      !ip_rules.allow.empty() || !ip_rules.deny.empty() || !ip_rules.trust.empty();
  if (any_global_ip_rules || any_key_ip_rules) {
    policies.push_back(std::make_shared<access::IpAccess>(std::move(ip_rules), any_key_ip_rules));
  }
  cfg->redis_ = redisSetting(snapshot.settings(), env);
  auto prices = std::make_shared<const usage::PriceTable>(snapshot.prices());
  if (any_limits) {
    policies.push_back(std::make_shared<ratelimit::RequestLimits>(
        any_token_limits, cfg->redis_.enabled, prices, any_route_limits));
  }
  if (any_body_edits) {
    policies.push_back(std::make_shared<rewrite::RequestEdits>());
  }
  if (any_answer_prefix) {
    policies.push_back(std::make_shared<rewrite::AnswerPrefix>());
  }
  if (any_stream_mode) {
    policies.push_back(std::make_shared<stream::StreamConversion>());
  }
  if (any_errors_as_200) {
    policies.push_back(std::make_shared<compat::ErrorsAs200>(snapshot.settings().errors_as_200()));
  }
  if (recorder != nullptr) {
    policies.push_back(
        std::make_shared<records::RecordRequests>(*recorder, prices, any_log_bodies));
  }
  cfg->policies_ = policy::Chain(std::move(policies));
  return std::shared_ptr<const CompiledConfig>(std::move(cfg));
}

KeyLookup CompiledConfig::lookupKey(std::string_view secret,
                                    std::chrono::system_clock::time_point now) const {
  common::crypto::Sha256Digest digest = common::crypto::sha256(secret);
  if (auto it = key_index_.find(digest); it != key_index_.end()) {
    const KeyEntry& key = keys_[it->second];
    if (common::crypto::constantTimeEqual(key.digest, digest)) {
      return {&key, false};
    }
  }
  if (previous_index_.empty()) {
    return {};
  }
  auto it = previous_index_.find(digest);
  if (it == previous_index_.end() || now >= it->second.expires ||
      !common::crypto::constantTimeEqual(it->first, digest)) {
    return {};
  }
  return {&keys_[it->second.key], true};
}

const KeyEntry* KeyMemo::find(const CompiledConfigConstSharedPtr& cfg, std::string_view secret) {
  bool same_snapshot = !cfg_.owner_before(cfg) && !cfg.owner_before(cfg_);
  if (key_ != nullptr && same_snapshot &&
      common::crypto::constantTimeEqual(secret, std::string_view(secret_.data(), secret_size_))) {
    return key_;
  }
  KeyLookup found = cfg->lookupKey(secret);
  const KeyEntry* key = found.key;
  forget();
  if (key != nullptr && !found.previous && secret.size() <= secret_.size()) {
    cfg_ = cfg;
    key_ = key;
    std::memcpy(secret_.data(), secret.data(), secret.size());
    secret_size_ = secret.size();
  }
  return key;
}

void KeyMemo::forget() {
  common::crypto::wipe(secret_.data(), secret_size_);
  secret_size_ = 0;
  key_ = nullptr;
  cfg_.reset();
}

const AttemptTimeouts& CompiledRoute::timeoutsFor(const UpstreamTarget& t) const {
  for (size_t i = 0; i < upstreams.size(); ++i) {
    if (upstreams[i] == &t) {
      return member_timeouts[i];
    }
  }
  return t.timeouts;
}

const AttemptEdits& CompiledRoute::editsFor(const UpstreamTarget& t) const {
  for (size_t i = 0; i < upstreams.size(); ++i) {
    if (upstreams[i] == &t) {
      return member_edits[i];
    }
  }
  return t.edits;
}

AttemptEdits resolveEdits(const fwd::v1::Edits& upstream, const fwd::v1::Edits* route) {
  fwd::v1::Edits e = upstream;
  if (route != nullptr) {
    if (route->stop_size() > 0) {
      e.clear_stop();
    }
    e.MergeFrom(*route);  // set optional fields win; a non-empty stop list replaces
  }
  AttemptEdits out;
  if (e.has_max_tokens_cap() && e.max_tokens_cap() > 0) {
    out.body.max_tokens_cap = e.max_tokens_cap();
  }
  out.body.stop.assign(e.stop().begin(), e.stop().end());
  out.body.drop_empty_messages = e.drop_empty_messages();
  out.body.strip_think = e.strip_think();
  out.answer_prefix = e.answer_prefix();
  out.answer_prefix_json = rewrite::escapeForJson(out.answer_prefix);
  if (e.stream_mode() == fwd::v1::STREAM_MODE_STREAM) {
    out.upstream_stream = true;
  } else if (e.stream_mode() == fwd::v1::STREAM_MODE_NON_STREAM) {
    out.upstream_stream = false;
  }
  return out;
}

AttemptTimeouts applyOverrides(const AttemptTimeouts& upstream,
                               const CompiledRoute::TimeoutOverrides& o) {
  AttemptTimeouts out = upstream;
  if (o.total) {
    out.total = *o.total;
    out.first_byte = std::min(out.first_byte, out.total);
    out.stream_first_byte = std::min(out.stream_first_byte, out.total);
  }
  if (o.connect) {
    out.connect = *o.connect;
  }
  if (o.first_byte) {
    out.first_byte = *o.first_byte;
    if (!o.stream_first_byte) {
      out.stream_first_byte = std::min(out.stream_first_byte, out.first_byte);
    }
  }
  if (o.stream_first_byte) {
    out.stream_first_byte = *o.stream_first_byte;
  }
  if (o.idle) {
    out.idle = *o.idle;
  }
  return out;
}

bool deniesModel(const UpstreamTarget& t, std::string_view model) {
  return std::any_of(t.deny_models.begin(), t.deny_models.end(),
                     [model](const std::string& p) { return common::match::globMatch(p, model); });
}

bool servesModel(const UpstreamTarget& t, std::string_view model) {
  // Unlike a key's patterns, an empty allow list serves nothing.
  return !t.models.empty() && modelAllowed(t.models, model) && !deniesModel(t, model);
}

void CompiledConfig::candidates(std::string_view model, CandidateList& out) const {
  for (const auto& u : upstreams_) {
    if (servesModel(u, model)) {
      out.push_back(&u);
    }
  }
}

bool ModelMatcher::matches(std::string_view model) const {
  switch (kind) {
    case Kind::kExact:
      return model == text;
    case Kind::kKeyword:
      return model.find(text) != std::string_view::npos;
    case Kind::kGlob:
      return common::match::globMatch(text, model);
  }
  return false;
}

const CompiledRoute* CompiledConfig::matchRoute(std::string_view prefix,
                                                std::string_view model) const {
  for (const auto& r : routes_) {
    if (r.path_prefix != prefix) {
      continue;
    }
    if (r.models.empty() || std::any_of(r.models.begin(), r.models.end(),
                                        [&](const ModelMatcher& m) { return m.matches(model); })) {
      return &r;
    }
  }
  return nullptr;
}

bool CompiledConfig::hasPrefix(std::string_view prefix) const {
  return std::any_of(routes_.begin(), routes_.end(),
                     [&](const CompiledRoute& r) { return r.path_prefix == prefix; });
}

bool modelAllowed(const std::vector<std::string>& patterns, std::string_view model) {
  if (patterns.empty()) {
    return true;
  }
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return common::match::globMatch(p, model); });
}

}  // namespace fwd::dataplane::config
