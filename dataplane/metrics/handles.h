// One worker's handles to its metric cells for one snapshot, so the request path does not build
// and hash a label set per request (../shared/DESIGN.md §7). The per-upstream cells are found on
// first use and kept by the upstream's index in the snapshot; the families whose labels vary per
// request (route, model, upstream, status) go through a small memo keyed by the identity of the
// label strings, which live as long as the snapshot (route and upstream names) or the worker
// (model labels, pipeline/finish.h). Built when the snapshot is published to the worker and
// used by that worker only; a cell found once is never looked up again for this snapshot.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "dataplane/metrics/metrics.h"

namespace fwd::dataplane::metrics {

class WorkerHandles {
 public:
  /// Unusable until assigned one built with the constructor below.
  WorkerHandles() = default;
  /// `upstreams`: how many upstreams the snapshot has (indexes 0..upstreams-1).
  WorkerHandles(Metrics& metrics, size_t shard, size_t upstreams)
      : metrics_(&metrics), shard_(shard), upstreams_(upstreams) {}

  // The upstream at `index` of the snapshot, named `name`.
  SingleWriterGauge& upstreamInFlight(size_t index, std::string_view name);
  SingleWriterHistogram& upstreamDuration(size_t index, std::string_view name);
  SingleWriterHistogram& streamTtfb(size_t index, std::string_view name);
  SingleWriterCounter& streamedEvents(size_t index, std::string_view name);
  SingleWriterCounter& upstreamRetries(size_t index, std::string_view name);
  /// Outcome "ok" is kept; another one is looked up by its labels.
  SingleWriterCounter& upstreamAttempts(size_t index, std::string_view name,
                                        std::string_view outcome);

  /// fwd_requests_total and fwd_request_duration_seconds. The views must stay where they are
  /// for as long as this snapshot is in force (names from the snapshot, literals, model labels).
  SingleWriterCounter& requests(std::string_view route, std::string_view model,
                                std::string_view upstream, int status);
  SingleWriterHistogram& requestDuration(std::string_view route, std::string_view upstream);

  /// fwd_tokens_total, fwd_cost_usd_total and fwd_usage_estimated_requests_total of a model
  /// label and an upstream, and of a key's name when the families have a key label (views that
  /// stay put as above; `key` is ignored otherwise).
  struct UsageCells {
    SingleWriterCounter* prompt = nullptr;
    SingleWriterCounter* completion = nullptr;
    SingleWriterCounter* cached = nullptr;
    SingleWriterCounter* reasoning = nullptr;
    SingleWriterCounter* cost_nano_usd = nullptr;
    SingleWriterCounter* estimated = nullptr;
  };
  UsageCells& usage(std::string_view model, std::string_view upstream, std::string_view key = {});

 private:
  struct Upstream {
    SingleWriterGauge* in_flight = nullptr;
    SingleWriterHistogram* duration = nullptr;
    SingleWriterHistogram* stream_ttfb = nullptr;
    SingleWriterCounter* streamed_events = nullptr;
    SingleWriterCounter* retries = nullptr;
    SingleWriterCounter* attempts_ok = nullptr;
  };
  struct RequestKey {
    const char* route = nullptr;
    const char* model = nullptr;
    const char* upstream = nullptr;
    int status = -1;
    bool operator==(const RequestKey&) const = default;
  };
  struct RequestSlot {
    RequestKey key;
    SingleWriterCounter* requests = nullptr;
    SingleWriterHistogram* duration = nullptr;
  };
  static constexpr size_t kSlots = 64;  // a power of two

  Upstream& upstream(size_t index);
  /// `*handle`, looked up by `labels` in `family` the first time.
  template <typename Cell, typename... Labels>
  Cell& kept(Cell*& handle, ShardedFamily<Cell>& family, Labels... labels);
  RequestSlot& slot(const RequestKey& key);

  Metrics* metrics_ = nullptr;
  size_t shard_ = 0;
  size_t upstreams_ = 0;
  std::vector<Upstream> by_upstream_;  // sized on first use
  std::array<RequestSlot, kSlots> requests_{};
  std::array<RequestSlot, kSlots> durations_{};
  struct UsageSlot {
    const char* model = nullptr;
    const char* upstream = nullptr;
    const char* key = nullptr;
    UsageCells cells;
  };
  std::array<UsageSlot, kSlots> usage_{};
};

}  // namespace fwd::dataplane::metrics
