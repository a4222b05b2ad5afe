// Everything one worker thread owns: its io_context, the config snapshot and model catalog it
// serves (swapped by a handler posted to this worker, so reading them needs no lock), its upstream
// connection pool, JSON parser and metric shard index. Only the owning thread touches the mutable
// parts.
#pragma once

#include <simdjson.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dataplane/balancer/balancer.h"
#include "dataplane/config/compiled_config.h"
#include "dataplane/metrics/handles.h"
#include "dataplane/metrics/metrics.h"
#include "dataplane/models/catalog.h"
#include "dataplane/proxy/client_request.h"
#include "dataplane/proxy/upstream_pool.h"
#include "dataplane/proxy/watchdog.h"
#include "dataplane/proxy/worker_io.h"
#include "dataplane/redis/redis_client.h"

namespace fwd::dataplane::pipeline {
struct ClientWatch;  // client_watch.h
}

namespace fwd::dataplane::proxy {

struct ProxyOptions {
  size_t max_body_bytes = 32u << 20;
  size_t max_header_bytes = 64u << 10;
  ClientRequestParser::HeadLimits head_limits;
  std::chrono::milliseconds header_timeout{10'000};  // first request head on a connection
  std::chrono::milliseconds idle_timeout{60'000};    // between keep-alive requests
  std::chrono::milliseconds body_timeout{120'000};   // reading the request body
  std::chrono::milliseconds client_write_timeout{60'000};
  size_t max_idle_per_upstream = 64;
  std::chrono::milliseconds upstream_idle_timeout{50'000};
  size_t max_model_labels = 500;  // distinct model label values per worker before "other"
  // Retry budget (per worker): retries in flight ≤ max(min, percent% of requests in flight).
  std::int64_t retry_budget_percent = 20;
  std::int64_t retry_budget_min = 3;
};

/// A client connection, registered while open so a drain can close the idle ones.
struct ClientSession {
  Socket* socket = nullptr;
  bool idle = true;
};

/// The snapshot in force on one worker, with what the worker built for it when it was published
/// (the policies' slots). A request pins it whole, so a snapshot published mid-request changes
/// nothing for that request.
struct WorkerSnapshot {
  config::CompiledConfigConstSharedPtr config;  // never null
  policy::Chain::Slots policy_slots;            // slot i: policy i of config->policies()
  metrics::WorkerHandles metrics;               // this worker's cells for this snapshot
};
using WorkerSnapshotSharedPtr = std::shared_ptr<WorkerSnapshot>;

struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct WorkerContext {
  WorkerContext(size_t worker_index, const ProxyOptions& proxy_options,
                metrics::Metrics& process_metrics, boost::asio::ssl::context& verify_ctx,
                boost::asio::ssl::context& insecure_ctx,
                boost::asio::ssl::context* server_ctx = nullptr)
      : index(worker_index),
        options(proxy_options),
        metrics(process_metrics),
        tls_verify(verify_ctx),
        tls_insecure(insecure_ctx),
        tls_server(server_ctx),
        pool(proxy_options.max_idle_per_upstream, proxy_options.upstream_idle_timeout),
        in_flight(process_metrics.in_flight.cell(worker_index, {})) {}

  const size_t index;
  // One thread runs it and only that thread starts I/O on its sockets (other threads post to
  // it; the acceptor on worker 0 only registers new sockets, which stays locked): the
  // per-descriptor locks of Asio's reactor are not needed.
  boost::asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Watchdog watchdog{ioc, std::chrono::milliseconds(100)};
  const ProxyOptions& options;
  metrics::Metrics& metrics;
  boost::asio::ssl::context& tls_verify;
  boost::asio::ssl::context& tls_insecure;
  // The client listener's certificate (--tls-cert): clients speak TLS. Null: plain HTTP.
  boost::asio::ssl::context* tls_server;

  // Owning thread only.
  WorkerSnapshotSharedPtr snapshot;  // null until the first config arrives
  // What GET /v1/models answers from; replaced only by a newer one (higher sequence).
  models::CatalogConstSharedPtr models;
  UpstreamPool pool;
  simdjson::ondemand::parser json;
  std::unordered_set<ClientSession*> sessions;
  // Model label values seen so far; looked up by string_view, so a request allocates nothing.
  std::unordered_set<std::string, TransparentStringHash, std::equal_to<>> model_labels;
  // Orders upstream groups; its round-robin state is per route of the current config (forgotten
  // when a new config is applied).
  balancer::Balancer balancer{static_cast<std::uint32_t>(index * 7919 + 1)};
  // The connection to the Redis the snapshot counts limits in (null: none), kept across
  // snapshots naming the same one; `redis_endpoint` is where it goes.
  std::shared_ptr<redis::Client> redis;
  std::optional<common::net::RedisEndpoint> redis_endpoint;
  // Set when a drain starts: responses say `Connection: close`, no connection is kept.
  bool draining = false;
  // Attempts in progress that are retries (the retry budget's numerator).
  std::int64_t retries_in_flight = 0;
  // Attempts not yet watching their client for a hang-up: the watchdog's sweep arms those that
  // have run for a tick (armDueClientWatches), so fast requests never pay for a watch.
  std::vector<std::shared_ptr<pipeline::ClientWatch>> unarmed_watches;

  metrics::SingleWriterGauge& in_flight;
};

}  // namespace fwd::dataplane::proxy
