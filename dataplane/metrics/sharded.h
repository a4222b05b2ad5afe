// Metric families whose cells are sharded per worker: a worker increments its own cells with
// relaxed loads/stores (one writer per cell, no lock, no atomic read-modify-write), and a
// scrape sums the shards. prometheus-cpp serializes the result (see metrics.h).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fwd::dataplane::metrics {

/// A value written by one thread and read by the scraper.
class SingleWriterCounter {
 public:
  void add(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class SingleWriterGauge {
 public:
  void add(std::int64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

class SingleWriterHistogram {
 public:
  explicit SingleWriterHistogram(const std::vector<double>* bounds);
  void observe(double value);

  const std::vector<double>& bounds() const { return *bounds_; }
  /// Per-bucket (not cumulative) counts; the last one is +Inf.
  std::uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

/// One labelled family sharded by worker. Cells are created on first use of a label set
/// (the only time a lock is taken) and live as long as the family.
template <typename Cell>
class ShardedFamily {
 public:
  ShardedFamily(std::string name, std::string help, prometheus::MetricType type,
                std::vector<std::string> label_names, size_t shards,
                const std::vector<double>* bounds = nullptr);
  /// A counter family whose cells count in units of `scale` (1e-9: nano-dollars exposed as
  /// dollars).
  ShardedFamily(std::string name, std::string help, std::vector<std::string> label_names,
                size_t shards, double scale)
      : ShardedFamily(std::move(name), std::move(help), prometheus::MetricType::Counter,
                      std::move(label_names), shards) {
    scale_ = scale;
  }

  /// Worker `shard` only. `label_values` must match label_names in number.
  Cell& cell(size_t shard, std::initializer_list<std::string_view> label_values);

  /// Any thread: sums the shards into one family.
  prometheus::MetricFamily collect() const;

 private:
  struct Shard {
    // Guards the map's structure: inserts (by the owning worker) against iteration (by the
    // scraper). The owning worker's lookups need no lock: it is the only writer.
    mutable std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<Cell>> cells;
    std::string scratch;  // owning worker only: the lookup key, reused to avoid allocating
  };

  std::string name_;
  std::string help_;
  prometheus::MetricType type_;
  std::vector<std::string> label_names_;
  const std::vector<double>* bounds_;
  double scale_ = 1;
  std::vector<std::unique_ptr<Shard>> shards_;
};

using CounterFamily = ShardedFamily<SingleWriterCounter>;
using GaugeFamily = ShardedFamily<SingleWriterGauge>;
using HistogramFamily = ShardedFamily<SingleWriterHistogram>;

}  // namespace fwd::dataplane::metrics
