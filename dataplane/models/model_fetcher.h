// Keeps the model catalog current. On its own thread and io_context (never a worker's), it
// fetches GET <base_url>/models from each upstream when a config brings one that was not
// fetched within the refresh interval (or whose URL or credential changed), and again every
// interval — at most a few at a time, each bounded in time and size. It keeps each upstream's
// last good list (a failed fetch changes nothing but a metric), rebuilds the catalog after every
// change, and hands it to the workers through `publish`.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include "dataplane/config/compiled_config.h"
#include "dataplane/metrics/metrics.h"
#include "dataplane/models/catalog.h"
#include "dataplane/probe/http_get.h"

namespace fwd::dataplane::models {

class ModelFetcher {
 public:
  struct Options {
    /// How often each upstream's list is fetched again; zero: never fetch (config names only).
    std::chrono::milliseconds refresh{5 * 60'000};
    /// A fetch that timed out or could not connect is retried after min(refresh, this); an
    /// upstream that answered with an error (e.g. it has no /models) waits for the refresh.
    std::chrono::milliseconds retry_after_failure{30'000};
    std::chrono::milliseconds timeout{10'000};  // per fetch, connect to last body byte
    std::size_t max_body_bytes = 1u << 20;
    std::size_t max_parallel = 4;
  };
  /// Receives each catalog rebuilt after a fetch changed a list; called on the fetcher's thread.
  using PublishFn = std::function<void(CatalogConstSharedPtr)>;

  /// `tls` (shared with the other upstream clients of the process) must outlive the fetcher.
  ModelFetcher(Options options, metrics::Metrics& metrics, PublishFn publish,
               probe::TlsClientContexts& tls);
  /// Stops the thread; fetches in flight are abandoned.
  ~ModelFetcher();
  ModelFetcher(const ModelFetcher&) = delete;
  ModelFetcher& operator=(const ModelFetcher&) = delete;

  /// Starts the thread. Call once, before the first applyConfig().
  void start();
  /// Any thread except the fetcher's. Idempotent.
  void stop();

  /// Config thread: makes `config` the one the catalog follows and returns the catalog for it,
  /// built on the fetcher's thread (waits for it, briefly: building never waits on the network).
  /// The lists of upstreams still configured at the same URL are kept. Publishing the returned
  /// catalog together with the config is the caller's job; later rebuilds go to `publish`.
  CatalogConstSharedPtr applyConfig(config::CompiledConfigConstSharedPtr config);

 private:
  using Clock = std::chrono::steady_clock;

  // Fetcher thread only, like everything below.
  struct UpstreamState {
    std::string url;         // scheme://host/base_path (+ TLS mode): another URL, another list
    std::string credential;  // a new one is worth a fetch, the list stays meanwhile
    std::uint64_t generation = 0;                     // a result of an older generation is dropped
    std::shared_ptr<const ReportedModelList> models;  // last good list, or null
    Clock::time_point last_attempt = Clock::time_point::min();
    std::string last_outcome;  // metric outcome of the last fetch; "" before the first
    bool queued = false;
    bool in_flight = false;
  };

  CatalogConstSharedPtr onConfig(config::CompiledConfigConstSharedPtr config);
  void enqueue(const std::string& name, UpstreamState& state);
  void pump();
  boost::asio::awaitable<void> fetch(std::string name, std::uint64_t generation,
                                     probe::HttpGetRequest request);
  void finish(const std::string& name, std::uint64_t generation,
              const probe::HttpGetResult& result);
  Clock::time_point dueAt(const UpstreamState& state) const;
  void armTimer();
  void onTimer();
  void scheduleRebuild();
  CatalogConstSharedPtr rebuild();

  Options options_;
  metrics::Metrics& metrics_;
  PublishFn publish_;
  probe::TlsClientContexts& tls_;

  config::CompiledConfigConstSharedPtr config_;
  std::map<std::string, UpstreamState> upstreams_;  // by upstream name
  std::deque<std::string> queue_;                   // upstream names waiting for a fetch slot
  std::size_t in_flight_ = 0;
  std::uint64_t next_generation_ = 0;
  std::uint64_t sequence_ = 0;
  bool rebuild_pending_ = false;
  // When each listed model was first seen, for those no upstream gave a `created` time: stable
  // while the process runs.
  std::unordered_map<std::string, std::int64_t> first_seen_;

  std::atomic<bool> running_{false};
  std::thread thread_;
  // Declared last: destroyed first, with the coroutines of abandoned fetches, while the state
  // and TLS contexts they refer to still exist.
  boost::asio::io_context ioc_{1};
  boost::asio::steady_timer timer_{ioc_};
};

}  // namespace fwd::dataplane::models
