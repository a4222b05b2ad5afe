#include "dataplane/metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

namespace fwd::dataplane::metrics {
namespace {

std::string exposition(const Metrics& m) {
  return prometheus::TextSerializer().Serialize(m.Collect());
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(MetricsTest, ShardsAreSummedInTheExposition) {
  // Increments from different workers appear as one series with the total.
  Metrics m(2);
  m.requests.cell(0, {"default", "gpt-4o", "a", "200"}).add();
  m.requests.cell(1, {"default", "gpt-4o", "a", "200"}).add(2);
  m.requests.cell(1, {"default", "gpt-4o", "b", "502"}).add();
  m.in_flight.cell(0, {}).add(3);
  m.in_flight.cell(1, {}).add(-1);
  m.config_version.Set(9);
  std::string text = exposition(m);
  EXPECT_TRUE(contains(text, "# TYPE fwd_requests_total counter")) << text;
  EXPECT_TRUE(contains(
      text, R"(fwd_requests_total{route="default",model="gpt-4o",upstream="a",status="200"} 3)"))
      << text;
  EXPECT_TRUE(contains(
      text, R"(fwd_requests_total{route="default",model="gpt-4o",upstream="b",status="502"} 1)"));
  EXPECT_TRUE(contains(text, "fwd_requests_in_flight 2"));
  EXPECT_TRUE(contains(text, "fwd_config_version 9"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAcrossShards) {
  // Prometheus buckets count everything at or below their bound, summed over workers.
  Metrics m(2);
  m.request_duration.cell(0, {"default", "a"}).observe(0.0005);
  m.request_duration.cell(1, {"default", "a"}).observe(0.003);
  m.request_duration.cell(1, {"default", "a"}).observe(400);
  std::string text = exposition(m);
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="0.001"} 1)"))
      << text;
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="0.005"} 2)"));
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="300"} 2)"));
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="+Inf"} 3)"));
  EXPECT_TRUE(
      contains(text, R"(fwd_request_duration_seconds_count{route="default",upstream="a"} 3)"));
}

TEST(MetricsTest, ScrapingWhileWorkersCountLosesNothing) {
  // Concurrent increments on two shards plus scrapes end in the exact total.
  Metrics m(2);
  constexpr int kPerWorker = 20000;
  auto work = [&](size_t shard) {
    for (int i = 0; i < kPerWorker; ++i) {
      // New label sets keep appearing, exercising insert-while-scraping.
      m.requests.cell(shard, {"r", "m" + std::to_string(i % 50), "u", "200"}).add();
    }
  };
  std::thread a(work, 0);
  std::thread b(work, 1);
  for (int i = 0; i < 20; ++i) {
    exposition(m);
  }
  a.join();
  b.join();
  double total = 0;
  for (const auto& family : m.Collect()) {
    if (family.name == "fwd_requests_total") {
      for (const auto& metric : family.metric) {
        total += metric.counter.value;
      }
    }
  }
  EXPECT_EQ(total, 2.0 * kPerWorker);
}

TEST(MetricsTest, EveryMetricTheGrafanaDashboardQueriesExists) {
  // deploy/grafana/fwd-dashboard.json only uses metric names the data plane exports (histogram
  // series by their _bucket/_sum/_count names), so a renamed metric breaks this test, not the
  // operators' dashboard.
  std::ifstream in(std::string(FWD_SOURCE_DIR) + "/deploy/grafana/fwd-dashboard.json");
  ASSERT_TRUE(in) << "dashboard file missing";
  auto dashboard = nlohmann::json::parse(in);
  Metrics m(1);
  std::set<std::string> exported;
  for (const auto& family : m.Collect()) {
    exported.insert(family.name);
    if (family.type == prometheus::MetricType::Histogram) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        exported.insert(family.name + suffix);
      }
    }
  }
  std::vector<std::string> queries;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      queries.push_back(target["expr"]);
    }
  }
  for (const auto& var : dashboard["templating"]["list"]) {
    if (var.contains("query") && var["query"].is_string()) {
      queries.push_back(var["query"]);
    }
  }
  ASSERT_GE(queries.size(), 10u);
  std::regex name(R"(fwd_[a-z_]+)");
  size_t checked = 0;
  for (const auto& q : queries) {
    for (std::sregex_iterator it(q.begin(), q.end(), name), end; it != end; ++it) {
      EXPECT_EQ(exported.count(it->str()), 1u) << it->str() << " in: " << q;
      ++checked;
    }
  }
  EXPECT_GE(checked, 15u);
}

}  // namespace
}  // namespace fwd::dataplane::metrics
