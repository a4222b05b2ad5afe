#include "dataplane/health/health_checker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/config/duration.h"
#include "common/log/log.h"

namespace fwd::dataplane::health {

namespace asio = boost::asio;
using Active = config::UpstreamHealth::Active;

struct HealthChecker::Probe {
  Probe(asio::io_context& ioc, config::UpstreamTarget t) : target(std::move(t)), timer(ioc) {}

  config::UpstreamTarget target;  // a copy: the probe outlives the config it came from
  asio::steady_timer timer;
  bool stopped = false;
  std::uint32_t successes = 0;
  std::uint32_t failures = 0;
  prometheus::Gauge* up = nullptr;
};

namespace {

// A probe is kept across config versions only while everything it sends and judges by is equal.
bool sameCheck(const config::UpstreamTarget& a, const config::UpstreamTarget& b) {
  const auto& x = a.health_check;
  const auto& y = b.health_check;
  return a.tls == b.tls && a.host == b.host && a.port == b.port && a.base_path == b.base_path &&
         a.credential_field == b.credential_field && a.credential == b.credential &&
         a.insecure_skip_verify == b.insecure_skip_verify && x.path == y.path &&
         x.interval == y.interval && x.timeout == y.timeout &&
         x.healthy_threshold == y.healthy_threshold &&
         x.unhealthy_threshold == y.unhealthy_threshold;
}

std::string outcomeLabel(const probe::HttpGetResult& r) {
  if (r.ok()) {
    return "ok";
  }
  if (r.error == probe::HttpGetError::kNone) {
    return "http_" + std::to_string(r.status / 100) + "xx";
  }
  return std::string(probe::toString(r.error));
}

}  // namespace

HealthChecker::HealthChecker(prometheus::Registry& registry, probe::TlsClientContexts& tls)
    : tls_(tls),
      checks_(prometheus::BuildCounter()
                  .Name("fwd_upstream_health_checks_total")
                  .Help("Active health checks by upstream and outcome (ok, http_5xx, timeout, "
                        "connect, ...).")
                  .Register(registry)),
      up_(prometheus::BuildGauge()
              .Name("fwd_upstream_healthy")
              .Help("1 while an upstream passes its active health check, 0 while it fails it; "
                    "absent without a check.")
              .Register(registry)) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::start() {
  guard_.emplace(ioc_.get_executor());
  thread_ = std::thread([this] { ioc_.run(); });
}

void HealthChecker::stop() {
  if (!thread_.joinable()) {
    return;
  }
  // Probe coroutines end with the io_context; nothing else runs on its thread.
  guard_.reset();
  ioc_.stop();
  thread_.join();
}

void HealthChecker::update(config::CompiledConfigConstSharedPtr config) {
  asio::post(ioc_, [this, config = std::move(config)] { apply(*config); });
}

void HealthChecker::apply(const config::CompiledConfig& config) {
  std::unordered_map<std::string, ProbePtr> next;
  for (const config::UpstreamTarget& t : config.upstreams()) {
    if (!t.health_check.enabled) {
      continue;
    }
    auto it = probes_.find(t.name);
    if (it != probes_.end() && sameCheck(it->second->target, t)) {
      next.emplace(t.name, std::move(it->second));
      probes_.erase(it);
      continue;
    }
    auto probe = std::make_shared<Probe>(ioc_, t);
    probe->up = &up_.Add({{"upstream", t.name}});
    // A new check starts from the current verdict (kept across versions), healthy if none.
    if (t.health->active() == Active::kUnchecked) {
      t.health->setActive(Active::kHealthy);
    }
    probe->up->Set(t.health->active() == Active::kHealthy ? 1 : 0);
    next.emplace(t.name, probe);
    asio::co_spawn(ioc_, run(probe), asio::detached);
  }
  for (auto& [name, probe] : probes_) {
    // Gone or changed: stop it; an upstream that no longer has a check is unchecked again.
    probe->stopped = true;
    probe->timer.cancel();
    if (next.find(name) == next.end()) {
      probe->target.health->setActive(Active::kUnchecked);
      up_.Remove(probe->up);
    }
  }
  probes_ = std::move(next);
}

asio::awaitable<void> HealthChecker::run(ProbePtr probe) {
  const auto& hc = probe->target.health_check;
  auto request = probe::upstreamGet(probe->target, hc.path, hc.timeout);
  while (!probe->stopped) {
    probe::HttpGetResult result = co_await probe::httpGet(request, tls_);
    if (probe->stopped) {
      break;
    }
    record(*probe, result);
    probe->timer.expires_after(hc.interval);
    co_await probe->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void HealthChecker::record(Probe& probe, const probe::HttpGetResult& result) {
  const config::UpstreamTarget& t = probe.target;
  checks_.Add({{"upstream", t.name}, {"outcome", outcomeLabel(result)}}).Increment();
  Active now = t.health->active();
  if (result.ok()) {
    probe.failures = 0;
    ++probe.successes;
    if (now != Active::kHealthy && probe.successes >= t.health_check.healthy_threshold) {
      t.health->setActive(Active::kHealthy);
      probe.up->Set(1);
      FWD_LOG(kInfo, "health") << "upstream " << t.name << " passes its health check again ("
                               << probe.successes << " in a row)";
    }
    return;
  }
  probe.successes = 0;
  ++probe.failures;
  if (now != Active::kUnhealthy && probe.failures >= t.health_check.unhealthy_threshold) {
    t.health->setActive(Active::kUnhealthy);
    probe.up->Set(0);
    std::string why = result.error == probe::HttpGetError::kNone
                          ? "status " + std::to_string(result.status)
                          : result.detail;
    FWD_LOG(kWarn, "health") << "upstream " << t.name << " fails its health check ("
                             << probe.failures << " in a row; GET " << t.health_check.path << ": "
                             << why << "): out of rotation";
  }
}

}  // namespace fwd::dataplane::health
