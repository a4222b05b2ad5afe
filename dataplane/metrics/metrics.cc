#include "dataplane/metrics/metrics.h"

#include <prometheus/family.h>

#include "common/log/log.h"

namespace fwd::dataplane::metrics {
namespace {

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

prometheus::MetricFamily ejectedFamily(const std::vector<fwd::v1::UpstreamState>& states) {
  prometheus::MetricFamily family;
  family.name = "fwd_upstream_ejected";
  family.help = "1 while this data plane has the upstream ejected (outlier detection), else 0.";
  family.type = prometheus::MetricType::Gauge;
  for (const auto& s : states) {
    prometheus::ClientMetric m;
    m.label.push_back({"upstream", s.name()});
    m.gauge.value = s.ejected() ? 1 : 0;
    family.metric.push_back(std::move(m));
  }
  return family;
}

const std::vector<double>& latencyBuckets() {
  static const std::vector<double> kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return kBuckets;
}

const std::vector<double>& loopDelayBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                               0.025,  0.05,  0.1,    0.25,  1};
  return kBuckets;
}

const std::vector<double>& redisBuckets() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                               0.005,  0.01,    0.025,  0.1,   0.25};
  return kBuckets;
}

namespace {

// `names`, after a "key" label when the operator asked for one.
std::vector<std::string> withKey(bool key_label, std::vector<std::string> names) {
  if (key_label) {
    names.insert(names.begin(), "key");
  }
  return names;
}

}  // namespace

