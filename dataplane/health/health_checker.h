// Active health checks. On its own thread and io_context (never a worker's), every upstream
// whose config has a health check is probed with GET <base_url><path> every interval; a 2xx
// within the timeout is a success. `unhealthy_threshold` failures in a row mark the upstream
// unhealthy, `healthy_threshold` successes in a row mark it healthy again. The verdict goes to
// the upstream's shared UpstreamHealth (atomics), which workers read when they order
// candidates — an unhealthy upstream is skipped like an ejected one (never more than half a
// group).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "dataplane/config/compiled_config.h"
#include "dataplane/probe/http_get.h"

namespace fwd::dataplane::health {

class HealthChecker {
 public:
  /// Registers its metric families in `registry` (which must outlive the checker).
  /// `tls` (shared with the other upstream clients of the process) must outlive the checker.
  HealthChecker(prometheus::Registry& registry, probe::TlsClientContexts& tls);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  void start();
  /// Any thread except the checker's. Idempotent; probes in flight are abandoned.
  void stop();

  /// Any thread: probe the upstreams of `config` from now on. An upstream whose check did not
  /// change keeps its probe and its counts; one that lost its check goes back to unchecked.
  void update(config::CompiledConfigConstSharedPtr config);

 private:
  struct Probe;
  using ProbePtr = std::shared_ptr<Probe>;

  void apply(const config::CompiledConfig& config);
  boost::asio::awaitable<void> run(ProbePtr probe);
  void record(Probe& probe, const probe::HttpGetResult& result);

  boost::asio::io_context ioc_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  probe::TlsClientContexts& tls_;
  prometheus::Family<prometheus::Counter>& checks_;
  prometheus::Family<prometheus::Gauge>& up_;
  // Checker thread only.
  std::unordered_map<std::string, ProbePtr> probes_;
};

}  // namespace fwd::dataplane::health
