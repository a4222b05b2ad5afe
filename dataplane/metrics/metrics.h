// Every metric the data plane exports, declared once (Envoy stats style). Request-path metrics
// are sharded per worker (sharded.h); process-wide state (config version, control-plane
// connection) uses prometheus-cpp gauges, set rarely. The admin listener serializes it all.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "dataplane/metrics/sharded.h"
#include "fwd/v1/config.pb.h"

namespace fwd::dataplane::metrics {

class Metrics : public prometheus::Collectable {
  // Declared first: the process-wide gauges below register into it during construction.
  std::shared_ptr<prometheus::Registry> registry_;
  bool key_label_;

 public:
  /// `key_label`: the token and cost families also have a `key` label (fwd-dataplane
  /// --metrics-key-label; a series per key, model and upstream).
  explicit Metrics(size_t workers, bool key_label = false);
  bool keyLabel() const { return key_label_; }

  // Request path, worker-sharded. Labels are listed in each family's comment.
  CounterFamily requests;                // route, model, upstream, status
  HistogramFamily request_duration;      // route, upstream
  HistogramFamily upstream_duration;     // upstream: time to the upstream's response head
  HistogramFamily stream_ttfb;           // upstream: time to the first streamed body byte
  CounterFamily upstream_attempts;       // upstream, outcome (ok, http_5xx, connect, timeout, ...)
  GaugeFamily in_flight;                 // (none)
  CounterFamily streamed_events;         // upstream: SSE events relayed
  CounterFamily upstream_failures;       // upstream, reason: failed attempts (see docs/metrics.md)
  CounterFamily upstream_retries;        // upstream: attempts that were retries
  GaugeFamily upstream_in_flight;        // upstream: attempts in progress
  CounterFamily retry_budget_exhausted;  // route: retries refused by the retry budget
  CounterFamily ip_refusals;             // scope (global, key): refused by IP access rules
  CounterFamily limited;   // reason (rate, parallel, tokens, budget, redis_down), scope
  CounterFamily unpriced;  // model: requests charged to a money budget, no price
  // The next three: `key` first when keyLabel().
  CounterFamily tokens;            // model, upstream, kind (prompt, completion, cached, reasoning)
  CounterFamily cost;              // model, upstream: dollars (cells count nano-dollars)
  CounterFamily usage_estimated;   // model, upstream: answers without usage, estimated
  HistogramFamily redis_duration;  // script (admit, settle): round trips to Redis
  CounterFamily redis_errors;      // reason (down, timeout, error)
  GaugeFamily redis_connected;     // (none): workers connected to Redis
  CounterFamily upstream_ejections;  // upstream: outlier ejections by this node
  HistogramFamily loop_delay;        // worker: how late the worker's 100 ms timer ran

  // Process-wide.
  prometheus::Gauge& config_version;
  prometheus::Gauge& control_plane_connected;
  prometheus::Gauge& ready;
  prometheus::Counter& snapshots_applied;
  prometheus::Counter& snapshots_rejected;
  // Model list fetches (the model fetcher's thread only): upstream, outcome (ok, http_error,
  // timeout, connect, invalid). Family::Add takes a lock, which is fine off the request path.
  prometheus::Family<prometheus::Counter>& model_fetches;
  // Failed accepts by listener (http, admin): out of file descriptors, mostly. The acceptor's
  // thread only; rare.
  prometheus::Family<prometheus::Counter>& accept_errors;
  // Client connections whose TLS handshake failed (--tls-cert). Any worker; rare.
  prometheus::Counter& tls_handshake_failures;

  /// Families computed at scrape time from shared state (ejected and health-check gauges);
  /// set once at start, called on the scraping thread.
  std::function<std::vector<prometheus::MetricFamily>()> scrape_time_families;

  /// The registry to serialize: our process-wide gauges plus this collectable.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  std::vector<prometheus::MetricFamily> Collect() const override;
};

/// fwd_upstream_ejected{upstream}: 1 while this node has the upstream ejected, else 0; built at
/// scrape time from the shared upstream state (so a recovery shows without any traffic).
prometheus::MetricFamily ejectedFamily(const std::vector<fwd::v1::UpstreamState>& states);

/// Buckets for request latencies in seconds: 1 ms .. 5 min.
const std::vector<double>& latencyBuckets();
/// Buckets of fwd_redis_duration_seconds: 0.1 ms .. 250 ms (the command timeout).
const std::vector<double>& redisBuckets();
/// Buckets of fwd_worker_loop_delay_seconds: from 0.5 ms (noise) to 1 s (a hung worker).
const std::vector<double>& loopDelayBuckets();

}  // namespace fwd::dataplane::metrics
