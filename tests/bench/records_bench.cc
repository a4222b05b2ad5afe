// fwd_records_bench: what `fwdctl usage` and `fwdctl logs` cost over a large records database
// (issue 17: usage over 1,000,000 records in under a second). Writes N records (default
// 1,000,000) spread over 60 days, 50 keys, 8 models and 4 upstreams into a fresh records
// directory in batches of 1,000, as data planes push them, then times each query shape the
// CLI sends. Prints one JSON object. Run on demand: fwd_records_bench [--records N] [--dir DIR]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "controlplane/records/record_store.h"

namespace {

using fwd::controlplane::records::GroupBy;
using fwd::controlplane::records::Query;
using fwd::controlplane::records::RecordStore;
using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  long n = 1'000'000;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--records") {
      n = std::atol(argv[i + 1]);
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: fwd_records_bench [--records N] [--dir DIR]\n");
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char pattern[] = "/tmp/fwd-records-bench-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = pattern;
  }
  auto store = RecordStore::open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  // 2026-10-07 .. 2026-12-05: two months and a bit, so queries span three files.
  const std::int64_t end_ms = 1'796'428'800'000;
  const std::int64_t span_ms = 60LL * 86'400'000;
  std::mt19937_64 rng(42);
  auto t0 = Clock::now();
  std::vector<fwd::v1::Record> batch;
  for (long i = 0; i < n; ++i) {
    fwd::v1::Record& r = batch.emplace_back();
    std::int64_t ms = end_ms - span_ms + static_cast<std::int64_t>(rng() % span_ms);
    r.set_id("bench-" + std::to_string(i));
    r.mutable_time()->set_seconds(ms / 1000);
    r.set_key_name("key-" + std::to_string(rng() % 50));
    r.set_model("model-" + std::to_string(rng() % 8));
    r.set_upstream("upstream-" + std::to_string(rng() % 4));
    r.set_status(rng() % 50 == 0 ? 502 : 200);
    r.set_prompt_tokens(rng() % 2000);
    r.set_completion_tokens(rng() % 500);
    r.set_cost_nano_usd(rng() % 10'000'000);
    r.set_priced(true);
    r.set_path("/v1/chat/completions");
    r.set_latency_us(rng() % 2'000'000);
    if (batch.size() == 1000 || i + 1 == n) {
      if (auto s = (*store)->write(batch); !s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
        return 1;
      }
      batch.clear();
    }
  }
  const double write_ms = msSince(t0);

  auto timed = [&](auto&& f) {
    auto t = Clock::now();
    f();
    return msSince(t);
  };
  Query all;
  Query last_day;
  last_day.from_ms = end_ms - 86'400'000;
  Query one_key;
  one_key.key = "key-7";
  Query errors;
  errors.status_class = 5;
  errors.limit = 50;
  double total = timed([&] { (void)(*store)->usage(all, GroupBy::kNone); });
  double by_model = timed([&] { (void)(*store)->usage(all, GroupBy::kModel); });
  double by_day = timed([&] { (void)(*store)->usage(all, GroupBy::kDay); });
  double by_key_day = timed([&] { (void)(*store)->usage(last_day, GroupBy::kKey); });
  double key_total = timed([&] { (void)(*store)->usage(one_key, GroupBy::kDay); });
  double logs = timed([&] { (void)(*store)->recent(errors); });
  std::uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    bytes += e.is_regular_file() ? e.file_size() : 0;
  }
  std::printf(
      "{\"records\":%ld,\"write_ms\":%.0f,\"write_per_s\":%.0f,\"db_mb\":%.1f,"
      "\"usage_total_ms\":%.1f,\"usage_by_model_ms\":%.1f,\"usage_by_day_ms\":%.1f,"
      "\"usage_last_day_by_key_ms\":%.1f,\"usage_one_key_by_day_ms\":%.1f,"
      "\"logs_5xx_50_ms\":%.1f}\n",
      n, write_ms, n / (write_ms / 1000), bytes / 1e6, total, by_model, by_day, by_key_day,
      key_total, logs);
  if (own_dir) {
    std::filesystem::remove_all(dir);
  }
  return 0;
}