Metrics::Metrics(size_t workers, bool key_label)
    : registry_(std::make_shared<prometheus::Registry>()),
      key_label_(key_label),
      requests("fwd_requests_total", "Client requests by route, model, upstream and status.",
               prometheus::MetricType::Counter, {"route", "model", "upstream", "status"}, workers),
      request_duration("fwd_request_duration_seconds",
                       "Client request latency, from request head to last response byte.",
                       prometheus::MetricType::Histogram, {"route", "upstream"}, workers,
                       &latencyBuckets()),
      upstream_duration("fwd_upstream_response_head_seconds",
                        "Upstream latency per attempt, from sending to the response head.",
                        prometheus::MetricType::Histogram, {"upstream"}, workers,
                        &latencyBuckets()),
      stream_ttfb("fwd_stream_time_to_first_byte_seconds",
                  "Streaming requests: time from request head to the first body byte relayed.",
                  prometheus::MetricType::Histogram, {"upstream"}, workers, &latencyBuckets()),
      upstream_attempts("fwd_upstream_attempts_total", "Attempts per upstream by outcome.",
                        prometheus::MetricType::Counter, {"upstream", "outcome"}, workers),
      in_flight("fwd_requests_in_flight", "Client requests being served.",
                prometheus::MetricType::Gauge, {}, workers),
      streamed_events("fwd_stream_events_total", "Server-sent events relayed to clients.",
                      prometheus::MetricType::Counter, {"upstream"}, workers),
      upstream_failures("fwd_upstream_failures_total",
                        "Failed upstream attempts by reason (connect, tls, dns, "
                        "connect_timeout, first_byte_timeout, idle_timeout, total_timeout, "
                        "http_5xx, http_429, reset, mid_stream).",
                        prometheus::MetricType::Counter, {"upstream", "reason"}, workers),
      upstream_retries("fwd_upstream_retries_total",
                       "Attempts that retried a request failed elsewhere (or here) before.",
                       prometheus::MetricType::Counter, {"upstream"}, workers),
      upstream_in_flight("fwd_upstream_in_flight", "Attempts in progress per upstream.",
                         prometheus::MetricType::Gauge, {"upstream"}, workers),
      retry_budget_exhausted("fwd_retry_budget_exhausted_total",
                             "Retries not made because the retry budget was spent.",
                             prometheus::MetricType::Counter, {"route"}, workers),
      ip_refusals("fwd_ip_refusals_total",
                  "Requests refused by IP access rules (403 ip_not_allowed), by the rules that "
                  "refused them: global or key.",
                  prometheus::MetricType::Counter, {"scope"}, workers),
      limited("fwd_limited_requests_total",
              "Requests refused by a limit (429), by the limit (reason: rate, parallel, "
              "tokens, budget; redis_down: 503 while Redis is unreachable and the key fails "
              "closed) and where it was set (scope: key, default).",
              prometheus::MetricType::Counter, {"reason", "scope"}, workers),
      unpriced("fwd_unpriced_requests_total",
               "Requests of keys with a money budget whose model has no price (fwdctl price): "
               "their tokens are counted as unpriced, not as $0, by the model asked for.",
               prometheus::MetricType::Counter, {"model"}, workers),
      tokens("fwd_tokens_total",
             "Tokens of the answers, as upstreams reported them or fwd estimated them, by the "
             "model asked for, the upstream and the kind: prompt, completion, cached (of "
             "prompt), reasoning (of completion). Counted with request records on.",
             prometheus::MetricType::Counter, withKey(key_label, {"model", "upstream", "kind"}),
             workers),
      cost("fwd_cost_usd_total",
           "What the tokens cost at the models' prices (fwdctl price), in dollars; unpriced "
           "models add nothing. Counted with request records on.",
           withKey(key_label, {"model", "upstream"}), workers, 1e-9),
      usage_estimated("fwd_usage_estimated_requests_total",
                      "Answers that came without usage, whose tokens fwd estimated.",
                      prometheus::MetricType::Counter, withKey(key_label, {"model", "upstream"}),
                      workers),
      redis_duration("fwd_redis_duration_seconds",
                     "Round trips of the limits' scripts to Redis (script: admit, settle).",
                     prometheus::MetricType::Histogram, {"script"}, workers, &redisBuckets()),
      redis_errors("fwd_redis_errors_total",
                   "Limit scripts that got no answer from Redis, by reason: down (not "
                   "connected), timeout, error (an error reply).",
                   prometheus::MetricType::Counter, {"reason"}, workers),
      redis_connected("fwd_redis_connections",
                      "Connections to the Redis that counts limits that are up (one per worker "
                      "when all are).",
                      prometheus::MetricType::Gauge, {}, workers),
      upstream_ejections("fwd_upstream_ejections_total",
                         "Outlier ejections of an upstream by this data plane.",
                         prometheus::MetricType::Counter, {"upstream"}, workers),
      loop_delay("fwd_worker_loop_delay_seconds",
                 "How late each worker's 100 ms housekeeping timer ran: time the worker's "
                 "thread was busy, blocked or without a CPU, which its requests waited too.",
                 prometheus::MetricType::Histogram, {"worker"}, workers, &loopDelayBuckets()),
      config_version(
          gauge(*registry_, "fwd_config_version", "Version of the config snapshot in force.")),
      control_plane_connected(gauge(*registry_, "fwd_control_plane_connected",
                                    "1 while the Watch stream to the control plane is up.")),
      ready(gauge(*registry_, "fwd_ready", "1 once a config snapshot is loaded.")),
      snapshots_applied(counter(*registry_, "fwd_config_snapshots_applied_total",
                                "Snapshots validated and put in force.")),
      snapshots_rejected(counter(*registry_, "fwd_config_snapshots_rejected_total",
                                 "Snapshots rejected (NACKed); the previous one stayed.")),
      model_fetches(prometheus::BuildCounter()
                        .Name("fwd_upstream_model_fetches_total")
                        .Help("Fetches of upstreams' model lists (GET <base_url>/models) by "
                              "outcome.")
                        .Register(*registry_)),
      accept_errors(prometheus::BuildCounter()
                        .Name("fwd_accept_errors_total")
                        .Help("Accepts that failed, by listener (http, admin); mostly running "
                              "out of file descriptors, after which accepting pauses briefly.")
                        .Register(*registry_)),
      tls_handshake_failures(counter(*registry_, "fwd_tls_handshake_failures_total",
                                     "Client connections whose TLS handshake failed or timed "
                                     "out (the listener has --tls-cert).")) {}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  std::vector<prometheus::MetricFamily> out = registry_->Collect();
  out.push_back(requests.collect());
  out.push_back(request_duration.collect());
  out.push_back(upstream_duration.collect());
  out.push_back(stream_ttfb.collect());
  out.push_back(upstream_attempts.collect());
  out.push_back(in_flight.collect());
  out.push_back(streamed_events.collect());
  out.push_back(upstream_failures.collect());
  out.push_back(upstream_retries.collect());
  out.push_back(upstream_in_flight.collect());
  out.push_back(retry_budget_exhausted.collect());
  out.push_back(ip_refusals.collect());
  out.push_back(limited.collect());
  out.push_back(unpriced.collect());
  out.push_back(tokens.collect());
  out.push_back(cost.collect());
  out.push_back(usage_estimated.collect());
  out.push_back(redis_duration.collect());
  out.push_back(redis_errors.collect());
  out.push_back(redis_connected.collect());
  out.push_back(upstream_ejections.collect());
  out.push_back(loop_delay.collect());
  // Kept by the process's logger (common/log), read here.
  prometheus::MetricFamily log_dropped;
  log_dropped.name = "fwd_log_dropped_lines_total";
  log_dropped.help = "Log lines dropped because stderr did not keep up (the queue was full).";
  log_dropped.type = prometheus::MetricType::Counter;
  log_dropped.metric.emplace_back().counter.value =
      static_cast<double>(common::log::droppedLines());
  out.push_back(std::move(log_dropped));
  if (scrape_time_families) {
    for (auto& family : scrape_time_families()) {
      out.push_back(std::move(family));
    }
  }
  return out;
}

}  // namespace fwd::dataplane::metrics
